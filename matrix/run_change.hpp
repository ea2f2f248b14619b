#pragma once
// How a cell's verdict changed from one result to the next: the one
// classification behind the sweep's regressions (exit 3), `xcompat diff` and
// the report's history.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "matrix/store.hpp"

namespace xcompat {

// Regressed: passing before, not passing now. Fixed: the reverse. Changed:
// another verdict of the same side. Flaky: the same verdict, but the result
// is flagged flaky (a re-run disagreed). New: the cell had no result before.
enum class ChangeKind { Regressed, Fixed, Changed, Flaky, New };
const char* change_kind_name(ChangeKind k);  // "regressed", ...

// Nothing (no change to show) when the verdict is the same and not flaky.
std::optional<ChangeKind> classify(std::optional<Verdict> before, Verdict after, bool flaky);

struct CellChange {
  CellKey key;
  ChangeKind kind = ChangeKind::Changed;
  std::optional<Verdict> before;
  Verdict after = Verdict::Error;
  bool flaky = false;
  std::string before_name() const { return before ? verdict_name(*before) : ""; }
};

// The cells whose verdict differs between two views of the matrix. `changed`
// also holds new cells (no result before); `flaky` holds the cells flagged
// flaky by a run after `before_run`, whatever their verdict did.
struct MatrixDiff {
  std::vector<CellChange> regressed, fixed, changed, flaky;
};
MatrixDiff diff_matrices(const std::vector<StoredResult>& before, const std::vector<StoredResult>& after,
                         int64_t before_run);
// diff_matrices of the matrix as of two runs.
MatrixDiff diff_runs(Store& store, int64_t before_run, int64_t after_run);

}  // namespace xcompat
