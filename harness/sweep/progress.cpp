#include "harness/sweep/progress.hpp"

#include <fmt/format.h>

namespace xcompat {

void Progress::cell(const CellResult& c, bool reused) {
  std::lock_guard lock(m_);
  ++done_;
  if (quiet_) return;
  if (bar_) {
    if (done_ % 8 == 0 || done_ == total_) {
      const int width = 30;
      const int filled = static_cast<int>(width * done_ / std::max<int64_t>(total_, 1));
      fmt::print(stderr, "\r[{}{}] {}/{} cells  {:<60.60}", std::string(filled, '#'), std::string(width - filled, '.'),
                 done_, total_, c.line());
      if (done_ == total_) fmt::print(stderr, "\n");
    }
  } else if (!reused) {
    fmt::print(stderr, "[{}/{}] {}\n", done_, total_, c.line());
  }
}

void Progress::note(const std::string& s) {
  std::lock_guard lock(m_);
  if (!quiet_) fmt::print(stderr, "{}{}\n", bar_ ? "\r" : "", s);
}

}  // namespace xcompat
