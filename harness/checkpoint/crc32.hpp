#pragma once
// CRC-32 (zip's, polynomial 0xEDB88320), incrementally: the .pt reader checks
// every storage with it, the .pt writer computes it while streaming.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace xcompat {

constexpr std::array<uint32_t, 256> make_crc32_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

// Start with crc = 0; feed the bytes in as many pieces as needed.
inline uint32_t crc32_update(uint32_t crc, std::span<const std::byte> data) {
  static constexpr auto table = make_crc32_table();
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (std::byte b : data) c = table[(c ^ std::to_integer<uint32_t>(b)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

}  // namespace xcompat
