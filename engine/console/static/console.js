// Arbiter console: times in UTC or local time, copy buttons, and
// confirmation of destructive forms. Everything else is the server's.
(function () {
  "use strict";
  var KEY = "arbiter.time";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";

  function local() {
    try { return localStorage.getItem(KEY) === "local"; } catch (e) { return false; }
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmt(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone;
  }
  function render(root) {
    var on = local();
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (!t.dataset.utc) { t.dataset.utc = t.textContent; }
      var d = new Date(t.getAttribute("datetime"));
      t.textContent = on ? fmt(d) : t.dataset.utc;
      t.title = on ? t.dataset.utc : fmt(d);
    });
    document.querySelectorAll("[data-tz-toggle]").forEach(function (b) {
      b.textContent = on ? "Local time" : "UTC";
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  document.addEventListener("click", function (e) {
    var tz = e.target.closest("[data-tz-toggle]");
    if (tz) {
      try { localStorage.setItem(KEY, local() ? "utc" : "local"); } catch (err) { /* private mode: stays UTC */ }
      render(document);
      return;
    }
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var text = document.getElementById(copy.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(function () {
        copy.textContent = "Copied";
      }, function () {
        copy.textContent = "Select and copy it";
      });
    }
  });
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });
  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSettle", function (e) { render(e.target); });
})();
