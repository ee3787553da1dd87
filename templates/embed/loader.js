/* Optional loader for the sign-up iframe: lets the frame set its own height (postMessage). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src).origin;
  addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== origin || !data || data.type !== "newsletter-signup:height") return;
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow !== event.source) continue;
      frames[i].style.border = "0";
      frames[i].style.height = Math.ceil(+data.height || 0) + "px";
    }
  });
})();
