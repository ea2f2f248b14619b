#pragma once
// A tensor as xcompat moves it between files, workers and the comparison:
// a dtype name, a shape and the raw little-endian bytes. No torch here, so the
// readers, the comparison and the store build without torch headers.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xcompat {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

// "F32", "BF16", ... as safetensors spells them.
const char* dtype_name(DType d);
// Accepts safetensors names ("F32") and torch names ("float32").
DType dtype_from_name(const std::string& name);
std::size_t dtype_size(DType d);

// Product of the dimensions, or nullopt when one is negative or the product
// overflows int64 (the readers use it on shapes taken from untrusted files).
std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape);

struct TensorData {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;  // row-major, contiguous, little-endian

  int64_t numel() const;
  // Every element widened to double (any dtype; bf16/f16 converted exactly).
  std::vector<double> to_doubles() const;
};

// A tensor's name, dtype and shape, without its data.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  bool operator==(const TensorInfo&) const = default;
};

// Name -> tensor, ordered by name so every listing is deterministic.
using TensorMap = std::map<std::string, TensorData>;

}  // namespace xcompat
