#include "harness/core/tensor.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace xcompat {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "F64" || n == "float64") return DType::F64;
  if (n == "F32" || n == "float32") return DType::F32;
  if (n == "F16" || n == "float16") return DType::F16;
  if (n == "BF16" || n == "bfloat16") return DType::BF16;
  if (n == "I64" || n == "int64") return DType::I64;
  if (n == "I32" || n == "int32") return DType::I32;
  if (n == "I16" || n == "int16") return DType::I16;
  if (n == "I8" || n == "int8") return DType::I8;
  if (n == "U8" || n == "uint8") return DType::U8;
  if (n == "BOOL" || n == "bool") return DType::Bool;
  throw std::runtime_error("unknown dtype '" + n + "'");
}

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape)
    if (s < 0 || __builtin_mul_overflow(n, s, &n)) return std::nullopt;
  return n;
}

int64_t TensorData::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

namespace {
double half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0) v = std::ldexp(static_cast<double>(mant), -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<double>(mant | 0x400), exp - 25);
  return sign ? -v : v;
}
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace

std::vector<double> TensorData::to_doubles() const {
  const auto n = static_cast<std::size_t>(numel());
  const std::size_t es = dtype_size(dtype);
  if (bytes.size() != n * es)
    throw std::runtime_error("tensor holds " + std::to_string(bytes.size()) + " bytes, shape needs " +
                             std::to_string(n * es));
  std::vector<double> out(n);
  const std::byte* p = bytes.data();
  for (std::size_t i = 0; i < n; ++i, p += es) {
    switch (dtype) {
      case DType::F64: out[i] = load<double>(p); break;
      case DType::F32: out[i] = load<float>(p); break;
      case DType::F16: out[i] = half_to_double(load<uint16_t>(p)); break;
      case DType::BF16: {
        uint32_t bits = static_cast<uint32_t>(load<uint16_t>(p)) << 16;
        out[i] = std::bit_cast<float>(bits);
        break;
      }
      case DType::I64: out[i] = static_cast<double>(load<int64_t>(p)); break;
      case DType::I32: out[i] = load<int32_t>(p); break;
      case DType::I16: out[i] = load<int16_t>(p); break;
      case DType::I8: out[i] = load<int8_t>(p); break;
      case DType::U8: out[i] = load<uint8_t>(p); break;
      case DType::Bool: out[i] = load<uint8_t>(p) ? 1.0 : 0.0; break;
    }
  }
  return out;
}

}  // namespace xcompat
