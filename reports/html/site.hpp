#pragma once
// The frame every page of the HTML report shares (reports/html_report.hpp
// lists the pages): the site's state, the page head and foot, counts, the
// legend, the filter form, grids and links. Each page kind is a class of its
// own file deriving from Frame, so its body reads the frame's members
// directly.
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reports/grid_view.hpp"
#include "reports/html_writer.hpp"
#include "reports/render_stats.hpp"
#include "reports/report_data.hpp"

namespace xcompat::report {

namespace fs = std::filesystem;
using Out = std::string;

template <class... Args>
void put(Out& o, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(o), f, std::forward<Args>(args)...);
}

// A figure as the pages print it (3 significant digits).
std::string num(double v);
// The CSS class of an upgrade answer's overall word.
const char* overall_class(const std::string& overall);

// What every page reads or adds to while the site is written.
struct SiteState {
  const ReportData& d;
  fs::path dir;
  std::string generated;  // the render time, in every footer
  std::map<std::pair<std::string, std::string>, UpgradeAnswer> answers;  // by (from, to)
  std::vector<std::string> upgrade_slug;  // per producer: upgrade/<slug>.html
  RenderStats stats;
};

struct Frame {
  const ReportData& d;
  const fs::path& dir;
  const std::string& generated;
  const std::map<std::pair<std::string, std::string>, UpgradeAnswer>& answers;
  const std::vector<std::string>& upgrade_slug;
  RenderStats& stats;

  explicit Frame(SiteState& s)
      : d(s.d), dir(s.dir), generated(s.generated), answers(s.answers), upgrade_slug(s.upgrade_slug), stats(s.stats) {}

  // Writes one file of the site (rel to dir) and counts it.
  void write(const fs::path& rel, const std::string& content);
  void head(Out& o, const std::string& title, const char* root) const;
  void foot(Out& o) const;
  void counts(Out& o, const VerdictCounts& c) const;
  void legend(Out& o) const;
  void filter_form(Out& o, bool spec_select, bool sort_select) const;
  std::string run_label(int64_t id) const;
  std::string cell_href(int cell, const char* root) const;
  void grid_table(Out& o, const Grid& g, const std::string& href_prefix) const;
  void grid_meta(Out& o, const Grid& g) const;
  const UpgradeAnswer* answer(const std::string& from, const std::string& to) const;
  std::string score_text(const UpgradeAnswer* a) const;
};

}  // namespace xcompat::report
