#include "harness/core/compare.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>

#include "harness/core/error.hpp"

namespace xcompat {

namespace {

struct NonFinite {
  int64_t nan = 0, inf = 0;
  bool any() const { return nan || inf; }
  std::string text() const {
    std::string s;
    if (nan) s += fmt::format("{} NaN", nan);
    if (inf) s += fmt::format("{}{} Inf", s.empty() ? "" : " and ", inf);
    return s;
  }
};

NonFinite count_non_finite(const std::vector<double>& v) {
  NonFinite n;
  for (double x : v) {
    if (std::isnan(x)) ++n.nan;
    else if (std::isinf(x)) ++n.inf;
  }
  return n;
}

struct Pass {
  Metrics m;
  bool all_close = true;
};

// One pass over both outputs (already the same shape): every metric, and the
// elementwise closeness test when a tolerance is given.
Pass measure(const std::vector<double>& o, const std::vector<double>& r, const std::vector<int64_t>& shape,
             const Tolerance* tol) {
  Pass p;
  const std::size_t n = o.size();
  double sum_abs = 0, sum_sq_err = 0, sum_sq_ref = 0, dot = 0, sum_sq_out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::fabs(o[i] - r[i]);
    // NaN must poison the maxima (std::max would drop it).
    p.m.max_abs = std::isnan(d) || d > p.m.max_abs ? d : p.m.max_abs;
    const double rel = r[i] != 0 ? d / std::fabs(r[i]) : (d != 0 ? INFINITY : 0.0);
    p.m.max_rel = std::isnan(rel) || rel > p.m.max_rel ? rel : p.m.max_rel;
    sum_abs += d;
    sum_sq_err += d * d;
    sum_sq_ref += r[i] * r[i];
    sum_sq_out += o[i] * o[i];
    dot += o[i] * r[i];
    if (tol && !(d <= tol->atol + tol->rtol * std::fabs(r[i]))) p.all_close = false;
  }
  if (n > 0) {
    p.m.mean_abs = sum_abs / static_cast<double>(n);
    p.m.nmse = sum_sq_ref > 0 ? sum_sq_err / sum_sq_ref : (sum_sq_err > 0 ? INFINITY : sum_sq_err);
    const double denom = std::sqrt(sum_sq_out) * std::sqrt(sum_sq_ref);
    p.m.cosine = denom > 0 ? dot / denom : (sum_sq_err == 0 ? 1.0 : (std::isnan(sum_sq_err) ? NAN : 0.0));
  }
  // top-1 agreement over the last dimension (the vocabulary for logits).
  const int64_t last = shape.empty() ? 1 : shape.back();
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

Metrics compare_outputs(const TensorData& out, const TensorData& ref) {
  if (out.shape != ref.shape)
    throw Error(fmt::format("output shape [{}] differs from the reference's [{}]", fmt::join(out.shape, ", "),
                            fmt::join(ref.shape, ", ")));
  Metrics m = measure(out.to_doubles(), ref.to_doubles(), out.shape, nullptr).m;
  m.bitwise = out.dtype == ref.dtype && out.bytes == ref.bytes;
  return m;
}

Comparison compare_and_judge(const TensorData& out, const TensorData& ref, const Tolerance& tol) {
  Comparison c;
  if (out.shape != ref.shape) {
    c.verdict = Verdict::Drift;
    c.reason = fmt::format("output shape [{}] differs from the reference's [{}]", fmt::join(out.shape, ", "),
                           fmt::join(ref.shape, ", "));
    return c;
  }
  if (out.numel() == 0) {
    c.verdict = Verdict::Error;
    c.reason = fmt::format("nothing to compare: the output is empty (shape [{}])", fmt::join(out.shape, ", "));
    return c;
  }
  const auto o = out.to_doubles(), r = ref.to_doubles();
  if (const NonFinite bad = count_non_finite(r); bad.any()) {
    c.verdict = Verdict::Error;
    c.reason = "the reference output has " + bad.text() + " values: the producer's fixture computes no numbers";
    return c;
  }
  Pass p = measure(o, r, out.shape, &tol);
  p.m.bitwise = out.dtype == ref.dtype && out.bytes == ref.bytes;
  c.metrics = p.m;
  if (out.dtype != ref.dtype) {
    c.verdict = Verdict::Drift;
    c.reason = fmt::format("output dtype {} differs from the reference's {}", dtype_name(out.dtype),
                           dtype_name(ref.dtype));
    return c;
  }
  if (const NonFinite bad = count_non_finite(o); bad.any()) {
    c.verdict = Verdict::Drift;
    c.reason = fmt::format("the output has {} of {} values where the reference has none", bad.text(), o.size());
    return c;
  }
  if (p.m.bitwise) c.verdict = Verdict::Identical;
  else if (p.all_close && p.m.nmse <= tol.nmse) c.verdict = Verdict::Close;
  else c.verdict = Verdict::Drift;
  return c;
}

}  // namespace xcompat
