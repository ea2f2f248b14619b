#pragma once
// The page kinds of the HTML report, one file each (reports/html/*.cpp).
#include <cstddef>

#include "reports/html/site.hpp"

namespace xcompat::report {

void write_index_page(SiteState& s);
void write_spec_page(SiteState& s, size_t grid);
void write_upgrade_page(SiteState& s, size_t producer);
void write_upgrade_index(SiteState& s);
void write_history_page(SiteState& s);

}  // namespace xcompat::report
