/* fibrecert report: filters, search, matrix links, print expansion. No network, no innerHTML:
   every value from the target stays text. The page's CSP admits this script by its hash only. */
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#reqs > article.req"));
  var outcome = document.getElementById("f-outcome"), operation = document.getElementById("f-operation");
  var level = document.getElementById("f-level"), search = document.getElementById("f-search");
  var count = document.getElementById("f-count"), none = document.getElementById("f-none");
  var reset = document.getElementById("f-reset");
  var haystack = null, timer = null;

  function text(row) {  /* what the search box looks in: the row's cells and its observations */
    var parts = [], cells = row.querySelector(".cells").children, obs = row.querySelectorAll(".od");
    for (var c = 0; c < cells.length; c++) { parts.push(cells[c].textContent); }
    for (var i = 0; i < obs.length; i++) { parts.push(obs[i].textContent); }
    return parts.join(" ").replace(/\s+/g, " ").toLowerCase();
  }

  function apply() {
    var q = search.value.trim().toLowerCase(), o = outcome.value, op = operation.value, lv = level.value;
    if (q && haystack === null) { haystack = rows.map(text); }
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var d = rows[i].dataset;
      var ok = (!o || d.outcome === o) && (!op || d.operation === op) && (!lv || d.level === lv) &&
               (!q || haystack[i].indexOf(q) !== -1);
      if (rows[i].classList.contains("filtered-out") === ok) { rows[i].classList.toggle("filtered-out", !ok); }
      if (ok) { shown++; }
    }
    count.textContent = shown + " of " + rows.length + " requirements";
    none.hidden = shown !== 0;
  }

  function choose(select, value) {  /* set a filter only to one of its own options */
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) { select.value = value; return; }
    }
    select.value = "";
  }

  [outcome, operation, level].forEach(function (el) { el.addEventListener("change", apply); });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(apply, rows.length > 2000 ? 150 : 0);
  });
  reset.addEventListener("click", function () {
    outcome.value = operation.value = level.value = search.value = "";
    apply();
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-filter-outcome]") : null;
    if (!a) { return; }
    choose(outcome, a.getAttribute("data-filter-outcome"));
    choose(operation, a.getAttribute("data-filter-operation") || "");
    level.value = search.value = "";
    apply();
  });

  /* Printing shows everything: every row, every piece of evidence expanded. */
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = Array.prototype.filter.call(document.querySelectorAll("details:not([open])"), function (d) {
      d.open = true;
      return true;
    });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });

  apply();
  document.documentElement.setAttribute("data-ready", "1");
  if (window.performance && performance.mark) { performance.mark("fibrecert-ready"); }
})();
