#pragma once
// The upgrade answer: "I have checkpoints from release A; can I move to B?"
// Read from the store's current matrix; shared by `xcompat query` and the
// report's upgrade pages.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/store.hpp"

namespace xcompat {

struct UpgradeRow {
  CellResult cell;
  std::string conclusion;  // one line: safe / safe within tolerance / breaks, and why
};

struct UpgradeAnswer {
  std::string from, to;
  std::vector<UpgradeRow> rows;
  int comparable = 0;  // specs both releases support
  int passing = 0;     // of those, IDENTICAL or CLOSE (or CONVERTED)
  bool any_load_fail = false;
  double score() const { return comparable ? static_cast<double>(passing) / comparable : 0.0; }
  // "safe", "safe within tolerance", "safe after conversion" (every spec
  // passes, some only converted), "breaks", "no data"
  std::string overall;
  nlohmann::json to_json() const;
};

std::string conclude(const CellResult& c);
// The answer's counts and overall verdict only (no rows): the report's
// upgrade pages, over every pair.
UpgradeAnswer upgrade_summary(const std::vector<const CellResult*>& cells, const std::string& from,
                              const std::string& to);
// One release's checkpoints loaded by the same release under another torch
// (`across`), against the same cells within the saving torch (`within`): a
// cell that does not pass there either is the release's own failure, not the
// torch upgrade's. Used by `query --torch-from/--torch-to` and the report.
struct TorchUpgrade {
  struct Change {
    CellKey key;
    std::optional<Verdict> before;  // within the saving torch, if swept
    Verdict after = Verdict::Error;
  };
  int passing = 0, failing_as_before = 0;
  std::vector<Change> changed;
  std::string verdict() const;  // "keeps every spec" or "changes N cell(s)"
};
TorchUpgrade compare_across_torches(const std::vector<const CellResult*>& across,
                                    const std::vector<const CellResult*>& within);

UpgradeAnswer upgrade_answer(const std::vector<StoredResult>& matrix, const std::string& from, const std::string& to,
                             const std::string& spec = "");

}  // namespace xcompat
