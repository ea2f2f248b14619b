#pragma once
// `xcompat report`: render the matrix database as a static HTML site
// (index.html, spec/, upgrade/, history.html) or as COMPATIBILITY.md.
#include <string>

#include "harness/cli/commands.hpp"

namespace xcompat::cli {

// format: "html" (default) or "markdown" ("md"). Prints the path of index.html
// (or COMPATIBILITY.md) and the render time.
// With `section`, prints that generated Markdown section to stdout instead.
int report(const Common& c, const std::string& out_dir, const std::string& format, const std::string& section);

}  // namespace xcompat::cli
