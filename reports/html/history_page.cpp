// history.html: the runs, and every verdict change between consecutive runs (regressions first).
#include "reports/html/site.hpp"

namespace xcompat::report {

namespace {

constexpr size_t kMaxChangesPerRun = 1000;  // history.html lists at most this many per run

struct HistoryPage : Frame {
  using Frame::Frame;

  void render() {
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
            html(d.grids[d.cell_grid[ch.cell]].label),
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

void write_history_page(SiteState& s) { HistoryPage(s).render(); }

}  // namespace xcompat::report
