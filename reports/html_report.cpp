#include "reports/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unordered_map>

#include "harness/core/error.hpp"
#include "reports/assets.hpp"
#include "reports/html_writer.hpp"

namespace xcompat::report {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxChangesPerRun = 1000;  // history.html lists at most this many per run
constexpr size_t kOpenKeyList = 12;         // key lists up to this long start expanded

using Out = std::string;

template <class... Args>
void put(Out& o, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(o), f, std::forward<Args>(args)...);
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string num(double v) { return fmt::format("{:.3g}", v); }

const char* overall_class(const std::string& overall) {
  if (overall == "safe") return "overall-safe";
  if (overall == "breaks") return "overall-breaks";
  if (overall == "safe within tolerance") return "overall-tol";
  return "muted";
}

struct Site {
  const ReportData& d;
  fs::path dir;
  std::string generated = now_utc();
  std::map<std::pair<std::string, std::string>, UpgradeAnswer> answers;
  std::vector<std::string> upgrade_slug;  // per producer
  RenderStats stats;

  Site(const ReportData& data, fs::path out) : d(data), dir(std::move(out)) {}

  void write(const fs::path& rel, const std::string& content) {
    const fs::path p = dir / rel;
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    f.close();
    if (!f) throw Error("cannot write " + p.string());
    ++stats.files;
    stats.bytes += static_cast<int64_t>(content.size());
  }

  // ---- shared page parts -------------------------------------------------

