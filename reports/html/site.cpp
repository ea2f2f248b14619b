#include "reports/html/site.hpp"

#include <fstream>

#include "harness/core/error.hpp"

namespace xcompat::report {

std::string num(double v) { return fmt::format("{:.3g}", v); }

const char* overall_class(const std::string& overall) {
  if (overall == "safe") return "overall-safe";
  if (overall == "breaks") return "overall-breaks";
  if (overall == "safe within tolerance") return "overall-tol";
  if (overall == "safe after conversion") return "overall-conv";
  if (overall == "safe with an adapter") return "overall-adapted";
  return "muted";
}

void Frame::write(const fs::path& rel, const std::string& content) {
  const fs::path p = dir / rel;
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.close();
  if (!f) throw Error("cannot write " + p.string());
  ++stats.files;
  stats.bytes += static_cast<int64_t>(content.size());
}

void Frame::head(Out& o, const std::string& title, const char* root) const {
  put(o,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'; "
      "script-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'\">"
      "<title>{}</title><link rel=\"stylesheet\" href=\"{}assets/report.css\">"
      "<script src=\"{}assets/report.js\" defer></script></head>\n<body>\n"
      "<header class=\"top\"><h1>xcompat: x-transformers checkpoint compatibility</h1>"
      "<nav><a href=\"{}index.html\">Overview</a><a href=\"{}upgrade/index.html\">Upgrades</a>"
      "<a href=\"{}history.html\">History</a></nav></header>\n<main>\n",
      html(title), root, root, root, root, root);
}

void Frame::foot(Out& o) const {
  put(o, "</main>\n<footer>Rendered {} by xcompat {} from {} ({} results, {} run{}).</footer>\n</body></html>\n",
      generated, XCOMPAT_VERSION, html(fs::path(d.db_path).filename().string()), d.history_rows, d.runs.size(),
      d.runs.size() == 1 ? "" : "s");
}

void Frame::counts(Out& o, const VerdictCounts& c) const {
  o += "<ul class=\"counts\">";
  for (int v = 0; v < kVerdictCount; ++v) {
    if (!c[v]) continue;
    put(o, "<li><span class=\"badge {0}\">{0}</span> {1} <span class=\"muted\">{2}</span></li>", kVerdicts[v].letter,
        c[v], verdict_name(static_cast<Verdict>(v)));
  }
  o += "</ul>";
}

void Frame::legend(Out& o) const {
  o += "<p class=\"legend small\">";
  for (auto& v : kVerdicts) put(o, "<span class=\"badge {0}\">{0}</span> {1}: {2}. ", v.letter, v.name, v.meaning);
  o += "<span class=\"badge n\">&middot;</span> no result. <b>*</b> flaky (a re-run disagreed). "
       "Rows: the release that saved the checkpoint; columns: who loads it.</p>\n";
}

// The filter form: hidden until the script shows it (useless without it).
void Frame::filter_form(Out& o, bool spec_select, bool sort_select) const {
  o += "<form id=\"filters\" class=\"filters\" hidden>";
  if (spec_select) {
    o += "<label>Spec <select id=\"f-spec\"><option value=\"\">all specs</option>";
    std::string last;
    for (auto& g : d.grids) {
      if (g.spec == last) continue;
      last = g.spec;
      put(o, "<option value=\"{0}\">{0}</option>", html(g.spec));
    }
    o += "</select></label>";
  }
  for (auto [id, label, any] : {std::tuple{"f-from", "Releases from", "oldest"}, {"f-to", "to", "newest"}}) {
    put(o, "<label>{} <select id=\"{}\"><option value=\"\">{}</option>", label, id, any);
    for (size_t i = 0; i < d.releases.size(); ++i)
      put(o, "<option value=\"{0}\" data-rank=\"{1}\">{0}</option>", html(d.releases[i].version), i);
    o += "</select></label>";
  }
  o += "<fieldset><legend>Verdict</legend>";
  for (int v = 0; v < kVerdictCount; ++v)
    put(o, "<label title=\"{1}\"><input type=\"checkbox\" name=\"verdict\" value=\"{0}\"> <span class=\"badge {0}\">{0}</span></label>",
        kVerdicts[v].letter, verdict_name(static_cast<Verdict>(v)));
  o += "</fieldset>";
  if (sort_select)
    o += "<label>Sort specs <select id=\"f-sort\"><option value=\"\">by name</option>"
         "<option value=\"fail\">most failures first</option><option value=\"pass\">lowest pass rate first</option>"
         "</select></label>";
  o += "<button type=\"button\" id=\"f-reset\">Reset</button> <output id=\"f-count\"></output></form>\n";
}

std::string Frame::run_label(int64_t id) const {
  const RunInfo* r = d.run(id);
  if (!r) return fmt::format("run #{}", id);
  return fmt::format("run #{} ({}, {})", id, html(r->started_at), html(r->status));
}

std::string Frame::cell_href(int cell, const char* root) const {
  return fmt::format("{}spec/{}.html#c{}-{}", root, d.grids[d.cell_grid[cell]].slug, d.cell_producer[cell],
                     d.cell_consumer[cell]);
}

// A producer x consumer grid. Empty rows and columns are left out; every
// cell links to its detail (`href_prefix` + "#c<p>-<c>").
void Frame::grid_table(Out& o, const Grid& g, const std::string& href_prefix) const {
  const GridView view(d, g);
  o += "<div class=\"scroll\"><table class=\"grid vt\"><thead><tr><th class=\"corner\" scope=\"col\">"
       "saved by &darr; / loaded by &rarr;</th>";
  for (size_t c : view.cols)
    put(o, "<th scope=\"col\" data-c=\"{}\"><span class=\"vert\">{}</span></th>", d.consumers[c].rank,
        html(d.consumers[c].name));
  o += "</tr></thead><tbody>\n";
  const std::string prefix = html(href_prefix);
  for (size_t p : view.rows) {
    put(o, "<tr data-p=\"{}\"><th scope=\"row\">{}</th>", d.rank_of(d.producers[p]), html(d.producers[p]));
    for (size_t c : view.cols) {
      const int32_t i = view.cell(p, c);
      if (i < 0) {
        o += "<td class=\"n\">&middot;</td>";
        continue;
      }
      const CellResult& cell = d.current[i].cell;
      const char l = verdict_letter(cell.verdict);
      const bool diag = d.producers[p] == d.consumers[c].name;
      // A converted cell shows both paths: "L→V".
      put(o, "<td class=\"{}{}\"><a href=\"{}#c{}-{}\">{}{}</a></td>", l, diag ? " diag" : "", prefix, p, c,
          html(cell.path_letters()), cell.flaky ? "*" : "");
    }
    o += "</tr>\n";
  }
  o += "</tbody></table></div>\n";
}

void Frame::grid_meta(Out& o, const Grid& g) const {
  o += "<div class=\"meta small\">";
  counts(o, g.counts);
  if (g.min_run == g.max_run) put(o, "<div class=\"muted\">from {}</div>", run_label(g.max_run));
  else put(o, "<div class=\"muted\">from runs #{}&ndash;#{} (latest {})</div>", g.min_run, g.max_run, run_label(g.max_run));
  if (g.flaky) put(o, "<div class=\"flaky\">{} flaky</div>", g.flaky);
  o += "</div>";
}


const UpgradeAnswer* Frame::answer(const std::string& from, const std::string& to) const {
  auto it = answers.find({from, to});
  return it == answers.end() ? nullptr : &it->second;
}
std::string Frame::score_text(const UpgradeAnswer* a) const {
  if (!a || a->comparable == 0) return "no data";
  return fmt::format("{:.0f}% ({} of {})", 100 * a->score(), a->passing, a->comparable);
}

}  // namespace xcompat::report
