#include "harness/checkpoint/signature.hpp"

#include <algorithm>
#include <array>

namespace xcompat {

namespace {

// The largest header the reference safetensors implementation accepts.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// LONG1 of ten bytes: torch's legacy magic number 0x1950a86a20f9469cfc6c,
// little-endian.
constexpr std::array<uint8_t, 12> kLegacyMagic = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                                  0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

uint8_t at(std::span<const std::byte> b, std::size_t i) { return std::to_integer<uint8_t>(b[i]); }

}  // namespace

Signature sniff(std::span<const std::byte> head, uint64_t size) {
  if (head.size() >= 4 && at(head, 0) == 'P' && at(head, 1) == 'K' && at(head, 2) == 3 && at(head, 3) == 4)
    return Signature::TorchZip;
  if (head.size() >= 9 && size >= 10) {
    uint64_t n = 0;
    for (std::size_t i = 8; i-- > 0;) n = (n << 8) | at(head, i);
    if (n >= 2 && n <= std::min(kMaxSafetensorsHeader, size - 8) && at(head, 8) == '{') return Signature::Safetensors;
  }
  if (head.size() >= 2 && at(head, 0) == 0x80) {
    std::size_t pos = 2;
    if (head.size() > pos && at(head, pos) == 0x95) pos += 9;  // FRAME (protocol 4+)
    if (head.size() >= pos + kLegacyMagic.size() &&
        std::equal(kLegacyMagic.begin(), kLegacyMagic.end(), head.begin() + static_cast<std::ptrdiff_t>(pos),
                   [](uint8_t m, std::byte b) { return m == std::to_integer<uint8_t>(b); }))
      return Signature::LegacyTorch;
  }
  return Signature::Unknown;
}

std::string describe_head(std::span<const std::byte> head, uint64_t size) {
  static constexpr char hex[] = "0123456789abcdef";
  if (size == 0) return "it is empty";
  std::string out = "it starts with";
  for (std::size_t i = 0; i < std::min<std::size_t>(head.size(), 8); ++i)
    out += std::string(" ") + hex[at(head, i) >> 4] + hex[at(head, i) & 15];
  if (head.size() >= 8) {
    uint64_t n = 0;
    for (std::size_t i = 8; i-- > 0;) n = (n << 8) | at(head, i);
    out += " (as a safetensors header length: " + std::to_string(n) + " bytes, in a file of " + std::to_string(size) +
           ")";
  }
  return out;
}

}  // namespace xcompat
