/* xcompat report script (embedded at build time by reports/assets/embed.cmake):
   filters, sorting, verdict names. The verdict lists are filled in from
   harness/core/verdict.hpp where the markers stand. */
(function () {
  "use strict";
  var LETTERS = "/* @verdict-letters */";
  var NAMES = [/* @verdict-names */];
  function each(sel, fn, root) { Array.prototype.forEach.call((root || document).querySelectorAll(sel), fn); }
  function byId(id) { return document.getElementById(id); }
  function letterOf(x) {
    x = String(x).trim().toUpperCase();
    var i = NAMES.indexOf(x);
    if (i >= 0) return LETTERS.charAt(i);
    return x.length === 1 && LETTERS.indexOf(x) >= 0 ? x : null;
  }

  function readState() {
    var h = location.hash.slice(1);
    if (h.indexOf("=") < 0) h = location.search.slice(1);  // plain anchors (#c3-5) are not filters
    var p = new URLSearchParams(h);
    var st = { spec: p.getAll("spec").filter(Boolean), from: p.get("from") || "", to: p.get("to") || "",
               verdict: [], sort: p.get("sort") || "" };
    p.getAll("verdict").forEach(function (v) {
      v.split(",").forEach(function (x) { var l = letterOf(x); if (l && st.verdict.indexOf(l) < 0) st.verdict.push(l); });
    });
    return st;
  }

  function writeState(st) {
    var p = new URLSearchParams();
    st.spec.forEach(function (s) { p.append("spec", s); });
    if (st.from) p.set("from", st.from);
    if (st.to) p.set("to", st.to);
    if (st.verdict.length) p.set("verdict", st.verdict.map(function (l) { return NAMES[LETTERS.indexOf(l)]; }).join(","));
    if (st.sort) p.set("sort", st.sort);
    var s = p.toString();
    try { history.replaceState(null, "", s ? "#" + s : location.pathname + location.search); }
    catch (e) { location.hash = s; }
  }

  function ranks() {
    var out = {}, sel = byId("f-from");
    if (sel) Array.prototype.forEach.call(sel.options, function (o) { if (o.value) out[o.value] = +o.getAttribute("data-rank"); });
    return out;
  }

  function apply(st) {
    var rk = ranks();
    var lo = st.from in rk ? rk[st.from] : -1e9, hi = st.to in rk ? rk[st.to] : 1e9;
    if (lo > hi) { var t = lo; lo = hi; hi = t; }
    var vOn = st.verdict.length > 0;
    function inRange(a) { if (a === null) return true; var r = +a; return r < 0 || (r >= lo && r <= hi); }
    function specOk(s) { return s === null || !st.spec.length || st.spec.indexOf(s) >= 0; }
    function verdictOk(l) { return !vOn || st.verdict.indexOf(l) >= 0; }

    each("[data-spec],[data-p],[data-c],[data-v]", function (el) {
      var ok = specOk(el.getAttribute("data-spec")) && inRange(el.getAttribute("data-p")) && inRange(el.getAttribute("data-c"));
      var v = el.getAttribute("data-v");
      if (ok && v !== null && vOn) ok = v.split(" ").some(verdictOk);
      el.hidden = !ok;
    });
    each("table.vt td", function (td) {
      var l = td.classList[0];
      if (l === "n") td.classList.toggle("dim", vOn);
      else if (l && l.length === 1 && LETTERS.indexOf(l) >= 0) td.classList.toggle("dim", !verdictOk(l));
    });

    // Tables whose columns carry the filter in their header cells only.
    each("table.cols", function (tbl) {
      var head = tbl.tHead.rows[tbl.tHead.rows.length - 1];
      Array.prototype.forEach.call(tbl.tBodies[0].rows, function (row) {
        for (var c = 0; c < row.cells.length && c < head.cells.length; c++) row.cells[c].hidden = head.cells[c].hidden;
      });
    });

    var shown = 0, total = 0;
    each("table.grid", function (tbl) {
      var sec = tbl.closest("section");
      var head = tbl.tHead.rows[0], hideCol = [];
      for (var i = 0; i < head.cells.length; i++) hideCol.push(head.cells[i].hidden);
      var body = tbl.tBodies[0], anyRow = false, counted = !(sec && sec.hidden);
      for (var r = 0; r < body.rows.length; r++) {
        var row = body.rows[r], any = false;
        for (var c = 1; c < row.cells.length; c++) {
          var td = row.cells[c];
          td.hidden = !!hideCol[c];
          if (td.hidden || row.hidden || td.classList[0] === "n") continue;
          if (counted) total++;
          if (!td.classList.contains("dim")) { any = true; if (counted) shown++; }
        }
        if (vOn && !any) row.hidden = true;
        if (!row.hidden) anyRow = true;
      }
      if (sec && !anyRow) sec.hidden = true;
    });
    var cnt = byId("f-count");
    if (cnt) {
      var active = vOn || st.spec.length || st.from || st.to;
      cnt.textContent = active && total ? shown + " of " + total + " cells match" : "";
      cnt.setAttribute("data-shown", shown);
    }
    each(".empty-note", function (n) {
      var box = n.parentNode.querySelector(".filterable");
      if (!box) return;
      var items = box.querySelectorAll("[data-spec],[data-p],[data-c],[data-v]");
      n.hidden = !items.length || Array.prototype.some.call(items, function (e) { return !e.hidden; });
    });

    var grids = byId("grids");
    if (grids) {
      var secs = Array.prototype.slice.call(grids.children);
      var key = st.sort;
      secs.sort(function (a, b) {
        if (key === "fail") return (+b.getAttribute("data-fail")) - (+a.getAttribute("data-fail")) || a.getAttribute("data-order") - b.getAttribute("data-order");
        if (key === "pass") return (+a.getAttribute("data-rate")) - (+b.getAttribute("data-rate")) || a.getAttribute("data-order") - b.getAttribute("data-order");
        return a.getAttribute("data-order") - b.getAttribute("data-order");
      });
      secs.forEach(function (s) { grids.appendChild(s); });
    }
  }

  function sync(st) {
    var s = byId("f-spec"); if (s) s.value = st.spec.length === 1 ? st.spec[0] : "";
    var f = byId("f-from"); if (f) f.value = st.from in ranks() ? st.from : "";
    var t = byId("f-to"); if (t) t.value = st.to in ranks() ? st.to : "";
    each("#filters input[name=verdict]", function (c) { c.checked = st.verdict.indexOf(c.value) >= 0; });
    var o = byId("f-sort"); if (o) o.value = st.sort || "";
  }

  function fromForm() {
    var st = { spec: [], from: "", to: "", verdict: [], sort: "" };
    var s = byId("f-spec"); if (s && s.value) st.spec = [s.value];
    var f = byId("f-from"); if (f) st.from = f.value;
    var t = byId("f-to"); if (t) st.to = t.value;
    each("#filters input[name=verdict]", function (c) { if (c.checked) st.verdict.push(c.value); });
    var o = byId("f-sort"); if (o) st.sort = o.value;
    return st;
  }

  function value(td) {
    if (!td) return "";
    var s = td.getAttribute("data-sort");
    if (s === null) s = td.textContent.trim();
    return /^-?\d+(\.\d+)?([eE]-?\d+)?$/.test(s) ? parseFloat(s) : s;
  }

  function sortable(tbl) {
    if (!tbl.tHead) return;
    var ths = tbl.tHead.rows[tbl.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(ths, function (th, i) {
      if (th.hasAttribute("data-nosort")) return;
      th.tabIndex = 0;
      th.classList.add("sortable-th");
      function go() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(ths, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = tbl.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a.cells[i]), y = value(b.cells[i]);
          var r = typeof x === "number" && typeof y === "number" ? x - y
                : String(x).localeCompare(String(y), undefined, { numeric: true });
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  }

  function tooltip(e) {
    var td = e.target.closest ? e.target.closest("table.grid td") : null;
    if (!td || td.title) return;
    var row = td.parentNode, tbl = td.closest("table"), col = tbl.tHead.rows[0].cells[td.cellIndex];
    var i = LETTERS.indexOf(td.classList[0]);
    td.title = row.cells[0].textContent + " \u2192 " + (col ? col.textContent : "") + ": " +
               (i >= 0 && td.classList[0].length === 1 ? NAMES[i] : "no result") + (td.textContent.indexOf("*") >= 0 ? " (flaky)" : "");
  }

  function init() {
    var form = byId("filters");
    if (form) {
      form.hidden = false;
      form.addEventListener("submit", function (e) { e.preventDefault(); });
      form.addEventListener("change", function () { var st = fromForm(); writeState(st); apply(st); });
      var reset = byId("f-reset");
      if (reset) reset.addEventListener("click", function () {
        var st = { spec: [], from: "", to: "", verdict: [], sort: "" };
        sync(st); writeState(st); apply(st);
      });
    }
    each("table.sortable", sortable);
    document.addEventListener("mouseover", tooltip);
    var st = readState();
    sync(st);
    apply(st);
    window.addEventListener("hashchange", function () {
      if (location.hash.indexOf("=") < 0) return;
      var s = readState(); sync(s); apply(s);
    });
    document.documentElement.setAttribute("data-js", "ready");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
