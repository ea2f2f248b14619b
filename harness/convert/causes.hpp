#pragma once
// Why a cell's direct path does not pass, told by the release history: each
// cause has a kind, the change that explains it (when one does), and a
// detail. "unexplained" means the history does not account for what the
// cell shows: a gap in matrix/history.toml to fill, never a guess.
//
//   renamed      keys the chain renames (missing under the new name, unexpected under the old)
//   removed      parameters B no longer has
//   added        parameters B has and A did not
//   reshaped     a tensor the chain reorders or reshapes
//   computation  same keys, a change of what is computed (numeric or behaviour)
//   argument     B computes as A only given constructor arguments
//   rounding     the same function, other rounding
//   refused      the chain cannot be planned (an unbisected boundary, ...)
//   error        the cell raised or crashed
//   unbuildable  the reader cannot build the model the checkpoint holds
//   baked-in     a deployment artifact computes as the release only on the
//                inputs it was traced or exported on
//   environment  the machine failed (a full disk, no compiler): retried, never cached
//   unexplained  nothing in the chain accounts for it
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"
#include "harness/core/cell.hpp"

namespace xcompat {

struct Cause {
  std::string kind, change, detail;
  nlohmann::json to_json() const;
};

// `plan` is the conversion from the cell's producer to its consumer, planned
// on the producer's tensors.
std::vector<Cause> explain_cell(const ReleaseHistory& history, const CellResult& direct, const ConversionPlan& plan);

nlohmann::json causes_json(const std::vector<Cause>& causes);
// "renamed (ff-net-renamed-ff), computation (norm-unit-offset)": one line.
std::string causes_line(const nlohmann::json& causes);

}  // namespace xcompat
