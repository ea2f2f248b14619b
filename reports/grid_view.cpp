#include "reports/grid_view.hpp"

namespace xcompat::report {

GridView::GridView(const ReportData& data, const Grid& grid) : d(data), g(grid) {
  const size_t width = d.consumers.size();
  std::vector<char> col_used(width, 0), row_used(d.producers.size(), 0);
  for (size_t p = 0; p < d.producers.size(); ++p)
    for (size_t c = 0; c < width; ++c)
      if (g.cells[p * width + c] >= 0) col_used[c] = row_used[p] = 1;
  for (size_t p = 0; p < row_used.size(); ++p)
    if (row_used[p]) rows.push_back(p);
  for (size_t c = 0; c < width; ++c)
    if (col_used[c]) cols.push_back(c);
}

}  // namespace xcompat::report
