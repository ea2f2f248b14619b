#pragma once
// One grid (a spec at a device and dtype) as both reports draw it: the rows
// (producers) and columns (consumers) that hold at least one cell, in order.
// The HTML and Markdown renderers walk the same view.
#include <cstdint>
#include <vector>

#include "reports/report_data.hpp"

namespace xcompat::report {

struct GridView {
  const ReportData& d;
  const Grid& g;
  std::vector<size_t> rows;  // producer indices
  std::vector<size_t> cols;  // consumer indices

  GridView(const ReportData& data, const Grid& grid);
  // Index into ReportData::current, or -1 when the cell has no result.
  int32_t cell(size_t producer, size_t consumer) const { return g.cells[producer * d.consumers.size() + consumer]; }
};

}  // namespace xcompat::report
