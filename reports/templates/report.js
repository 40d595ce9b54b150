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
  var bodyCut = document.getElementById("reqs").dataset.bodyCut;  /* the evidence body limit, as the page names it */

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

/* Passing evidence is embedded as data (an inert JSON block per requirement) and turned into the same
   request / response view when it is opened, or when the page is printed. Text only, never markup. */
(function () {
  "use strict";
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined) { n.textContent = text; }
    return n;
  }
  function headers(h) {
    var out = "";
    for (var k in h) { if (Object.prototype.hasOwnProperty.call(h, k)) { out += k + ": " + h[k] + "\n"; } }
    return out;
  }
  function requestText(req) {
    return (req.method || "") + " " + (req.url || "") + "\n" + headers(req.headers || {}) + (req.body ? "\n" + req.body : "");
  }
  function responseText(resp) {
    if (resp.error) { return "No complete HTTP answer: " + resp.error + (resp.detail ? " (" + resp.detail + ")" : ""); }
    return "HTTP " + resp.status + "\n" + headers(resp.headers || {}) + (resp.body ? "\n" + resp.body : "");
  }
  function inflate(b64) {  /* deflate-raw + base64, written by html_writer.lazy_evidence */
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    return new Response(stream).text().then(JSON.parse);
  }
  var chunks = {};
  function chunk(n) {
    if (!chunks[n]) {
      var data = document.querySelector('script.ev-data[data-chunk="' + n + '"]');
      chunks[n] = data ? inflate(data.textContent.trim()) : Promise.resolve([]);
    }
    return chunks[n];
  }
  function fill(details) {
    if (details.getAttribute("data-done")) { return Promise.resolve(); }
    details.setAttribute("data-done", "1");
    return chunk(details.getAttribute("data-chunk")).then(function (items) {
      var item = items[Number(details.getAttribute("data-lazy"))];
      if (item) { render(details, item); }
    });
  }
  function render(details, item) {
    var body = details.querySelector(".ev-body");
    body.appendChild(el("p", "od", "Checked: " + item.expected + " \u2192 as declared"));
    if (item.note) { body.appendChild(el("p", "muted", "Case: " + item.note + (item.constraint ? " (attacks " + item.constraint + ")" : ""))); }
    var replay = el("p", "replay");
    replay.appendChild(el("span", "k", "Replay"));
    replay.appendChild(document.createTextNode(" "));
    replay.appendChild(el("code", "cmd-line", item.replay));
    body.appendChild(replay);
    if (item.test) { body.appendChild(el("p", "muted test", "Test: " + item.test)); }
    item.steps.forEach(function (step, i) {
      if (item.steps.length > 1) { body.appendChild(el("h5", "", "Step " + (i + 1) + " of " + item.steps.length)); }
      var pair = el("div", "exchange-pair"), left = el("div", "half"), right = el("div", "half");
      left.appendChild(el("h5", "", "Request as sent \u00b7 " + step.exchange + " \u00b7 as " + (step.identity || "anonymous")));
      left.appendChild(el("pre", "wire", requestText(step.request)));
      right.appendChild(el("h5", "", "Response as received" + (step.elapsed_ms !== undefined ? " \u00b7 " + step.elapsed_ms + " ms" : "")
        + (step.response && step.response.truncated ? " \u00b7 body cut at " + bodyCut : "")));
      right.appendChild(el("pre", "wire", responseText(step.response)));
      pair.appendChild(left);
      pair.appendChild(right);
      body.appendChild(pair);
    });
  }
  function fillAll() {
    return Promise.all(Array.prototype.map.call(document.querySelectorAll("details[data-lazy]"), fill));
  }
  var printAll = document.getElementById("print-all");
  if (printAll) {
    printAll.addEventListener("click", function () {
      fillAll().then(function () {
        Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
        window.print();
      });
    });
  }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d && d.open && d.hasAttribute && d.hasAttribute("data-lazy")) { fill(d); }
  }, true);
  window.addEventListener("beforeprint", function () { fillAll(); });
})();
