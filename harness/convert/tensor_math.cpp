#include "harness/convert/tensor_math.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "harness/core/error.hpp"

namespace xcompat {

namespace {

bool is_float(DType d) { return d == DType::F32 || d == DType::F64 || d == DType::BF16 || d == DType::F16; }

float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // keep it a (quiet) NaN
  const uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);                 // round to nearest even, as torch does
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) bits = sign;
    else {  // subnormal: normalise
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t mant = x & 0x7FFFFF;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF);
  if (exp == 255) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    uint32_t m = mant | 0x800000;
    const int shift = 14 - e;
    uint32_t half = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = static_cast<uint32_t>(e) << 10 | mant >> 13;
  const uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(sign | half);
}

// Applies f to every element in the tensor's own precision.
template <class F>
void map_elements(TensorData& t, F f) {
  const int64_t n = t.numel();
  std::byte* p = t.bytes.data();
  switch (t.dtype) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, p + 4 * i, 4);
        v = static_cast<float>(f(v));
        std::memcpy(p + 4 * i, &v, 4);
      }
      break;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        v = f(v);
        std::memcpy(p + 8 * i, &v, 8);
      }
      break;
    case DType::BF16:
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        const float v = t.dtype == DType::BF16 ? bf16_to_float(h) : f16_to_float(h);
        const float r = static_cast<float>(f(v));
        h = t.dtype == DType::BF16 ? float_to_bf16(r) : float_to_f16(r);
        std::memcpy(p + 2 * i, &h, 2);
      }
      break;
    default:
      throw Error(fmt::format("a conversion does arithmetic only on floating tensors, not {}", dtype_name(t.dtype)));
  }
}

}  // namespace

TensorData filled(DType dtype, const std::vector<int64_t>& shape, double value) {
  TensorData t;
  t.dtype = dtype;
  t.shape = shape;
  t.bytes.assign(static_cast<std::size_t>(t.numel()) * dtype_size(dtype), std::byte{0});
  if (value != 0) map_elements(t, [value](double) { return value; });
  return t;
}

TensorData concatenate_rows(const std::vector<TensorData>& parts) {
  TensorData out = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const TensorData& p = parts[i];
    if (p.dtype != out.dtype || p.shape.size() != out.shape.size() ||
        !std::equal(p.shape.begin() + 1, p.shape.end(), out.shape.begin() + 1))
      throw Error("tensors concatenated along their first dimension must agree in dtype and the other dimensions");
    out.shape[0] += p.shape[0];
    out.bytes.insert(out.bytes.end(), p.bytes.begin(), p.bytes.end());
  }
  return out;
}

