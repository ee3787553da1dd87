/* Inside the sign-up iframe: tell the page that frames it how tall the form is (templates/embed/loader.js). */
(function () {
  "use strict";
  if (window.parent === window) return;
  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    window.parent.postMessage({ type: "newsletter-signup:height", height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
  window.addEventListener("load", report);
  report();
})();
