// In-browser calls and screen shares on the question page (WebRTC).
//
// Signalling goes through our server by short polling: each side numbers its own
// messages (seq); an outbox posts them in order and retries a failed post with the
// same numbers (the server stores each number once); the poll asks for the other
// side's messages after the last number seen and drops any it has already handled.
// The customer makes the offer; the expert answers. A side that (re)joins says
// "hello" (the server posts it on join); the customer answers a hello with a fresh
// offer, so a reload reconnects.
// The live call sits in #call-stage, outside the panel, which the page's own poll
// re-renders.
// Posts and polls carry the call token that join (and every signalling answer) hands out,
// in X-Call-Token: the server answers them without loading the session
// (premium/call_fastpath.py). A refused token (expired while the page slept) is dropped
// and the request goes again the ordinary way, with the session and CSRF, whose answer
// brings a fresh token. Join itself uses the join token the panel rendered, when it is
// still good (see joinCall).
(function () {
  "use strict";
  if (window.expertlineCallLoaded) return;
  window.expertlineCallLoaded = true;

  var SETUP_POLL_MS = 100; // while setting up: messages are few, answers must be quick (~1 ms of server each)
  var LIVE_POLL_MS = 2000; // once connected: a heartbeat, and the other side's hang-up
  var ICE_GATHER_MS = 60; // candidates come in bursts: one post for a burst, not one each
  var call = null; // the one call of this page

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body, token, joinToken) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers["X-Call-Token"] = token; else headers["X-CSRFToken"] = csrf();
    if (joinToken) headers["X-Join-Token"] = joinToken; // the server's fast path for join
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.detail || "The server said no (" + r.status + ")."); e.status = r.status; e.code = data.error; throw e; }
        return data;
      });
    });
  }

  // A signalling post or poll: by the call token when there is one; a refused token is
  // dropped and the same request goes again with the session (nothing was stored).
  function signalling(send) {
    var token = call.token;
    return send(token).catch(function (err) {
      if (!token || err.code !== "call_token") throw err;
      if (call.token === token) call.token = "";
      return send("");
    }).then(function (data) {
      if (data && data.call_token) call.token = data.call_token;
      return data;
    });
  }

  // What the browser reports about its call (logged; `connected` starts the call's clock).
  function report(body) {
    var url = call.urls.event;
    signalling(function (token) { return post(url, body, token); }).catch(function () {});
  }

  function getJson(url, token) {
    var headers = { Accept: "application/json" };
    if (token) headers["X-Call-Token"] = token;
    return fetch(url, { credentials: "same-origin", headers: headers }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.detail || "The server said no (" + r.status + ")."); e.status = r.status; e.code = data.error; e.data = data; throw e; }
        return data;
      });
    });
  }

  function withTimeout(promise, ms, what) {
    return Promise.race([promise, new Promise(function (_, reject) {
      setTimeout(function () { reject(new Error(what + " did not answer in time.")); }, ms);
    })]);
  }

  // --- The stage (outside the re-rendered panel) ----------------------------------------

  function stage() {
    var el = document.getElementById("call-stage");
    if (el) return el;
    el = document.createElement("section");
    el.id = "call-stage";
    el.className = "card call-stage";
    el.setAttribute("aria-label", "Call");
    el.innerHTML =
      '<p class="call-state" id="call-state" role="status" data-state="new">Starting…</p>' +
      '<p class="call-timer" id="call-timer"></p>' +
      // Sizes as attributes: the page's policy allows no inline style.
      '<video id="call-remote" autoplay playsinline width="480"></video>' +
      '<video id="call-local" autoplay playsinline muted width="160"></video>' +
      '<audio id="call-remote-audio" autoplay></audio>' +
      '<button type="button" class="button secondary" id="call-hang-up">Hang up</button>';
    var box = document.getElementById("panel-calls") || document.getElementById("calls");
    box.parentNode.insertBefore(el, box.nextSibling);
    el.querySelector("#call-hang-up").addEventListener("click", function () {
      hangUp(call && call.kind === "screen_share" && call.role === "customer" ? "stopped_sharing" : "hung_up");
    });
    return el;
  }

  function say(text, state) {
    var el = document.getElementById("call-state");
    if (!el) return;
    el.textContent = text;
    if (state) el.dataset.state = state;
  }

  function showError(offerEl, text) {
    var box = offerEl && offerEl.querySelector(".call-error");
    if (box) box.textContent = text; else say(text, "error");
  }

  // --- Signalling ----------------------------------------------------------------------

  function send(kind, payload) {
    call.outbox.push({ seq: call.nextSeq++, kind: kind, payload: payload || {} });
    if (kind !== "ice") { flush(); return; }
    // A candidate waits a moment for the rest of its burst (an offer or answer goes at once).
    if (!call.gatherTimer) call.gatherTimer = setTimeout(function () { call.gatherTimer = null; flush(); }, ICE_GATHER_MS);
  }

  function flush() {
    if (!call || call.sending || !call.outbox.length || call.ended) return;
    call.sending = true;
    var batch = call.outbox.slice(0, 50);
    // The answer also brings the other side's news since the last seen: a poll for free.
    signalling(function (token) { return post(call.urls.signal, { messages: batch, after: call.lastSeen }, token); })
      .then(function (data) {
        call.outbox.splice(0, batch.length);
        call.sending = false;
        receive(data.messages);
        flush();
      })
      .catch(function () {
        call.sending = false;
        setTimeout(flush, 500); // the same numbers again: stored once
      });
  }

  // Messages from a poll or a post's answer, each handled once and in order, one after
  // the other (a handler may wait on the browser's WebRTC calls).
  function receive(messages) {
    (messages || []).forEach(function (m) {
      if (m.seq <= call.lastSeen) return; // seen already (at-least-once delivery)
      call.lastSeen = m.seq;
      call.chain = call.chain.then(function () { return handle(m); }).catch(function () {});
    });
    return call.chain;
  }

  function schedulePoll() {
    if (!call || call.ended) return;
    clearTimeout(call.pollTimer);
    call.pollTimer = setTimeout(poll, call.connected ? LIVE_POLL_MS : SETUP_POLL_MS);
  }

  function poll() {
    if (!call || call.ended) return;
    var url = call.urls.poll + "?after=" + call.lastSeen;
    signalling(function (token) { return getJson(url, token); })
      .then(function (data) { return { ok: true, data: data }; }, function (err) { return { ok: false, data: err.data }; })
      .then(function (res) {
        if (!res.ok) { if (res.data && res.data.error === "not_found") return finish("You are no longer on this call."); return; }
        return receive(res.data.messages).then(function () {
          if (res.data.session && res.data.session.status === "ended") finish("The call has ended.");
        });
      })
      .catch(function () {})
      .then(schedulePoll);
  }

  // Each offer has a generation number (gen) that its answer and every ICE candidate
  // carry: after a reconnect, messages of an older offer are dropped, never mixed in.
  function handle(m) {
    var p = m.payload || {};
    if (m.kind === "hello") return call.role === "customer" ? makeOffer() : null;
    if (m.kind === "offer" && call.role === "expert") return answer(p);
    if (m.kind === "answer" && call.role === "customer") {
      if (p.gen !== call.gen || !call.pc || call.pc.signalingState !== "have-local-offer") return null;
      return call.pc.setRemoteDescription({ type: p.type, sdp: p.sdp }).then(drainIce);
    }
    if (m.kind === "ice") {
      if (p.gen !== call.gen) return null; // of an older offer
      if (call.pc && call.pc.remoteDescription) return call.pc.addIceCandidate(p.c).catch(function () {});
      call.pendingIce.push(p.c); // before the remote description: keep it for later
      return null;
    }
    if (m.kind === "bye") return finish(p.reason === "stopped_sharing" ? "The customer stopped sharing their screen." : "The other side hung up.");
    return null;
  }

  function drainIce() {
    var queued = call.pendingIce.splice(0);
    return Promise.all(queued.map(function (c) { return call.pc.addIceCandidate(c).catch(function () {}); }));
  }

  // --- WebRTC --------------------------------------------------------------------------

  function newPeer() {
    if (call.pc) { try { call.pc.close(); } catch (e) { /* already closed */ } }
    call.pendingIce = [];
    var pc = new RTCPeerConnection({ iceServers: call.iceServers });
    call.pc = pc;
    window.expertlineCall.pc = pc;
    var gen = call.gen;
    pc.onicecandidate = function (e) { if (e.candidate && call.pc === pc) send("ice", { gen: gen, c: e.candidate.toJSON() }); };
    pc.ontrack = function (e) {
      var stream = e.streams[0] || new MediaStream([e.track]);
      if (e.track.kind === "video") document.getElementById("call-remote").srcObject = stream;
      else document.getElementById("call-remote-audio").srcObject = stream;
    };
    pc.onconnectionstatechange = function () {
      if (call.pc !== pc) return;
      var state = pc.connectionState;
      say({ connecting: "Connecting…", connected: "Connected", disconnected: "Connection interrupted…", failed: "The connection failed.", closed: "Closed" }[state] || state, state);
      if (state === "connected") {
        call.connected = true;
        if (!call.connectedAt) call.connectedAt = Date.now();
        report({ kind: "connected" });
      } else if (state === "failed" || state === "disconnected") {
        report({ kind: state });
      }
    };
    call.stream.getTracks().forEach(function (t) { pc.addTrack(t, call.stream); });
    return pc;
  }

  function makeOffer() {
    call.gen += 1;
    var gen = call.gen;
    var pc = newPeer();
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer).then(function () {
        send("offer", { gen: gen, type: offer.type, sdp: offer.sdp });
      });
    });
  }

  function answer(p) {
    call.gen = p.gen;
    var pc = newPeer(); // a new offer (the customer reconnected) starts afresh
    // Remote description, then our tracks (added by newPeer before it), then the answer.
    return pc.setRemoteDescription({ type: p.type, sdp: p.sdp })
      .then(drainIce)
      .then(function () { return pc.createAnswer(); })
      .then(function (ans) {
        return pc.setLocalDescription(ans).then(function () { send("answer", { gen: p.gen, type: ans.type, sdp: ans.sdp }); });
      });
  }

  function media(kind, role) {
    var md = navigator.mediaDevices;
    if (!md) return Promise.reject(new Error("This browser cannot make calls here (it needs a secure page)."));
    var voice = md.getUserMedia({ audio: true, video: kind === "video" });
    if (kind !== "screen_share" || role !== "customer") return voice;
    var screen = withTimeout(md.getDisplayMedia({ video: true, audio: false }), 30000, "Screen sharing");
    return Promise.all([voice, screen]).then(function (both) {
      var stream = new MediaStream(both[0].getTracks().concat(both[1].getVideoTracks()));
      // The browser's own "Stop sharing" ends the session, as the button does.
      both[1].getVideoTracks()[0].addEventListener("ended", function () { hangUp("stopped_sharing"); });
      return stream;
    });
  }

  // --- Join, hang up ---------------------------------------------------------------------

  function join(offerEl) {
    if (call && !call.ended) return;
    var d = offerEl.dataset;
    var consent = false;
    if (d.kind === "screen_share" && d.role === "customer") {
      var box = offerEl.querySelector(".call-consent-box");
      if (!box || !box.checked) { showError(offerEl, "Tick the box to agree to share your screen first."); return; }
      consent = true;
    }
    showError(offerEl, "");
    call = {
      offerId: d.offer, kind: d.kind, role: d.role, ended: false, connected: false,
      urls: { token: d.tokenUrl, join: d.joinUrl, signal: d.signalUrl, poll: d.pollUrl, event: d.eventUrl, hangUp: d.hangUpUrl },
      outbox: [], sending: false, gatherTimer: null, token: "", nextSeq: 1, lastSeen: 0, gen: 0, pendingIce: [], pc: null, stream: null, chain: Promise.resolve()
    };
    window.expertlineCall = { pc: null, call: call };
    stage();
    say("Starting…", "new");
    var hangUpButton = document.getElementById("call-hang-up");
    hangUpButton.textContent = d.kind === "screen_share" && d.role === "customer" ? "Stop sharing" : "Hang up";
    hangUpButton.hidden = false;
    // Focus leaves the panel, so the page's poll may refresh it (it keeps a focused panel).
    hangUpButton.focus();
    // A voice call shows no video; a screen share shows the screen to the expert only.
    document.getElementById("call-remote").hidden = d.kind === "call" || (d.kind === "screen_share" && d.role === "customer");
    document.getElementById("call-local").hidden = false;
    var panel = document.getElementById("calls");
    call.iceServers = JSON.parse((panel && panel.dataset.iceServers) || "[]");
    // Media first: a refused microphone or screen should not leave a half-joined session.
    media(d.kind, d.role)
      .then(function (stream) {
        call.stream = stream;
        var local = document.getElementById("call-local");
        if (stream.getVideoTracks().length) local.srcObject = stream; else local.hidden = true;
        return joinCall(offerEl, consent);
      })
      .then(function (j) {
        call.nextSeq = j.next_seq;
        call.token = j.call_token || "";
        call.lastSeen = j.peer_after; // what came before this join is stale
        if (j.ice_servers) call.iceServers = j.ice_servers;
        say(j.peer_present ? "Connecting…" : "Waiting for the other side to join…", "waiting");
        if (d.kind === "screen_share" && d.role === "customer") report({ kind: "share_started" });
        if (call.role === "customer" && j.peer_present) makeOffer();
        schedulePoll();
        tick();
      })
      .catch(function (err) {
        cleanUp();
        call.ended = true;
        showError(offerEl, err.message || "The call could not start.");
        say(err.message || "The call could not start.", "error");
      });
  }

  // Join with the single-use token the panel rendered (one request: the server's fast path
  // takes it in X-Join-Token); when it is refused (spent already, expired while the page sat
  // open, another session) or there is none, ask for a fresh one and join with that.
  function joinCall(offerEl, consent) {
    var rendered = offerEl.dataset.joinToken || "";
    offerEl.dataset.joinToken = ""; // single-use: a second join asks for a new one
    function fresh() {
      return post(call.urls.token).then(function (t) { return post(call.urls.join, { token: t.token, consent: consent }); });
    }
    if (!rendered) return fresh();
    return post(call.urls.join, { token: rendered, consent: consent }, "", rendered).catch(function (err) {
      if (err.status !== 403) throw err;
      return fresh();
    });
  }

  function tick() {
    if (!call || call.ended) return;
    var el = document.getElementById("call-timer");
    if (el && call.connectedAt) {
      var s = Math.floor((Date.now() - call.connectedAt) / 1000);
      el.textContent = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
    }
    setTimeout(tick, 1000);
  }

  function cleanUp() {
    if (!call) return;
    clearTimeout(call.pollTimer);
    if (call.pc) { try { call.pc.close(); } catch (e) { /* closed */ } }
    if (call.stream) call.stream.getTracks().forEach(function (t) { t.stop(); });
  }

  function finish(text) {
    if (!call || call.ended) return;
    call.ended = true;
    cleanUp();
    say(text, "ended");
    var b = document.getElementById("call-hang-up");
    if (b) b.hidden = true;
  }

  function hangUp(reason) {
    if (!call || call.ended) return;
    var urls = call.urls;
    finish(reason === "stopped_sharing" ? "You stopped sharing your screen." : "You hung up.");
    signalling(function (token) { return post(urls.hangUp, { reason: reason }, token); })
      .catch(function () { /* the sweep closes it */ });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("[data-call-action=join]") : null;
    if (!button) return;
    e.preventDefault();
    join(button.closest(".call-offer"));
  });
})();
