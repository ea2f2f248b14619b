#pragma once
// The converted path of a cell. A release consumer whose direct verdict is
// LOAD_FAIL or DRIFT gets a second chance: the producer's checkpoint is
// converted to the consumer's release with the release history (written once
// into <state>/converted/, content-addressed), the consumer builds the spec
// with the arguments the conversion names, loads the converted file strictly,
// runs A's inputs and is judged against A's outputs. CONVERTED when that
// passes; otherwise the direct verdict stands, with what the conversion said
// (lossy, refused, or an unexplained mismatch: a gap in the history).
// Either way the direct path's causes are classified.
#include <string>

#include "fixtures/fixture_phase.hpp"
#include "harness/convert/history.hpp"
#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"
#include "harness/sweep/plan.hpp"
#include "harness/worker/worker_process.hpp"

namespace xcompat {

// True for the cells that get a converted path (a release consumer reading
// another release's checkpoint that does not pass as it is).
bool wants_conversion(const PlannedCell& cell, const CellResult& direct);

// The identity of the chain of changes between the cell's producer and
// consumer (part of the cell's cache key): every crossed entry as written,
// the history's `width` and the converter's sources. Editing one field of one
// entry re-evaluates exactly the release consumers' cells whose chain crosses
// it (tests/release/test_verdict_truth.cpp). cpp-native cells follow the whole
// history file (the port's identity): the port reads entries by id.
std::string conversion_identity(const ReleaseHistory& history, const PlannedCell& cell);

// Completes `result` (the direct outcome) with its causes and converted
// path. `worker` is the consumer's.
void add_converted_path(CellResult& result, const PlannedCell& cell, const Fixture& producer_fixture,
                        const ReleaseHistory& history, WorkerProcess& worker, const Tolerance& tol,
                        std::chrono::milliseconds timeout);

}  // namespace xcompat
