#pragma once
// The arithmetic a conversion does on tensor bytes, in the tensor's own dtype
// as torch would (float32 in float, bfloat16 and float16 computed in float
// and rounded to nearest even), so that `gamma - 1` written here reads back in
// the release as the same bits torch would have made.
#include <vector>

#include "harness/convert/conversion.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

TensorData filled(DType dtype, const std::vector<int64_t>& shape, double value);
// Along dim 0; every part has the same trailing dimensions and dtype.
TensorData concatenate_rows(const std::vector<TensorData>& parts);
// Every step but AddProduct, whose operands the caller materialises.
void apply_step(TensorData& t, const TensorStep& step);
// t + matrix @ vector (a fold): t is [n], matrix [n, m], vector [m]; the sum
// is taken in double and rounded once to t's dtype.
void add_product(TensorData& t, const TensorData& matrix, const TensorData& vector);
// The largest |x - value| over the tensor (0 for an empty one; NaN if any is NaN).
double max_abs_difference(const TensorData& t, double value);

}  // namespace xcompat
