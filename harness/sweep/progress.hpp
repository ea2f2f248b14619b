#pragma once
// What a sweep prints while it runs: on a terminal one updating bar, else a
// line per evaluated cell (reused cells are counted, not printed).
#include <cstdint>
#include <mutex>
#include <string>

#include "harness/core/cell.hpp"

namespace xcompat {

class Progress {
 public:
  Progress(int64_t total, bool bar, bool quiet) : total_(total), bar_(bar), quiet_(quiet) {}
  void cell(const CellResult& c, bool reused);
  void note(const std::string& s);

 private:
  std::mutex m_;
  int64_t total_, done_ = 0;
  bool bar_, quiet_;
};

}  // namespace xcompat