void apply_step(TensorData& t, const TensorStep& step) {
  switch (step.kind) {
    case TensorStep::AddConstant: {
      const float c = static_cast<float>(step.value);
      if (t.dtype == DType::F64) map_elements(t, [v = step.value](double x) { return x + v; });
      else map_elements(t, [c](double x) { return static_cast<double>(static_cast<float>(x) + c); });
      break;
    }
    case TensorStep::Scale: {
      const float c = static_cast<float>(step.value);
      if (t.dtype == DType::F64) map_elements(t, [v = step.value](double x) { return x * v; });
      else map_elements(t, [c](double x) { return static_cast<double>(static_cast<float>(x) * c); });
      break;
    }
    case TensorStep::PermuteRows: {
      // Within each head's first `rot` rows (axis 0) or entries of the last
      // axis (axis 1 of a projection, axis 2 of memory keys [heads, n, d]):
      // halves (j, j + rot/2) become neighbours (2j, 2j + 1); the inverse
      // undoes it. A last-axis permutation moves the same slots in every row.
      const int64_t last = t.shape.back();
      const int64_t rows = step.axis == 0 ? t.shape.at(0) : t.numel() / std::max<int64_t>(last, 1);
      const int64_t slots = step.axis == 0 ? rows : last;
      const int64_t per_head = slots / step.heads, half = step.rot / 2;
      const std::size_t row_bytes = t.bytes.size() / static_cast<std::size_t>(rows);
      const std::size_t slot_bytes = step.axis == 0 ? row_bytes : dtype_size(t.dtype);
      const std::size_t stride = step.axis == 0 ? 0 : row_bytes;  // per row, for the last axis
      const int64_t repeats = step.axis == 0 ? 1 : rows;
      std::vector<std::byte> out = t.bytes;
      for (int64_t r = 0; r < repeats; ++r)
        for (int64_t h = 0; h < step.heads; ++h)
          for (int64_t j = 0; j < half; ++j)
            for (int pair = 0; pair < 2; ++pair) {
              const int64_t halves = h * per_head + j + pair * half, pairs = h * per_head + 2 * j + pair;
              const int64_t dst = step.inverse ? halves : pairs, src = step.inverse ? pairs : halves;
              std::memcpy(out.data() + r * stride + dst * slot_bytes, t.bytes.data() + r * stride + src * slot_bytes,
                          slot_bytes);
            }
      t.bytes = std::move(out);
      break;
    }
    case TensorStep::Reshape: {
      if (checked_numel(step.shape).value_or(-1) != t.numel())
        throw Error(fmt::format("cannot reshape [{}] to [{}]", fmt::join(t.shape, ", "), fmt::join(step.shape, ", ")));
      t.shape = step.shape;
      break;
    }
    case TensorStep::Tile: {
      // The whole tensor, again and again, until `shape` is full: a scale
      // shared by the heads, held once per head.
      const auto n = checked_numel(step.shape).value_or(-1);
      if (t.numel() <= 0 || n <= 0 || n % t.numel() != 0)
        throw Error(fmt::format("cannot tile [{}] into [{}]", fmt::join(t.shape, ", "), fmt::join(step.shape, ", ")));
      std::vector<std::byte> out;
      out.reserve(t.bytes.size() * static_cast<std::size_t>(n / t.numel()));
      for (int64_t c = 0; c < n / t.numel(); ++c) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
      t.bytes = std::move(out);
      t.shape = step.shape;
      break;
    }
    case TensorStep::FirstCopy: {
      const auto n = checked_numel(step.shape).value_or(-1);
      if (n <= 0 || t.numel() % n != 0)
        throw Error(fmt::format("[{}] holds no whole copies of [{}]", fmt::join(t.shape, ", "), fmt::join(step.shape, ", ")));
      t.bytes.resize(static_cast<std::size_t>(n) * dtype_size(t.dtype));
      t.shape = step.shape;
      break;
    }
    case TensorStep::Trim:
    case TensorStep::Pad: {
      // [outer, n, inner] along the axis: keep the first n - count entries,
      // or append count entries of the fill.
      const std::size_t esize = dtype_size(t.dtype);
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < step.axis; ++d) outer *= t.shape.at(d);
      for (std::size_t d = step.axis + 1; d < t.shape.size(); ++d) inner *= t.shape[d];
      const int64_t n = t.shape.at(step.axis), m = step.kind == TensorStep::Trim ? n - step.count : n + step.count;
      const std::size_t in_block = static_cast<std::size_t>(n * inner) * esize, out_block = static_cast<std::size_t>(m * inner) * esize;
      const std::size_t kept = std::min(in_block, out_block);
      TensorData fill = filled(t.dtype, {std::max<int64_t>(m - n, 0) * inner}, step.value);
      std::vector<std::byte> out(static_cast<std::size_t>(outer) * out_block);
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(out.data() + o * out_block, t.bytes.data() + o * in_block, kept);
        if (out_block > kept) std::memcpy(out.data() + o * out_block + kept, fill.bytes.data(), out_block - kept);
      }
      t.bytes = std::move(out);
      t.shape[step.axis] = m;
      break;
    }
    case TensorStep::AddProduct:
      throw Error("a fold's product needs its operands: run_conversion materialises them");
    case TensorStep::Rows: {
      const int64_t rows = t.shape.at(0);
      const std::size_t row_bytes = t.bytes.size() / static_cast<std::size_t>(rows);
      std::vector<std::byte> out(t.bytes.begin() + step.row_begin * row_bytes, t.bytes.begin() + step.row_end * row_bytes);
      t.bytes = std::move(out);
      t.shape[0] = step.row_end - step.row_begin;
      break;
    }
  }
}

void add_product(TensorData& t, const TensorData& matrix, const TensorData& vector) {
  const int64_t n = t.numel(), m = vector.numel();
  if (t.shape.size() != 1 || vector.shape.size() != 1 || matrix.shape != std::vector<int64_t>{n, m})
    throw Error(fmt::format("a fold adds a [{}] matrix times a [{}] vector to a [{}] tensor: the shapes do not fit",
                            fmt::join(matrix.shape, ", "), fmt::join(vector.shape, ", "), fmt::join(t.shape, ", ")));
  const std::vector<double> w = matrix.to_doubles(), v = vector.to_doubles();
  std::vector<double> sum(static_cast<std::size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) sum[i] += w[i * m + j] * v[j];
  int64_t i = 0;
  map_elements(t, [&](double x) { return x + sum[i++]; });
}

double max_abs_difference(const TensorData& t, double value) {
  if (!is_float(t.dtype)) {
    double worst = 0;
    for (double v : t.to_doubles()) worst = std::max(worst, std::fabs(v - value));
    return worst;
  }
  double worst = 0;
  for (double v : t.to_doubles()) {
    const double d = std::fabs(v - value);
    if (std::isnan(d)) return NAN;
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace xcompat
