#pragma once
// Layer numbers as checkpoint keys spell them ("attn_layers.layers.12.1..."):
// keys come from untrusted files, so never std::stoll (which throws on
// "ye2" and on 20 digits).
#include <cstdint>
#include <optional>
#include <string_view>

namespace xcompat {

// A non-negative decimal index of at most 18 digits; nullopt for anything else.
inline std::optional<int64_t> parse_index(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace xcompat
