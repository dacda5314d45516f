// Small behaviours for every page. The Content-Security-Policy forbids inline handlers, so markup
// asks for behaviour with data- attributes and this file wires them up.
(function () {
  "use strict";

  // <select data-autosubmit>: submit its form when the choice changes (a <noscript> button covers no-JS).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit();
    }
  });
})();
