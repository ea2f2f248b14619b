#include "reports/assets.hpp"

namespace xcompat::report {

// Verdict colours carry a letter too (I C V D L E U), so nothing depends on
// colour alone; the letter colours keep 4.5:1 contrast on their backgrounds.
const char* const kReportCss = R"css(
:root { --fg: #1d232a; --muted: #5b6670; --line: #d5dbe1; --bg: #ffffff; --panel: #f5f7f9; --link: #0b5cad; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
body { margin: 0; }
a { color: var(--link); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
header.top { background: #16324f; color: #fff; padding: 10px 20px; display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 24px; }
header.top h1 { font-size: 18px; margin: 0; }
header.top a { color: #cfe3ff; }
header.top nav a { margin-right: 14px; }
main { padding: 14px 20px 40px; }
h2 { font-size: 16px; margin: 0 0 4px; }
h3 { font-size: 14.5px; margin: 0 0 6px; }
h2.gap { margin-top: 26px; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
.summary { display: flex; flex-wrap: wrap; gap: 8px 22px; align-items: center; margin: 0 0 10px; }
.counts { display: inline-flex; flex-wrap: wrap; gap: 4px 10px; margin: 0; padding: 0; list-style: none; }
.counts li { white-space: nowrap; }
.badge { display: inline-block; min-width: 1.7em; padding: 0 4px; border-radius: 3px; text-align: center; font-weight: 700; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.I { background: #17693a; color: #fff; }
.C { background: #8fd19e; color: #0d2e16; }
.V { background: #8cc4ee; color: #0b2740; }
.D { background: #f3b04b; color: #3a2300; }
.L { background: #c62828; color: #fff; }
.E { background: #6a1b9a; color: #fff; }
.U { background: #d9dde1; color: #2f3942; }
.n { background: #fff; color: #9aa4ad; }
.legend { margin: 0 0 10px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 0 0 14px; }
form.filters fieldset { border: 0; margin: 0; padding: 0; display: inline-flex; flex-wrap: wrap; gap: 2px 10px; align-items: center; }
form.filters legend { float: left; margin-right: 6px; padding: 0; }
form.filters label { white-space: nowrap; }
#f-count { font-weight: 600; }
#grids { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
section.gs { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px 10px; max-width: 100%; }
section.gs .meta { margin: 0 0 6px; }
.scroll { overflow: auto; max-width: 100%; max-height: 85vh; }
table { border-collapse: collapse; }
table.grid { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px; }
table.grid th { font-weight: 600; background: #fff; color: var(--fg); }
table.grid thead th { position: sticky; top: 0; z-index: 1; vertical-align: bottom; padding: 2px 0; }
table.grid thead th .vert { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; display: inline-block; max-height: 9em; overflow: hidden; text-overflow: ellipsis; }
table.grid tbody th { position: sticky; left: 0; text-align: right; padding: 0 6px 0 2px; white-space: nowrap; max-width: 12em; overflow: hidden; text-overflow: ellipsis; }
table.grid th.corner { font-weight: 400; color: var(--muted); text-align: right; font-size: 10.5px; padding-right: 6px; }
table.grid td { width: 22px; min-width: 22px; height: 20px; padding: 0; text-align: center; border: 1px solid #fff; }
table.grid td a { display: block; color: inherit; text-decoration: none; line-height: 19px; font-weight: 700; }
table.grid td a:hover, table.grid td a:focus { outline: 2px solid #111; outline-offset: -2px; }
table.grid td.diag { box-shadow: inset 0 0 0 1px rgba(0,0,0,.45); }
td.dim, .vt td.dim { opacity: .14; }
table.data { border: 1px solid var(--line); margin: 4px 0 12px; }
table.data th, table.data td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; vertical-align: top; }
table.data thead th { white-space: nowrap; }
td.time { white-space: nowrap; }
table.data thead th { background: var(--panel); position: sticky; top: 0; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data td.vc { text-align: center; padding: 1px 2px; min-width: 22px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 700; }
table.data td.vc a { color: inherit; text-decoration: none; display: block; }
th.sortable-th { cursor: pointer; user-select: none; }
th.sortable-th::after { content: " \2195"; color: #9aa4ad; font-size: 11px; }
th[aria-sort="ascending"]::after { content: " \2191"; color: var(--fg); }
th[aria-sort="descending"]::after { content: " \2193"; color: var(--fg); }
.vhead { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: 600; font-size: 11.5px; }
article.cell { border: 1px solid var(--line); border-left: 6px solid var(--line); border-radius: 4px; padding: 8px 12px; margin: 0 0 12px; max-width: 1100px; }
article.cell:target { outline: 3px solid #f1c40f; }
article.cell.bI { border-left-color: #17693a; } article.cell.bC { border-left-color: #8fd19e; }
article.cell.bV { border-left-color: #8cc4ee; } article.cell.bD { border-left-color: #f3b04b; }
article.cell.bL { border-left-color: #c62828; } article.cell.bE { border-left-color: #6a1b9a; }
article.cell.bU { border-left-color: #d9dde1; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 4px 0 8px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--panel); border: 1px solid var(--line); padding: 6px 8px; margin: 4px 0; max-height: 28em; overflow: auto; }
ul.keys { margin: 2px 0 6px; padding-left: 20px; columns: 2 28em; }
ol.hist { margin: 2px 0; padding-left: 22px; }
.flaky { color: #8a4b00; font-weight: 600; }
.note { background: #fff8e1; border: 1px solid #f0d68a; padding: 3px 8px; border-radius: 4px; display: inline-block; }
.window { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 6px 0 14px; max-width: 1100px; }
.overall-safe { color: #17693a; font-weight: 700; }
.overall-breaks { color: #c62828; font-weight: 700; }
.overall-tol { color: #2e7d32; font-weight: 600; }
.kind-regressed { color: #c62828; font-weight: 700; }
.kind-fixed { color: #17693a; font-weight: 600; }
ul.pages { columns: 4 12em; padding-left: 18px; }
footer { color: var(--muted); font-size: 12px; padding: 0 20px 20px; }
)css";

// Filters and sorting. The pages are complete without it: it only hides,
// dims and reorders what is already there. State lives in the URL hash (or
// query string): #spec=NAME&from=1.0.4&to=2.0.5&verdict=LOAD_FAIL,DRIFT&sort=fail
// Every string it shows comes from the DOM as text; nothing is parsed as HTML.
const char* const kReportJs = R"js(
(function () {
  "use strict";
  var LETTERS = "ICVDLEU";
  var NAMES = ["IDENTICAL", "CLOSE", "CONVERTED", "DRIFT", "LOAD_FAIL", "ERROR", "UNSUPPORTED"];
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
)js";

}  // namespace xcompat::report
