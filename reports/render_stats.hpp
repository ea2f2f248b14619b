#pragma once
// What a renderer wrote: shown by `xcompat report` and its --json.
#include <cstdint>
#include <string>

namespace xcompat::report {

struct RenderStats {
  std::string main_path;  // index.html or COMPATIBILITY.md
  int64_t files = 0, bytes = 0, cells = 0, results = 0, runs = 0;
};

}  // namespace xcompat::report
