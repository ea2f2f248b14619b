#pragma once
// Output comparison: one reference, every consumer judged by the same code.
#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// Metrics of `out` against `ref` (any float dtypes; compared in double).
// Throws Error when the shapes differ.
Metrics compare_outputs(const TensorData& out, const TensorData& ref);

// IDENTICAL when bitwise equal; CLOSE when every element satisfies
// |out - ref| <= atol + rtol * |ref| (torch.testing.assert_close's rule) and
// nmse <= tolerance.nmse; DRIFT otherwise. NaN anywhere is DRIFT.
Verdict judge(const Metrics& m, bool all_close, const Tolerance& tol);

// compare_outputs + the elementwise closeness test + judge, in one pass.
struct Comparison {
  Metrics metrics;
  Verdict verdict;
};
Comparison compare_and_judge(const TensorData& out, const TensorData& ref, const Tolerance& tol);

}  // namespace xcompat
