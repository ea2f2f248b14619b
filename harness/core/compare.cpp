#include "harness/core/compare.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>

#include "harness/core/error.hpp"

namespace xcompat {

namespace {

struct Pass {
  Metrics m;
  bool all_close = true;
};

Pass measure(const TensorData& out, const TensorData& ref, const Tolerance* tol) {
  if (out.shape != ref.shape)
    throw Error(fmt::format("output shape [{}] differs from the reference's [{}]", fmt::join(out.shape, ", "),
                            fmt::join(ref.shape, ", ")));
  Pass p;
  p.m.bitwise = out.dtype == ref.dtype && out.bytes.size() == ref.bytes.size() &&
                std::memcmp(out.bytes.data(), ref.bytes.data(), out.bytes.size()) == 0;
  const auto o = out.to_doubles(), r = ref.to_doubles();
  const std::size_t n = o.size();
  double sum_abs = 0, sum_sq_err = 0, sum_sq_ref = 0, dot = 0, sum_sq_out = 0;
  bool nan = false;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::fabs(o[i] - r[i]);
    if (std::isnan(d)) nan = true;
    p.m.max_abs = std::max(p.m.max_abs, d);
    if (r[i] != 0) p.m.max_rel = std::max(p.m.max_rel, d / std::fabs(r[i]));
    else if (d != 0) p.m.max_rel = INFINITY;
    sum_abs += d;
    sum_sq_err += d * d;
    sum_sq_ref += r[i] * r[i];
    sum_sq_out += o[i] * o[i];
    dot += o[i] * r[i];
    if (tol && !(d <= tol->atol + tol->rtol * std::fabs(r[i]))) p.all_close = false;
  }
  if (n > 0) {
    p.m.mean_abs = sum_abs / static_cast<double>(n);
    p.m.nmse = sum_sq_ref > 0 ? sum_sq_err / sum_sq_ref : (sum_sq_err > 0 ? INFINITY : 0);
    const double denom = std::sqrt(sum_sq_out) * std::sqrt(sum_sq_ref);
    p.m.cosine = denom > 0 ? dot / denom : (sum_sq_err == 0 ? 1.0 : 0.0);
  }
  if (nan) {
    p.m.max_abs = p.m.nmse = NAN;
    p.all_close = false;
  }
  // top-1 agreement over the last dimension (the vocabulary for logits).
  const int64_t last = out.shape.empty() ? 1 : out.shape.back();
  if (last > 0 && n > 0) {
    const std::size_t rows = n / static_cast<std::size_t>(last);
    std::size_t agree = 0;
    for (std::size_t row = 0; row < rows; ++row) {
      std::size_t best_o = 0, best_r = 0;
      for (std::size_t j = 1; j < static_cast<std::size_t>(last); ++j) {
        if (o[row * last + j] > o[row * last + best_o]) best_o = j;
        if (r[row * last + j] > r[row * last + best_r]) best_r = j;
      }
      agree += best_o == best_r;
    }
    p.m.top1 = static_cast<double>(agree) / static_cast<double>(rows);
  }
  return p;
}

}  // namespace

Metrics compare_outputs(const TensorData& out, const TensorData& ref) { return measure(out, ref, nullptr).m; }

Verdict judge(const Metrics& m, bool all_close, const Tolerance& tol) {
  if (m.bitwise) return Verdict::Identical;
  if (all_close && !std::isnan(m.nmse) && m.nmse <= tol.nmse) return Verdict::Close;
  return Verdict::Drift;
}

Comparison compare_and_judge(const TensorData& out, const TensorData& ref, const Tolerance& tol) {
  auto p = measure(out, ref, &tol);
  return {p.m, judge(p.m, p.all_close, tol)};
}

}  // namespace xcompat
