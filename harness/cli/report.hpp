#pragma once
// `xcompat report`: render the matrix database as a static HTML site
// (index.html, spec/, upgrade/, history.html) or as COMPATIBILITY.md.
#include <string>

#include "harness/cli/commands.hpp"

namespace xcompat::cli {

// format: "html" (default) or "markdown" ("md"). Prints the path of index.html
// (or COMPATIBILITY.md) and the render time.
int report(const Common& c, const std::string& out_dir, const std::string& format);

}  // namespace xcompat::cli
