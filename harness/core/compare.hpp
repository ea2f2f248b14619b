#pragma once
// Output comparison: one reference, every consumer judged by the same code
// (each consumer's worker calls it through judge_cell_output()).
//
// In this order, before any figure is trusted:
//   1. shapes differ            -> DRIFT  (no metrics: nothing lines up)
//   2. nothing to compare       -> ERROR  (an empty output)
//   3. the reference is not finite -> ERROR (the fixture itself computes NaN/Inf)
//   4. dtypes differ            -> DRIFT  (metrics measured, never IDENTICAL or CLOSE)
//   5. the output is not finite -> DRIFT  (NaN or Inf anywhere, counted;
//                                          NaN where the reference has NaN too
//                                          is still NaN: assert_close's equal_nan=False)
//   6. bitwise equal            -> IDENTICAL
//   7. every element within atol + rtol * |ref| (torch.testing.assert_close's
//      rule) and nmse <= the bound -> CLOSE
//   8. otherwise                -> DRIFT
// Every DRIFT and ERROR from steps 1-5 carries a one-line reason.
#include <optional>
#include <string>

#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

struct Comparison {
  Verdict verdict = Verdict::Error;
  std::optional<Metrics> metrics;  // absent when shapes differ or there is nothing to compare
  std::string reason;              // why, for the verdicts of steps 1-5
};

Comparison compare_and_judge(const TensorData& out, const TensorData& ref, const Tolerance& tol);

// Metrics of `out` against `ref` (any float dtypes, compared in double; the
// shapes must be equal). Non-finite figures stay non-finite.
Metrics compare_outputs(const TensorData& out, const TensorData& ref);

}  // namespace xcompat
