(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#reqs tr.req"));
  var outcome = document.getElementById("f-outcome"), operation = document.getElementById("f-operation");
  var level = document.getElementById("f-level"), search = document.getElementById("f-search");
  var count = document.getElementById("f-count");
  function apply() {
    var q = search.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (tr) {
      var ok = (!outcome.value || tr.dataset.outcome === outcome.value) &&
               (!operation.value || tr.dataset.operation === operation.value) &&
               (!level.value || tr.dataset.level === level.value) &&
               (!q || tr.textContent.toLowerCase().indexOf(q) !== -1);
      tr.classList.toggle("hidden", !ok);
      if (ok) { shown++; }
    });
    count.textContent = shown + " of " + rows.length + " requirements";
  }
  [outcome, operation, level].forEach(function (el) { el.addEventListener("change", apply); });
  search.addEventListener("input", apply);
  apply();
})();
