// spec/<spec>.html: one grid again, then every cell's detail (figures, load report, error, history).
#include "reports/html/site.hpp"

#include <unordered_map>

namespace xcompat::report {

namespace {

constexpr size_t kOpenKeyList = 12;  // key lists up to this long start expanded

struct SpecPage : Frame {
  using Frame::Frame;

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

  // Why the direct path fails, and the converted path: what the conversion
  // did, what B needs, what is lost, how it compared, and the command.
  void conversion_detail(Out& o, const CellResult& c) const {
    if (c.causes.is_array() && !c.causes.empty()) {
      o += "<dt>why</dt><dd><ul class=\"causes\">";
      for (auto& cause : c.causes) {
        const std::string change = cause.value("change", "");
        put(o, "<li><b>{}</b>{} {}</li>", html(cause.value("kind", "")),
            change.empty() ? "" : fmt::format(" <code>{}</code>", html(change)), html(cause.value("detail", "")));
      }
      o += "</ul></dd>";
    }
    if (!c.conversion.is_object()) return;
    const nlohmann::json& v = c.conversion;
    put(o, "<dt>converted</dt><dd>{}", html(c.conversion_line()));
    if (auto m = v.find("metrics"); m != v.end() && m->is_object())
      put(o, "<br><span class=\"figs\">max abs <b>{}</b> &middot; nmse <b>{}</b></span>", num(m->value("max_abs", 0.0)),
          num(m->value("nmse", 0.0)));
    if (!c.convert_command().empty()) put(o, "<br><code>{}</code>", html(c.convert_command()));
    o += "</dd>";
  }

  void cell_detail(Out& o, int i, Seen& seen) const {
    const StoredResult& sr = d.current[i];
    const CellResult& c = sr.cell;
    const int p = d.cell_producer[i], ci = d.cell_consumer[i];
    const ConsumerInfo& cons = d.consumers[ci];
    const char l = verdict_letter(c.verdict);
    put(o, "<article class=\"cell b{0}\" id=\"c{1}-{2}\" data-p=\"{3}\" data-c=\"{4}\" data-v=\"{0}\">", l, p, ci,
        d.rank_of(d.producers[p]), cons.rank);
    put(o, "<h3><span class=\"badge {}\">{}</span> {} &rarr; {} <span class=\"muted\">{}{}</span>{}</h3>", l,
        html(c.path_letters()), html(c.key.producer), html(c.key.consumer), verdict_name(c.verdict),
        c.direct_verdict ? fmt::format(" (direct {})", verdict_name(*c.direct_verdict)) : "",
        c.flaky ? " <span class=\"flaky\">flaky</span>" : "");
    put(o, "<p>{}</p>", html(conclude(c)));
    if (!c.warnings.empty()) {
      std::string list;
      for (auto& w : c.warnings) list += fmt::format("<li><code>{}</code></li>", html(w));
      put(o, "<p class=\"note\">{} warns when imported (a later torch may make these errors):</p><ul>{}</ul>",
          html(c.key.consumer), list);
    }
    if (!c.tolerance_override.empty())
      put(o, "<p class=\"note\">Tolerance override applied: {}</p>", html(c.tolerance_override));
    o += "<dl class=\"kv\">";
    put(o, "<dt>saved by</dt><dd>x-transformers <a href=\"../upgrade/{}.html\">{}</a></dd>", upgrade_slug[p],
        html(c.key.producer));
    put(o, "<dt>loaded by</dt><dd>{} <span class=\"muted\">({} consumer, identity <code>{}</code>)</span></dd>",
        html(cons.name), html(cons.kind), html(cons.version));
    put(o, "<dt>device, dtype, checkpoint</dt><dd>{}, {}, {}</dd>", html(c.key.device), html(c.key.dtype),
        html(c.key.checkpoint));
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
    conversion_detail(o, c);
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

  void render(size_t gi) {
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


};

}  // namespace

void write_spec_page(SiteState& s, size_t grid) { SpecPage(s).render(grid); }

}  // namespace xcompat::report
