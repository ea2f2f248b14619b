// index.html: the overview. Per spec a producer x consumer grid, the counts, the latest run's changes and the links to the upgrade pages.
#include "reports/html/site.hpp"

namespace xcompat::report {

namespace {

struct IndexPage : Frame {
  using Frame::Frame;

  void render() {
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


};

}  // namespace

void write_index_page(SiteState& s) { IndexPage(s).render(); }

}  // namespace xcompat::report
