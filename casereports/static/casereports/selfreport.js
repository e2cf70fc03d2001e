/* Patient pages: a "Print this page" button, shown only when script runs (printing from the
 * browser's menu works without it). */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
