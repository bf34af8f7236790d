// The question page: live thread by short polling, and a composer that never loses text.
(function () {
  "use strict";
  var page = document.getElementById("thread-page");
  if (!page) return;
  var thread = document.getElementById("thread");
  var composer = document.getElementById("composer");
  var statusEl = document.getElementById("question-status");
  var version = Number(page.dataset.version);
  // Signed by the server for this viewer, session and version: lets an unchanged poll
  // be answered without loading the session (see questions/middleware.py).
  var token = page.dataset.pollToken || "";
  var interval = Number(page.dataset.interval) || 1500;
  var inFlight = false;

  function lastId() {
    var items = thread.querySelectorAll("li.msg");
    return items.length ? Number(items[items.length - 1].dataset.id) : 0;
  }

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function append(msg) {
    if (thread.querySelector('li.msg[data-id="' + msg.id + '"]')) return;
    var empty = document.getElementById("thread-empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "msg" + (msg.mine ? " mine" : "");
    li.dataset.id = msg.id;
    var who = document.createElement("p");
    who.className = "who";
    who.textContent = msg.author + " ";
    var time = document.createElement("time");
    time.dateTime = msg.created_at;
    time.textContent = msg.created_display;
    who.appendChild(time);
    var text = document.createElement("div");
    text.className = "text";
    text.innerHTML = msg.html; // rendered and escaped by the server
    li.appendChild(who);
    li.appendChild(text);
    thread.appendChild(li);
  }

  function poll() {
    if (inFlight) return;
    inFlight = true;
    var bell = window.expertlineBellCount ? window.expertlineBellCount() : -1;
    var url = page.dataset.pollUrl + "?v=" + version + "&after=" + lastId() + "&n=" + bell +
      (token ? "&t=" + encodeURIComponent(token) : "");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        var fresh = r.headers.get("X-Poll-Token");
        if (fresh) token = fresh;
        return r.status === 200 ? r.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        if (data.poll_token) token = data.poll_token;
        (data.messages || []).forEach(append);
        if (data.status_display && statusEl) statusEl.textContent = data.status_display;
        var meta = document.getElementById("question-meta");
        if (meta && data.header_html !== undefined) {
          meta.innerHTML = data.header_html;
          statusEl = document.getElementById("question-status");
        }
        Object.keys(data.panels || {}).forEach(function (name) {
          var box = document.getElementById("panel-" + name);
          // Keep a panel the person is typing in; it refreshes on the next change.
          if (box && !box.contains(document.activeElement)) {
            box.innerHTML = data.panels[name];
            document.dispatchEvent(new CustomEvent("expertline:panel", { detail: box }));
          }
        });
        if (window.expertlineSetBell) window.expertlineSetBell(data.unread);
        version = data.version;
      })
      .catch(function () {})
      .then(function () { inFlight = false; });
  }
  setInterval(poll, interval);

  if (composer) {
    var box = composer.querySelector("textarea");
    var error = document.getElementById("composer-error");
    var max = Number(page.dataset.maxChars);
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = box.value;
      error.textContent = "";
      if (!body.trim()) { error.textContent = "The message cannot be empty."; box.focus(); return; }
      if (body.length > max) { error.textContent = "The message is too long: " + body.length + " characters; the limit is " + max + "."; return; }
      var button = composer.querySelector("button[type=submit]");
      button.disabled = true;
      var form = new FormData();
      form.append("body", body);
      fetch(page.dataset.postUrl, {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrf() }
      })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (res) {
          if (res.ok) {
            append(res.data.message);
            box.value = "";
          } else {
            error.textContent = res.data.detail || "The message was not sent. Please try again.";
          }
        })
        .catch(function () { error.textContent = "The message was not sent (connection problem). Your text is kept; try again."; })
        .then(function () { button.disabled = false; box.focus(); });
    });
  }
})();

// "Offer Premium Services" appears on its own when it becomes due.
(function () {
  "use strict";
  // The browser's clock minus the server's, measured from the time the page was rendered
  // at (the panels are cached and carry no clock of their own).
  var page = document.getElementById("thread-page");
  var serverNow = page ? Date.parse(page.dataset.serverNow || "") : NaN;
  var skew = isNaN(serverNow) ? 0 : Date.now() - serverNow;
  function arm(root) {
    var wrap = (root || document).querySelector ? (root || document).querySelector("#offer-form") : null;
    if (!wrap || wrap.dataset.allowed === "1" || !wrap.dataset.dueAt) return;
    var wait = Date.parse(wrap.dataset.dueAt) + skew - Date.now();
    setTimeout(function () {
      var composer = wrap.querySelector(".offer-composer");
      var note = wrap.querySelector(".offer-wait");
      if (composer) composer.hidden = false;
      if (note) note.remove();
      wrap.dataset.allowed = "1";
    }, Math.max(0, wait));
  }
  arm(document);
  document.addEventListener("expertline:panel", function (e) { arm(e.detail); });
})();
