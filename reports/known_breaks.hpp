#pragma once
// What CI expects to fail, so that JUnit fails only on news (the way
// PyTorch's forward/backward-compatibility allowlist works): the previous
// run's failing cells, and matrix/known_breaks.toml, a checked-in list of
// breaks each with a reason and an expiry date. A failing cell that one of
// them expects is reported as skipped with the cause; a regression, a new
// failure or a break past its expiry date is a failure.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"

namespace xcompat {

struct KnownBreak {
  std::string spec = "*", producer = "*", consumer = "*";  // "*" matches any
  std::string reason;
  std::string expires;  // "YYYY-MM-DD": from that day on the break is a failure again

  bool matches(const CellKey& key) const;
  bool expired(const std::string& today) const { return today >= expires; }
};

// Throws Error naming the file and entry on a missing reason, a malformed
// date or an unknown field. A file that does not exist is an empty list.
std::vector<KnownBreak> load_known_breaks(const std::filesystem::path& path);

// What a JUnit report compares each cell with.
struct JunitBaseline {
  int64_t before_run = 0;                  // 0: no previous run
  std::map<CellKey, Verdict> before;       // the previous run's verdicts
  std::vector<KnownBreak> known;
  std::string today;                       // "YYYY-MM-DD", UTC
};

// Today's date in UTC, "YYYY-MM-DD".
std::string utc_today();

// How JUnit reports one failing cell: skipped (expected, with why) or a
// failure (with why it is news).
struct Expectation {
  bool expected = false;
  std::string why;
};
Expectation expectation_of(const CellResult& cell, const JunitBaseline& baseline);

}  // namespace xcompat
