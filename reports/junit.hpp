#pragma once
// JUnit XML: one test case per cell, so CI systems show the matrix natively.
// Passing verdicts pass; UNSUPPORTED is skipped; the rest fail with the
// cell's line and error text.
#include <string>
#include <vector>

#include "harness/core/cell.hpp"

namespace xcompat {

void write_junit(const std::string& path, const std::vector<CellResult>& cells, const std::string& suite_name);
std::string xml_escape(const std::string& s);

}  // namespace xcompat
