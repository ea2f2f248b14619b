#include "matrix/cell_set.hpp"

#include <openssl/sha.h>

#include <algorithm>

#include "harness/core/error.hpp"

namespace xcompat {

std::string encode_cell_set(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string out;
  out.reserve(ids.size() + 8);
  int64_t previous = 0;
  for (int64_t id : ids) {
    if (id <= 0) throw Error("cell ids are positive (got " + std::to_string(id) + ")");
    uint64_t gap = static_cast<uint64_t>(id - previous);
    previous = id;
    do {
      const uint8_t low = gap & 0x7f;
      gap >>= 7;
      out.push_back(static_cast<char>(low | (gap ? 0x80 : 0)));
    } while (gap);
  }
  return out;
}

std::vector<int64_t> decode_cell_set(std::string_view bytes) {
  std::vector<int64_t> out;
  out.reserve(bytes.size());
  int64_t previous = 0;
  for (size_t i = 0; i < bytes.size();) {
    uint64_t gap = 0;
    int shift = 0;
    for (;; ++i) {
      if (i >= bytes.size() || shift > 56) throw Error("a recorded cell set is damaged (truncated or overlong varint)");
      const auto b = static_cast<uint8_t>(bytes[i]);
      gap |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) {
        ++i;
        break;
      }
    }
    if (gap == 0) throw Error("a recorded cell set is damaged (a repeated cell)");
    previous += static_cast<int64_t>(gap);
    out.push_back(previous);
  }
  return out;
}

std::string digest16(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return std::string(reinterpret_cast<const char*>(md), 16);
}

}  // namespace xcompat
