#pragma once
// JUnit XML: one test case per cell, so CI systems show the matrix natively.
// Passing verdicts pass; UNSUPPORTED is skipped; a failing cell that the
// baseline expects (failing in the previous run too, or a known break not
// yet expired: reports/known_breaks.hpp) is skipped with the cause; the rest
// (regressions, new failures, expired known breaks) fail with the cell's line
// and error text.
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "reports/known_breaks.hpp"

namespace xcompat {

void write_junit(const std::string& path, const std::vector<CellResult>& cells, const std::string& suite_name,
                 const JunitBaseline& baseline = {});
std::string xml_escape(const std::string& s);

}  // namespace xcompat
