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

  // data-show-when="mode=journal": the field's block shows only while the form's `mode` is `journal`
  // (options that apply to one mode). Without JavaScript every field stays visible.
  function currentValue(form, name) {
    var checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
    if (checked) return checked.value;
    var field = form.elements.namedItem(name);
    return field && "value" in field ? field.value : "";
  }

  function applyConditions(root) {
    root.querySelectorAll("[data-show-when]").forEach(function (input) {
      var rule = input.getAttribute("data-show-when").split("=");
      var block = input.closest(".field") || input;
      if (input.form) block.hidden = currentValue(input.form, rule[0]) !== rule[1];
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.form) applyConditions(event.target.form);
  });
  document.addEventListener("DOMContentLoaded", function () { applyConditions(document); });
  document.addEventListener("htmx:afterSettle", function () { applyConditions(document); });
})();
