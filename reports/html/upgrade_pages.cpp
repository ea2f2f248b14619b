// upgrade/index.html (every (from, to) score, support windows) and upgrade/<release>.html ("coming from <release>").
#include "reports/html/site.hpp"

#include <algorithm>

namespace xcompat::report {

namespace {

struct UpgradePages : Frame {
  using Frame::Frame;

  static bool full_pass(const UpgradeAnswer* a) { return a && a->comparable > 0 && a->passing == a->comparable; }

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
        put(o, "<td class=\"{} vc\"><a href=\"../{}\">{}{}</a></td>", l, html(cell_href(i, "")),
            html(c.path_letters()), c.flaky ? "*" : "");
      }
      o += "</tr>\n";
    }
    o += "</tbody></table></div>\n";
  }

  void render_page(size_t p) {
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

  void render_index() {
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
                          : a->overall == "safe after conversion" ? "V"
                          : a->overall == "safe with an adapter" ? "A"
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


};

}  // namespace

void write_upgrade_page(SiteState& s, size_t producer) { UpgradePages(s).render_page(producer); }
void write_upgrade_index(SiteState& s) { UpgradePages(s).render_index(); }

}  // namespace xcompat::report
