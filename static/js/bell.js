// The bell: shows the unread count; the thread page's poll also feeds it.
(function () {
  "use strict";
  var badge = document.getElementById("bell-count");
  var bell = document.getElementById("bell");
  if (!badge || !bell) return;

  function setBell(n) {
    n = Number(n) || 0;
    badge.textContent = String(n);
    badge.dataset.count = String(n);
    badge.classList.toggle("hidden", n === 0);
    bell.setAttribute("aria-label", "Notifications: " + n + " unread");
  }
  window.expertlineSetBell = setBell;
  window.expertlineBellCount = function () { return Number(badge.dataset.count) || 0; };

  // Pages with a thread poll faster and carry the count themselves.
  if (document.getElementById("thread-page")) return;
  function poll() {
    if (document.hidden) return;
    fetch("/notifications/count/", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) setBell(data.unread); })
      .catch(function () {});
  }
  setInterval(poll, 10000);
})();