  void head(Out& o, const std::string& title, const char* root) const {
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

  void foot(Out& o) const {
    put(o, "</main>\n<footer>Rendered {} by xcompat {} from {} ({} results, {} run{}).</footer>\n</body></html>\n",
        generated, XCOMPAT_VERSION, html(fs::path(d.db_path).filename().string()), d.history_rows, d.runs.size(),
        d.runs.size() == 1 ? "" : "s");
  }

  void counts(Out& o, const VerdictCounts& c) const {
    o += "<ul class=\"counts\">";
    for (int v = 0; v < kVerdictCount; ++v) {
      if (!c[v]) continue;
      put(o, "<li><span class=\"badge {0}\">{0}</span> {1} <span class=\"muted\">{2}</span></li>", kVerdicts[v].letter,
          c[v], verdict_name(static_cast<Verdict>(v)));
    }
    o += "</ul>";
  }

  void legend(Out& o) const {
    o += "<p class=\"legend small\">";
    static const char* meaning[] = {"loads strictly, bitwise identical output",
                                    "loads strictly, output within tolerance",
                                    "loads after conversion",
                                    "loads, computes something else",
                                    "strict load fails",
                                    "crashed or raised",
                                    "spec not supported by the consumer"};
    for (int v = 0; v < kVerdictCount; ++v)
      put(o, "<span class=\"badge {0}\">{0}</span> {1}: {2}. ", kVerdicts[v].letter, verdict_name(static_cast<Verdict>(v)),
          meaning[v]);
    o += "<span class=\"badge n\">&middot;</span> no result. <b>*</b> flaky (a re-run disagreed). "
         "Rows: the release that saved the checkpoint; columns: who loads it.</p>\n";
  }

  // The filter form: hidden until the script shows it (useless without it).
  void filter_form(Out& o, bool spec_select, bool sort_select) const {
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

  std::string run_label(int64_t id) const {
    const RunInfo* r = d.run(id);
    if (!r) return fmt::format("run #{}", id);
    return fmt::format("run #{} ({}, {})", id, html(r->started_at), html(r->status));
  }

  std::string cell_href(int cell, const char* root) const {
    return fmt::format("{}spec/{}.html#c{}-{}", root, d.grids[d.cell_grid[cell]].slug, d.cell_producer[cell],
                       d.cell_consumer[cell]);
  }

  // A producer x consumer grid. Empty rows and columns are left out; every
  // cell links to its detail (`href_prefix` + "#c<p>-<c>").
  void grid_table(Out& o, const Grid& g, const std::string& href_prefix) const {
    const size_t width = d.consumers.size();
    std::vector<char> col_used(width, 0), row_used(d.producers.size(), 0);
    for (size_t p = 0; p < d.producers.size(); ++p)
      for (size_t c = 0; c < width; ++c)
        if (g.cells[p * width + c] >= 0) col_used[c] = row_used[p] = 1;
    o += "<div class=\"scroll\"><table class=\"grid vt\"><thead><tr><th class=\"corner\" scope=\"col\">"
         "saved by &darr; / loaded by &rarr;</th>";
    for (size_t c = 0; c < width; ++c)
      if (col_used[c])
        put(o, "<th scope=\"col\" data-c=\"{}\"><span class=\"vert\">{}</span></th>", d.consumers[c].rank,
            html(d.consumers[c].name));
    o += "</tr></thead><tbody>\n";
    const std::string prefix = html(href_prefix);
    for (size_t p = 0; p < d.producers.size(); ++p) {
      if (!row_used[p]) continue;
      put(o, "<tr data-p=\"{}\"><th scope=\"row\">{}</th>", d.rank_of(d.producers[p]), html(d.producers[p]));
      for (size_t c = 0; c < width; ++c) {
        if (!col_used[c]) continue;
        const int32_t i = g.cells[p * width + c];
        if (i < 0) {
          o += "<td class=\"n\">&middot;</td>";
          continue;
        }
        const CellResult& cell = d.current[i].cell;
        const char l = verdict_letter(cell.verdict);
        const bool diag = d.producers[p] == d.consumers[c].name;
        put(o, "<td class=\"{}{}\"><a href=\"{}#c{}-{}\">{}{}</a></td>", l, diag ? " diag" : "", prefix, p, c, l,
            cell.flaky ? "*" : "");
      }
      o += "</tr>\n";
    }
    o += "</tbody></table></div>\n";
  }

  void grid_meta(Out& o, const Grid& g) const {
    o += "<div class=\"meta small\">";
    counts(o, g.counts);
    if (g.min_run == g.max_run) put(o, "<div class=\"muted\">from {}</div>", run_label(g.max_run));
    else put(o, "<div class=\"muted\">from runs #{}&ndash;#{} (latest {})</div>", g.min_run, g.max_run, run_label(g.max_run));
    if (g.flaky) put(o, "<div class=\"flaky\">{} flaky</div>", g.flaky);
    o += "</div>";
  }

  // ---- index.html --------------------------------------------------------

  void index_page() {
    Out o;
    o.reserve(256 + d.current.size() * 48);
    head(o, "xcompat: compatibility matrix", "");
    const int64_t latest = d.runs.empty() ? 0 : d.runs.back().id;
    o += "<div class=\"summary\"><div>";
    if (latest) put(o, "Matrix as of <b>{}</b>.", run_label(latest));
    else o += "No runs recorded yet.";
    put(o, " {} cells in {} specs, {} producing releases &times; {} consumers; {} results over {} run{}.</div>",
        d.current.size(), d.grids.size(), d.producers.size(), d.consumers.size(), d.history_rows, d.runs.size(),
        d.runs.size() == 1 ? "" : "s");
    counts(o, d.counts);
    o += "</div>\n";
    if (!d.run_summary.empty()) {
      const auto& [rid, s] = *d.run_summary.rbegin();  // the latest run that recorded results
      put(o, "<p>Run #{}{}: <span class=\"{}\">{} regressed</span>, {} fixed, {} changed, {} flaky, {} new cells "
             "&mdash; <a href=\"history.html\">see history</a>.</p>\n",
          rid, rid == latest ? " (the latest)" : " (the latest that recorded results)", s.regressed ? "kind-regressed" : "",
          s.regressed, s.fixed, s.changed, s.flaky, s.new_cells);
    }
    legend(o);
    filter_form(o, true, true);
    o += "<p class=\"empty-note\" hidden>No cells match these filters.</p>\n<div id=\"grids\" class=\"filterable\">\n";
    for (size_t gi = 0; gi < d.grids.size(); ++gi) {
      const Grid& g = d.grids[gi];
      const int64_t comparable = g.total - g.counts[static_cast<int>(Verdict::Unsupported)];
      const int64_t pass = g.counts[0] + g.counts[1] + g.counts[2];
      put(o, "<section class=\"gs\" id=\"g-{}\" data-spec=\"{}\" data-order=\"{}\" data-fail=\"{}\" data-rate=\"{:.4f}\">",
          g.slug, html(g.spec), gi, comparable - pass, comparable ? double(pass) / comparable : 1.0);
      put(o, "<h2><a href=\"spec/{}.html\">{}</a></h2>", g.slug, html(g.label));
      grid_meta(o, g);
      grid_table(o, g, "spec/" + g.slug + ".html");
      o += "</section>\n";
    }
    o += "</div>\n<h2 class=\"gap\">Upgrade pages: coming from&hellip;</h2><ul class=\"pages\">";
    for (size_t p = 0; p < d.producers.size(); ++p)
      put(o, "<li><a href=\"upgrade/{}.html\">{}</a></li>", upgrade_slug[p], html(d.producers[p]));
    o += "</ul>\n";
    foot(o);
    write("index.html", o);
    stats.main_path = (dir / "index.html").string();
  }

  // ---- spec pages ----------------------------------------------------------

  void key_list(Out& o, const char* label, const std::vector<std::string>& keys) const {
    if (keys.empty()) return;
    put(o, "<details{}><summary>{} keys ({})</summary><ul class=\"keys\">", keys.size() <= kOpenKeyList ? " open" : "",
        label, keys.size());
    for (auto& k : keys) put(o, "<li><code>{}</code></li>", html(k));
    o += "</ul></details>";
  }

  // Long texts already shown on the page (text -> the cell showing it): a
  // later cell with the same error or the same keys links there instead.
  using Seen = std::unordered_map<std::string, int>;
  static constexpr size_t kDedupAbove = 240;

  std::string same_as(int first) const {
    return fmt::format("<a href=\"#c{}-{}\">{} &rarr; {}</a>", d.cell_producer[first], d.cell_consumer[first],
                       html(d.current[first].cell.key.producer), html(d.current[first].cell.key.consumer));
  }

  void cell_detail(Out& o, int i, Seen& seen) const {
    const StoredResult& sr = d.current[i];
    const CellResult& c = sr.cell;
    const int p = d.cell_producer[i], ci = d.cell_consumer[i];
    const ConsumerInfo& cons = d.consumers[ci];
    const char l = verdict_letter(c.verdict);
    put(o, "<article class=\"cell b{0}\" id=\"c{1}-{2}\" data-p=\"{3}\" data-c=\"{4}\" data-v=\"{0}\">", l, p, ci,
        d.rank_of(d.producers[p]), cons.rank);
    put(o, "<h3><span class=\"badge {}\">{}</span> {} &rarr; {} <span class=\"muted\">{}</span>{}</h3>", l, l,
        html(c.key.producer), html(c.key.consumer), verdict_name(c.verdict),
        c.flaky ? " <span class=\"flaky\">flaky</span>" : "");
    put(o, "<p>{}</p>", html(conclude(c)));
    if (!c.tolerance_override.empty())
      put(o, "<p class=\"note\">Tolerance override applied: {}</p>", html(c.tolerance_override));
    o += "<dl class=\"kv\">";
    put(o, "<dt>saved by</dt><dd>x-transformers <a href=\"../upgrade/{}.html\">{}</a></dd>", upgrade_slug[p],
        html(c.key.producer));
    put(o, "<dt>loaded by</dt><dd>{} <span class=\"muted\">({} consumer, identity <code>{}</code>)</span></dd>",
        html(cons.name), html(cons.kind), html(cons.version));
    put(o, "<dt>device, dtype</dt><dd>{}, {}</dd>", html(c.key.device), html(c.key.dtype));
    put(o, "<dt>recorded</dt><dd>run #{} at {}</dd>", sr.run_id, html(sr.recorded_at));
    if (c.metrics) {
      const Metrics& m = *c.metrics;
      put(o,
          "<dt>figures</dt><dd class=\"figs\">max abs <b>{}</b> &middot; max rel <b>{}</b> &middot; mean abs <b>{}</b> "
          "&middot; nmse <b>{}</b> ({}) &middot; cosine <b>{:.7g}</b> &middot; top-1 <b>{:.1f}%</b> &middot; "
          "latency <b>{:.1f} ms</b>{}</dd>",
          num(m.max_abs), num(m.max_rel), num(m.mean_abs), num(m.nmse), html(nmse_band(m.nmse)), m.cosine,
          100 * m.top1, c.latency_ms, m.bitwise ? " &middot; bitwise identical" : "");
    } else {
      put(o, "<dt>figures</dt><dd class=\"muted\">none: no forward pass was compared{}</dd>",
          c.latency_ms > 0 ? fmt::format(" (latency {:.1f} ms)", c.latency_ms) : "");
    }
    if (!c.load_report.empty()) {
      const auto& r = c.load_report;
      put(o, "<dt>load report</dt><dd>{} missing, {} unexpected, {} mis-shaped", r.missing.size(), r.unexpected.size(),
          r.misshaped.size());
      std::string all;
      for (auto* list : {&r.missing, &r.unexpected, &r.misshaped}) {
        for (auto& k : *list) all += k + '\n';
        all += '\x1f';
      }
      auto [it, fresh] = all.size() > kDedupAbove ? seen.try_emplace("K" + all, i) : std::pair{seen.end(), true};
      if (fresh) {
        key_list(o, "missing", r.missing);
        key_list(o, "unexpected", r.unexpected);
        key_list(o, "mis-shaped", r.misshaped);
      } else {
        put(o, ": the same keys as {}", same_as(it->second));
      }
      o += "</dd>";
    }
    if (!c.error.empty()) {
      auto [it, fresh] = c.error.size() > kDedupAbove ? seen.try_emplace("E" + c.error, i) : std::pair{seen.end(), true};
      if (!fresh) put(o, "<dt>error</dt><dd>the same text as {}</dd>", same_as(it->second));
    }
    if (!c.error.empty() && (c.error.size() <= kDedupAbove || seen.at("E" + c.error) == i)) {
      const std::string first = c.error.substr(0, c.error.find('\n'));
      const bool multi = first.size() != c.error.size() || first.size() > 160;
      if (multi)
        put(o, "<dt>error</dt><dd><details><summary><code>{}</code></summary><pre>{}</pre></details></dd>",
            html(first.substr(0, 160)), html(c.error));
      else put(o, "<dt>error</dt><dd><pre>{}</pre></dd>", html(c.error));
    }
    if (!c.cache_key.empty()) put(o, "<dt>cache key</dt><dd><code>{}</code></dd>", html(c.cache_key));
    o += "<dt>history</dt><dd><ol class=\"hist\">";
    for (auto& s : d.history[i]) {
      put(o, "<li>run #{} ({}): <span class=\"badge {}\">{}</span> {}", s.run_id, html(d.run_time(s.run_id)), verdict_letter(s.verdict),
          verdict_letter(s.verdict), verdict_name(s.verdict));
      if (s.before) put(o, " <span class=\"muted\">(was {})</span>", verdict_name(*s.before));
      if (s.flaky) o += " <span class=\"flaky\">flaky</span>";
      if (s.results > 1)
        put(o, " <span class=\"muted\">&mdash; unchanged through run #{} ({} results)</span>", s.last_run_id, s.results);
      o += "</li>";
    }
    o += "</ol></dd></dl></article>\n";
  }

  void spec_page(size_t gi) {
    const Grid& g = d.grids[gi];
    Out o;
    o.reserve(4096 + g.total * 1500);
    head(o, "xcompat: " + g.label, "../");
    put(o, "<p><a href=\"../index.html#g-{}\">&larr; overview</a></p><h2>{}</h2>", g.slug, html(g.label));
    grid_meta(o, g);
    if (auto it = d.spec_definition.find(g.spec); it != d.spec_definition.end())
      put(o, "<details><summary>spec definition</summary><pre>{}</pre></details>", html(it->second));
    legend(o);
    filter_form(o, false, false);
    grid_table(o, g, "");
    o += "<h2 class=\"gap\">Cells</h2><p class=\"empty-note\" hidden>No cells match these filters.</p>"
         "<div class=\"filterable\">\n";
    const size_t width = d.consumers.size();
    Seen seen;
    for (size_t p = 0; p < d.producers.size(); ++p)
      for (size_t c = 0; c < width; ++c)
        if (const int32_t i = g.cells[p * width + c]; i >= 0) cell_detail(o, i, seen);
    o += "</div>\n";
    foot(o);
    write(fs::path("spec") / (g.slug + ".html"), o);
  }

  // ---- upgrade pages ----------------------------------------------------------

  const UpgradeAnswer* answer(const std::string& from, const std::string& to) const {
    auto it = answers.find({from, to});
    return it == answers.end() ? nullptr : &it->second;
  }
  static bool full_pass(const UpgradeAnswer* a) { return a && a->comparable > 0 && a->passing == a->comparable; }

  std::string score_text(const UpgradeAnswer* a) const {
    if (!a || a->comparable == 0) return "no data";
    return fmt::format("{:.0f}% ({} of {})", 100 * a->score(), a->passing, a->comparable);
  }

  struct Window {
    std::string oldest_read, first_unread_back;  // walking back from R among producers
    std::string newest_reader, first_nonreader;  // walking forward from R among release consumers
    std::vector<std::string> back_beyond, forward_beyond;  // full passes past a break
  };

  Window support_window(const std::string& r) const {
    Window w;
    const int rr = d.rank_of(r);
    bool broken = false;
    for (auto it = d.producers.rbegin(); it != d.producers.rend(); ++it) {
      if (d.rank_of(*it) > rr) continue;
      const bool ok = full_pass(answer(*it, r));
      if (!broken && ok) w.oldest_read = *it;
      else if (!broken) broken = true, w.first_unread_back = *it;
      else if (ok) w.back_beyond.push_back(*it);
    }
    broken = false;
    for (auto& c : d.consumers) {
      if (c.rank < rr) continue;  // non-releases have rank -1: skipped
      const bool ok = full_pass(answer(r, c.name));
      if (!broken && ok) w.newest_reader = c.name;
      else if (!broken) broken = true, w.first_nonreader = c.name;
      else if (ok) w.forward_beyond.push_back(c.name);
    }
    return w;
  }

  void window_box(Out& o, const std::string& r) const {
    const Window w = support_window(r);
    o += "<div class=\"window\"><b>Support window</b> (every comparable spec IDENTICAL, CLOSE or CONVERTED):<ul>";
    if (w.oldest_read.empty())
      put(o, "<li>{} does not fully read even its own checkpoints.</li>", html(r));
    else
      put(o, "<li>Reads checkpoints saved as far back as <b>{}</b>{}.</li>", html(w.oldest_read),
          w.first_unread_back.empty() ? std::string(" (the oldest release in the matrix)")
                                      : fmt::format("; {}&rsquo;s checkpoints already break ({})",
                                                    html(w.first_unread_back), html(score_text(answer(w.first_unread_back, r)))));
    if (w.newest_reader.empty())
      put(o, "<li>No release fully reads {}&rsquo;s checkpoints.</li>", html(r));
    else
      put(o, "<li>Its checkpoints are read by every release up to <b>{}</b>{}.</li>", html(w.newest_reader),
          w.first_nonreader.empty() ? std::string(" (the newest release in the matrix)")
                                    : fmt::format("; {} breaks ({})", html(w.first_nonreader),
                                                  html(score_text(answer(r, w.first_nonreader)))));
    auto beyond = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      put(o, "<li class=\"muted\">{} again, past the break:", what);
      for (auto& x : v) put(o, " {}", html(x));
      o += "</li>";
    };
    beyond("Fully read", w.back_beyond);
    beyond("Fully reading", w.forward_beyond);
    o += "</ul></div>\n";
  }

  // One row per counterpart; columns: score, overall, a verdict per grid.
  void upgrade_table(Out& o, const std::string& r, bool as_producer) const {
    o += "<div class=\"scroll\"><table class=\"data sortable vt cols\"><thead><tr>";
    put(o, "<th>{}</th><th>score</th><th>overall</th>", as_producer ? "loaded by" : "saved by");
    for (auto& g : d.grids)
      put(o, "<th data-nosort data-spec=\"{}\"><span class=\"vhead\">{}</span></th>", html(g.spec), html(g.label));
    o += "</tr></thead><tbody>\n";
    const size_t width = d.consumers.size();
    std::vector<std::pair<std::string, int>> rows;  // (name, rank)
    if (as_producer) {
      for (auto& c : d.consumers)
        if (c.name != r) rows.push_back({c.name, c.rank});
    } else {
      for (auto& p : d.producers)
        if (p != r) rows.push_back({p, d.rank_of(p)});
    }
    for (auto& [name, rank] : rows) {
      const std::string& from = as_producer ? r : name;
      const std::string& to = as_producer ? name : r;
      const UpgradeAnswer* a = answer(from, to);
      if (!a) continue;
      put(o, "<tr data-{}=\"{}\"><td>{}</td><td class=\"num\" data-sort=\"{:.4f}\">{}</td><td class=\"{}\">{}</td>",
          as_producer ? 'c' : 'p', rank, html(name), a->comparable ? a->score() : -1.0, html(score_text(a)),
          overall_class(a->overall), html(a->overall));
      auto pi = std::find(d.producers.begin(), d.producers.end(), from) - d.producers.begin();
      size_t ci = 0;
      while (ci < width && d.consumers[ci].name != to) ++ci;
      for (auto& g : d.grids) {
        const int32_t i = ci < width ? g.cells[pi * width + ci] : -1;
        if (i < 0) {
          o += "<td class=\"n vc\">&middot;</td>";
          continue;
        }
        const CellResult& c = d.current[i].cell;
        const char l = verdict_letter(c.verdict);
        put(o, "<td class=\"{0} vc\"><a href=\"../{1}\">{0}{2}</a></td>", l, html(cell_href(i, "")),
            c.flaky ? "*" : "");
      }
      o += "</tr>\n";
    }
    o += "</tbody></table></div>\n";
  }

  void upgrade_page(size_t p) {
    const std::string& r = d.producers[p];
    Out o;
    head(o, "xcompat: coming from " + r, "../");
    put(o, "<p><a href=\"index.html\">&larr; all releases</a></p><h2>Coming from {}</h2>", html(r));
    if (auto rank = d.rank_of(r); rank >= 0 && !d.releases[rank].reason.empty())
      put(o, "<p class=\"muted\">Pinned because: {}</p>", html(d.releases[rank].reason));
    window_box(o, r);
    legend(o);
    filter_form(o, true, false);
    put(o, "<h3>Checkpoints saved by {}, loaded by each consumer</h3>"
           "<p class=\"small muted\">Score: share of comparable specs (not UNSUPPORTED) that are IDENTICAL, CLOSE or "
           "CONVERTED. Overall: <i>safe</i> (all identical), <i>safe within tolerance</i>, <i>breaks</i>. "
           "Click a column title to sort.</p>", html(r));
    upgrade_table(o, r, true);
    put(o, "<h3>Checkpoints that {} loads, by the release that saved them</h3>", html(r));
    upgrade_table(o, r, false);
    foot(o);
    write(fs::path("upgrade") / (upgrade_slug[p] + ".html"), o);
  }

  void upgrade_index() {
    Out o;
    head(o, "xcompat: upgrades", "../");
    o += "<h2>Upgrades: checkpoints saved by one release, loaded by another</h2>"
         "<p class=\"small muted\">Each cell: the share of comparable specs that pass (IDENTICAL, CLOSE or CONVERTED), "
         "coloured by the overall answer (I safe, C safe within tolerance, L breaks, U no data). "
         "Rows: the release you have checkpoints from; columns: where you want to load them.</p>";
    filter_form(o, false, false);
    o += "<div class=\"scroll\"><table class=\"data vt\"><thead><tr><th>from &darr; / to &rarr;</th>";
    for (auto& c : d.consumers)
      put(o, "<th data-c=\"{}\"><span class=\"vhead\">{}</span></th>", c.rank, html(c.name));
    o += "</tr></thead><tbody>\n";
    for (size_t p = 0; p < d.producers.size(); ++p) {
      const std::string& r = d.producers[p];
      put(o, "<tr data-p=\"{}\"><th><a href=\"{}.html\">{}</a></th>", d.rank_of(r), upgrade_slug[p], html(r));
      for (auto& c : d.consumers) {
        const UpgradeAnswer* a = answer(r, c.name);
        const char* cls = !a || a->comparable == 0          ? "U"
                          : a->overall == "safe"            ? "I"
                          : a->overall == "breaks"          ? "L"
                                                            : "C";
        put(o, "<td class=\"{} vc\" data-c=\"{}\" title=\"{} &rarr; {}: {}\">{}</td>", cls, c.rank, html(r),
            html(c.name), a ? html(a->overall) : "no data",
            a && a->comparable ? fmt::format("{:.0f}", 100 * a->score()) : "&middot;");
      }
      o += "</tr>\n";
    }
    o += "</tbody></table></div>\n<h3>Support windows</h3><table class=\"data sortable\"><thead><tr><th>release</th>"
         "<th>reads checkpoints back to</th><th>its checkpoints are read up to</th></tr></thead><tbody>\n";
    for (size_t p = 0; p < d.producers.size(); ++p) {
      const std::string& r = d.producers[p];
      const Window w = support_window(r);
      put(o, "<tr data-p=\"{}\"><td data-sort=\"{}\"><a href=\"{}.html\">{}</a></td><td data-sort=\"{}\">{}</td>"
             "<td data-sort=\"{}\">{}</td></tr>\n",
          d.rank_of(r), d.rank_of(r), upgrade_slug[p], html(r), d.rank_of(w.oldest_read),
          w.oldest_read.empty() ? "&mdash;" : html(w.oldest_read), d.rank_of(w.newest_reader),
          w.newest_reader.empty() ? "&mdash;" : html(w.newest_reader));
    }
    o += "</tbody></table>\n";
    foot(o);
    write(fs::path("upgrade") / "index.html", o);
  }

  // ---- history.html -------------------------------------------------------------

  void history_page() {
    Out o;
    head(o, "xcompat: history", "");
    o += "<h2>Runs</h2><div class=\"scroll\"><table class=\"data sortable\"><thead><tr><th>run</th><th>started</th>"
         "<th>finished</th><th>status</th><th>results</th><th>new cells</th><th>regressed</th><th>fixed</th>"
         "<th>changed</th><th>flaky</th><th>xcompat</th><th>arguments</th></tr></thead><tbody>\n";
    for (auto it = d.runs.rbegin(); it != d.runs.rend(); ++it) {
      const RunInfo& r = *it;
      RunSummary s;
      if (auto f = d.run_summary.find(r.id); f != d.run_summary.end()) s = f->second;
      put(o, "<tr><td class=\"num\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td>{}</td><td class=\"num\">{}</td>"
             "<td class=\"num\">{}</td><td class=\"num {}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
             "<td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
          r.id, html(r.started_at), html(r.finished_at), html(r.status), r.results, s.new_cells,
          s.regressed ? "kind-regressed" : "", s.regressed, s.fixed, s.changed, s.flaky, html(r.harness_version),
          html(r.args));
    }
    o += "</tbody></table></div>\n<h2>Verdict changes between consecutive runs</h2>"
         "<p class=\"small muted\">A cell changes in run R when its result there differs from its latest result "
         "before R (cells a run skipped keep their earlier result). Regressions (passing before, not now) first; "
         "flaky results (a re-run disagreed) are marked. New cells are counted above, not listed.</p>";
    filter_form(o, true, false);
    o += "<p class=\"empty-note\" hidden>No changes match these filters.</p><div class=\"filterable\">\n";
    size_t k = 0;
    if (d.changes.empty()) o += "<p>No verdict has changed between runs.</p>";
    while (k < d.changes.size()) {
      const int64_t run = d.changes[k].run_id;
      size_t end = k;
      while (end < d.changes.size() && d.changes[end].run_id == run) ++end;
      put(o, "<section id=\"run-{}\"><h3>{} vs run #{}</h3>", run, run_label(run), d.changes[k].before_run);
      o += "<table class=\"data sortable\"><thead><tr><th>change</th><th>spec</th><th>saved by</th><th>loaded by</th>"
           "<th>before</th><th>after</th><th>flaky</th></tr></thead><tbody>\n";
      for (size_t j = k; j < end && j < k + kMaxChangesPerRun; ++j) {
        const RunChange& ch = d.changes[j];
        const CellKey& key = d.current[ch.cell].cell.key;
        const char b = verdict_letter(ch.before), a = verdict_letter(ch.after);
        put(o, "<tr data-spec=\"{}\" data-p=\"{}\" data-c=\"{}\" data-v=\"{} {}\"><td class=\"kind-{}\" data-sort=\"{}\">{}</td>"
               "<td>{}</td><td>{}</td><td>{}</td><td class=\"vc {}\">{}</td><td class=\"vc {}\"><a href=\"{}\">{}</a></td><td>{}</td></tr>\n",
            html(key.spec), d.rank_of(key.producer), d.consumers[d.cell_consumer[ch.cell]].rank, b, a,
            change_kind_name(ch.kind), static_cast<int>(ch.kind), change_kind_name(ch.kind),
            html(key.spec + (d.grids[d.cell_grid[ch.cell]].label != key.spec
                                 ? " (" + key.device + ", " + key.dtype + ")" : "")),
            html(key.producer), html(key.consumer), b, verdict_name(ch.before), a, html(cell_href(ch.cell, "")),
            verdict_name(ch.after), ch.flaky ? "<span class=\"flaky\">flaky</span>" : "");
      }
      o += "</tbody></table>";
      if (end - k > kMaxChangesPerRun)
        put(o, "<p class=\"note\">{} more changes in this run are not listed here; every cell's page shows its "
               "own history.</p>", end - k - kMaxChangesPerRun);
      o += "</section>\n";
      k = end;
    }
    o += "</div>\n";
    foot(o);
    write("history.html", o);
  }
};

}  // namespace

RenderStats write_html_report(const ReportData& data, const std::string& out_dir) {
  Site s(data, fs::path(out_dir));
  std::error_code ec;
  fs::create_directories(s.dir, ec);
  if (ec) throw Error("cannot create " + out_dir + ": " + ec.message());
  if (fs::exists(s.dir / ".xcompat-report"))
    for (auto sub : {"spec", "upgrade"}) fs::remove_all(s.dir / sub);
  for (auto sub : {"spec", "upgrade", "assets"}) {
    fs::create_directories(s.dir / sub, ec);
    if (ec) throw Error("cannot create " + (s.dir / sub).string() + ": " + ec.message());
  }
  s.write(".xcompat-report", "A report rendered by `xcompat report`; spec/ and upgrade/ are replaced on re-render.\n");
  s.write(fs::path("assets") / "report.css", kReportCss);
  s.write(fs::path("assets") / "report.js", kReportJs);

  s.answers = all_upgrade_answers(data);
  std::set<std::string> used{"index"};
  for (auto& p : data.producers) {
    std::string base = slug(p), sl = base;
    for (int n = 2; used.count(sl); ++n) sl = base + "-" + std::to_string(n);
    used.insert(sl);
    s.upgrade_slug.push_back(sl);
  }

  s.index_page();
  for (size_t g = 0; g < data.grids.size(); ++g) s.spec_page(g);
  for (size_t p = 0; p < data.producers.size(); ++p) s.upgrade_page(p);
  s.upgrade_index();
  s.history_page();

  s.stats.cells = static_cast<int64_t>(data.current.size());
  s.stats.results = data.history_rows;
  s.stats.runs = static_cast<int64_t>(data.runs.size());
  return s.stats;
}

RenderStats write_html_report(Store& store, const std::string& out_dir) {
  return write_html_report(load_report_data(store), out_dir);
}

}  // namespace xcompat::report
