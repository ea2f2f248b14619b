// The comparison every consumer is judged by.
#include <cmath>
#include <cstring>

#include "catch.hpp"
#include "harness/core/compare.hpp"

using namespace xcompat;

namespace {
TensorData f32(std::vector<int64_t> shape, std::vector<float> v) {
  TensorData t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.bytes.resize(v.size() * 4);
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}
Tolerance f32_default() { return Tolerance{1.3e-6, 1e-5, 1e-9, ""}; }
}  // namespace

TEST_CASE("identical outputs are IDENTICAL with zero error", "[unit]") {
  auto a = f32({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  auto c = compare_and_judge(a, a, f32_default());
  CHECK(c.verdict == Verdict::Identical);
  CHECK(c.metrics->max_abs == 0);
  CHECK(c.metrics->nmse == 0);
  CHECK(c.metrics->top1 == 1);
  CHECK(c.metrics->cosine == Approx(1.0));
}

TEST_CASE("a tiny difference within atol is CLOSE, not IDENTICAL", "[unit]") {
  auto ref = f32({1, 4}, {1, 2, 3, 4});
  auto out = f32({1, 4}, {1, 2, 3, 4.000001f});
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Close);
  CHECK(c.metrics->max_abs > 0);
  CHECK(nmse_band(c.metrics->nmse) == "<1e-6");
}

TEST_CASE("a difference beyond tolerance is DRIFT, with top-1 measured per row", "[unit]") {
  auto ref = f32({2, 3}, {0, 1, 0, 5, 0, 0});
  auto out = f32({2, 3}, {0, 1, 0, 0, 0, 5});  // row 1's argmax moved
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK(c.metrics->top1 == Approx(0.5));
  CHECK(c.metrics->max_abs == Approx(5));
  CHECK(nmse_band(c.metrics->nmse) == "worse");
}

TEST_CASE("the NMSE bound can fail a cell that passes the elementwise test", "[unit]") {
  auto ref = f32({1, 2}, {1000, 1000});
  auto out = f32({1, 2}, {1000.001f, 1000.001f});  // within rtol*|ref|, but nmse ~1e-12
  Tolerance tight = f32_default();
  tight.nmse = 1e-15;
  CHECK(compare_and_judge(out, ref, f32_default()).verdict == Verdict::Close);
  CHECK(compare_and_judge(out, ref, tight).verdict == Verdict::Drift);
}

TEST_CASE("NaN is never CLOSE", "[unit]") {
  auto ref = f32({1, 2}, {1, 2});
  auto out = f32({1, 2}, {1, NAN});
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK_THAT(c.reason, Catch::Contains("1 NaN"));
  REQUIRE(c.metrics);
  CHECK(std::isnan(c.metrics->max_abs));  // carried, not dropped
  CHECK(std::isnan(c.metrics->nmse));
}

TEST_CASE("NaN in the same places as NaN is not IDENTICAL: the reference is broken", "[unit]") {
  auto out = f32({1, 2}, {1, NAN});
  auto c = compare_and_judge(out, out, f32_default());  // bitwise equal bytes
  CHECK(c.verdict == Verdict::Error);
  CHECK_THAT(c.reason, Catch::Contains("reference output has 1 NaN"));
}

TEST_CASE("Inf in the output is DRIFT, named", "[unit]") {
  auto ref = f32({1, 3}, {1, 2, 3});
  auto out = f32({1, 3}, {INFINITY, 2, -INFINITY});
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK_THAT(c.reason, Catch::Contains("2 Inf"));
  CHECK(std::isinf(c.metrics->max_abs));
}

TEST_CASE("a zero reference with any difference has an infinite relative error", "[unit]") {
  auto ref = f32({1, 2}, {0, 1});
  auto out = f32({1, 2}, {1e-3f, 1});
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK(std::isinf(c.metrics->max_rel));
}

TEST_CASE("a shape mismatch is DRIFT with a reason and no figures", "[unit]") {
  auto ref = f32({1, 2}, {1, 2});
  auto out = f32({2, 1}, {1, 2});
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK_THAT(c.reason, Catch::Contains("shape"));
  CHECK(!c.metrics);
  CHECK_THROWS_WITH(compare_outputs(out, ref), Catch::Contains("shape"));
}

TEST_CASE("empty outputs are not IDENTICAL: there is nothing to compare", "[unit]") {
  auto empty = f32({2, 0}, {});
  auto c = compare_and_judge(empty, empty, f32_default());
  CHECK(c.verdict == Verdict::Error);
  CHECK_THAT(c.reason, Catch::Contains("empty"));
}

TEST_CASE("outputs of different dtypes are never IDENTICAL or CLOSE", "[unit]") {
  auto ref = f32({1, 2}, {1, 2});
  TensorData out;  // the same values, in bfloat16
  out.dtype = DType::BF16;
  out.shape = {1, 2};
  uint16_t v[2] = {0x3f80, 0x4000};  // 1.0, 2.0
  out.bytes.resize(4);
  std::memcpy(out.bytes.data(), v, 4);
  auto c = compare_and_judge(out, ref, f32_default());
  CHECK(c.verdict == Verdict::Drift);
  CHECK_THAT(c.reason, Catch::Contains("dtype BF16"));
  CHECK(c.metrics->max_abs == 0);  // measured all the same
}

TEST_CASE("bf16 tensors widen exactly", "[unit]") {
  TensorData t;
  t.dtype = DType::BF16;
  t.shape = {2};
  uint16_t v[2] = {0x3f80, 0xc000};  // 1.0, -2.0
  t.bytes.resize(4);
  std::memcpy(t.bytes.data(), v, 4);
  auto d = t.to_doubles();
  CHECK(d[0] == 1.0);
  CHECK(d[1] == -2.0);
}

TEST_CASE("verdict names round-trip and only IDENTICAL/CLOSE/CONVERTED pass", "[unit]") {
  for (auto v : {Verdict::Identical, Verdict::Close, Verdict::Converted, Verdict::Drift, Verdict::LoadFail,
                 Verdict::Error, Verdict::Unsupported}) {
    CHECK(verdict_from_name(verdict_name(v)) == v);
    CHECK(verdict_passes(v) == (v == Verdict::Identical || v == Verdict::Close || v == Verdict::Converted));
  }
}
