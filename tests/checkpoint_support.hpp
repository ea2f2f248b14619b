#pragma once
#include "support.hpp"
// Helpers shared by the checkpoint readers' tests: the generated test data
// (tests/data/make_checkpoints.py) and byte-level file handling.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline const fs::path kCheckpoints = fs::path(XCOMPAT_TEST_DATA) / "checkpoints";

inline json expected() {
  std::ifstream in(kCheckpoints / "expected.json");
  return json::parse(in);
}

inline std::string hex(const std::vector<std::byte>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += digits[std::to_integer<int>(b) >> 4];
    out += digits[std::to_integer<int>(b) & 15];
  }
  return out;
}

inline void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}


// Every tensor in `got` has the dtype, shape, raw bytes and values torch wrote.
inline void check_matches(const TensorMap& got, const json& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [name, w] : want.items()) {
    INFO("tensor " << name);
    REQUIRE(got.count(name) == 1);
    const TensorData& t = got.at(name);
    CHECK(dtype_name(t.dtype) == w["dtype"].get<std::string>());
    CHECK(t.shape == w["shape"].get<std::vector<int64_t>>());
    CHECK(hex(t.bytes) == w["hex"].get<std::string>());
    CHECK(t.to_doubles() == w["values"].get<std::vector<double>>());
  }
}

}  // namespace xcompat::test
