// Live progress of a digest being sent: poll the counts until every mail was attempted.
// Without JavaScript the page refreshes itself instead (a <noscript> meta refresh).
(function () {
  "use strict";
  var panel = document.querySelector("[data-progress-url]");
  if (!panel || panel.dataset.done === "true") return;
  var bar = panel.querySelector("progress");
  var state = panel.querySelector(".progress-state");

  function show(counts) {
    panel.querySelectorAll("[data-count]").forEach(function (element) {
      var value = counts[element.dataset.count];
      if (value !== undefined) element.textContent = value;
    });
    bar.value = counts.percent;
    bar.textContent = counts.percent + " %";
    if (counts.done) {
      panel.dataset.done = "true";
      state.textContent = counts.held > 0 ? state.dataset.stateStopped : state.dataset.stateDone;
      // show the failures with their replies, or why the digest was stopped
      if (counts.failed > 0 || counts.held > 0) window.location.reload();
    }
  }

  function poll() {
    fetch(panel.dataset.progressUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok || !/json/.test(response.headers.get("Content-Type") || "")) {
          throw new Error("no progress (signed out?)");
        }
        return response.json();
      })
      .then(function (counts) {
        show(counts);
        if (!counts.done) window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(function () { window.location.reload(); }, 5000); });
  }

  window.setTimeout(poll, 500);
})();
