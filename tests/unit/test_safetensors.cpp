// harness/checkpoint/safetensors: reading torch-written files exactly, the
// writer's round trip and atomicity, and refusal of every kind of broken file.
// Inputs: tests/data/checkpoints/ (see tests/data/make_checkpoints.py).
#include <cstdint>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "checkpoint_support.hpp"
#include "support.hpp"
#include "harness/checkpoint/safetensors.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace xcompat;
using namespace xcompat::test;

namespace {

using ScratchDir = test::TempDir;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A safetensors file from a header text and a data section, no checks.
std::string raw_safetensors(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// True when reading `file` is refused with a CheckpointError. Any other
// exception escapes and fails the test.
bool refused(const fs::path& file) {
  try {
    read_safetensors(file);
    return false;
  } catch (const CheckpointError&) {
    return true;
  }
}

// The same for `bytes`, written to a new file in `dir` (a new name each time:
// truncating and rewriting one file is slow on some file systems).
bool refused(const ScratchDir& dir, const std::string& bytes) {
  static int serial = 0;
  const fs::path p = dir.path / ("case" + std::to_string(++serial) + ".safetensors");
  spit(p, bytes);
  return refused(p);
}

// Calls check(pos, mask) with `file` holding `original` except for byte pos
// xor mask, for every pos < end and both masks. Bytes are flipped in place,
// far faster than writing a file per variant.
template <class Check>
void for_each_flip(const fs::path& file, const std::string& original, std::size_t end, Check check) {
  spit(file, original);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  for (std::size_t pos = 0; pos < end; ++pos) {
    for (unsigned char mask : {0x01, 0x80}) {
      f.seekp(static_cast<std::streamoff>(pos));
      f.put(static_cast<char>(original[pos] ^ mask)).flush();
      check(pos, mask);
      f.seekp(static_cast<std::streamoff>(pos));
      f.put(original[pos]).flush();
    }
  }
}

const std::string kEightBytes("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);  // float32 [1, 2]

}  // namespace

TEST_CASE("safetensors: a torch-written file reads exactly as torch reports it", "[unit][checkpoint]") {
  const json want = expected();
  check_matches(read_safetensors(kCheckpoints / want["safetensors_file"].get<std::string>()), want["state_dict"]);
}

TEST_CASE("safetensors: __metadata__ is returned as written", "[unit][checkpoint]") {
  const json want = expected();
  const auto metadata = read_safetensors_metadata(kCheckpoints / want["safetensors_file"].get<std::string>());
  CHECK(metadata == want["safetensors_metadata"].get<std::map<std::string, std::string>>());
}

TEST_CASE("safetensors: write then read round-trips tensors and metadata", "[unit][checkpoint]") {
  const json want = expected();
  const TensorMap tensors = read_safetensors(kCheckpoints / want["safetensors_file"].get<std::string>());
  const std::map<std::string, std::string> metadata = {{"x_transformers_version", "2.3.1"}, {"note", "é ünïcode"}};
  ScratchDir dir;
  const fs::path out = dir.path / "copy.safetensors";
  spit(out, "previous contents");  // the writer must replace an existing file
  write_safetensors(out, tensors, metadata);
  check_matches(read_safetensors(out), want["state_dict"]);
  CHECK(read_safetensors_metadata(out) == metadata);
  // Data section 8-byte aligned, as the reference writer makes it.
  const std::string bytes = slurp(out);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_len % 8 == 0);
  // Atomic write: no temporary file is left beside the result.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("safetensors: writing no metadata omits __metadata__", "[unit][checkpoint]") {
  ScratchDir dir;
  const fs::path out = dir.path / "plain.safetensors";
  write_safetensors(out, {{"w", TensorData{DType::I8, {3}, {std::byte{1}, std::byte{2}, std::byte{3}}}}});
  CHECK(read_safetensors_metadata(out).empty());
  CHECK(slurp(out).find("__metadata__") == std::string::npos);
  CHECK(read_safetensors(out).at("w").to_doubles() == std::vector<double>{1, 2, 3});
}

TEST_CASE("safetensors: the writer refuses bad input and keeps the old file", "[unit][checkpoint]") {
  ScratchDir dir;
  const fs::path out = dir.path / "keep.safetensors";
  spit(out, "old");
  SECTION("byte count disagrees with shape") {
    CHECK_THROWS_AS(write_safetensors(out, {{"w", TensorData{DType::F32, {3}, std::vector<std::byte>(8)}}}),
                    CheckpointError);
  }
  SECTION("a tensor named __metadata__") {
    CHECK_THROWS_AS(write_safetensors(out, {{"__metadata__", TensorData{DType::U8, {1}, {std::byte{0}}}}}),
                    CheckpointError);
  }
  SECTION("a name that is not UTF-8") {
    CHECK_THROWS_AS(write_safetensors(out, {{"bad\xff", TensorData{DType::U8, {1}, {std::byte{0}}}}}),
                    CheckpointError);
  }
  CHECK(slurp(out) == "old");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("safetensors: the writer reports an unwritable destination", "[unit][checkpoint]") {
  ScratchDir dir;
  CHECK_THROWS_AS(write_safetensors(dir.path / "no" / "such" / "dir.safetensors", {}), CheckpointError);
}

TEST_CASE("safetensors: a file truncated at every eighth is refused", "[unit][checkpoint]") {
  const std::string whole = slurp(kCheckpoints / expected()["safetensors_file"].get<std::string>());
  ScratchDir dir;
  for (int k = 0; k < 8; ++k) {
    INFO("truncated to " << k << "/8");
    CHECK(refused(dir, whole.substr(0, whole.size() * k / 8)));
  }
  CHECK(refused(dir, whole.substr(0, whole.size() - 1)));
  CHECK(refused(dir, whole + "trailing"));
}

TEST_CASE("safetensors: an absurd header length is refused before allocating", "[unit][checkpoint]") {
  ScratchDir dir;
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  for (uint64_t len : {~uint64_t(0), uint64_t(1) << 63, uint64_t(100'000'001), uint64_t(header.size() + 9)}) {
    INFO("header length " << len);
    CHECK(refused(dir, le64(len) + header + kEightBytes));
  }
  CHECK_FALSE(refused(dir, raw_safetensors(header, kEightBytes)));  // the same file, honest length
}

TEST_CASE("safetensors: unknown or malformed dtypes are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  for (const std::string dtype : {R"("F8_E4M3")", R"("Q4")", R"("f32")", R"("float32")", "5", "null"}) {
    INFO("dtype " << dtype);
    CHECK(refused(dir, raw_safetensors(R"({"w":{"dtype":)" + dtype + R"(,"shape":[2],"data_offsets":[0,8]}})",
                                       kEightBytes)));
  }
}

TEST_CASE("safetensors: bad data offsets are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  const auto file = [](const std::string& tensors, const std::string& data) {
    return raw_safetensors("{" + tensors + "}", data);
  };
  const std::string a = R"("a":{"dtype":"F32","shape":[1],"data_offsets":)";
  const std::string b = R"("b":{"dtype":"F32","shape":[1],"data_offsets":)";
  CHECK_FALSE(refused(dir, file(a + "[0,4]}," + b + "[4,8]}", kEightBytes)));
  CHECK(refused(dir, file(a + "[0,4]}," + b + "[8,12]}", kEightBytes)));          // past the end
  CHECK(refused(dir, file(a + "[0,4]}," + b + "[2,6]}", kEightBytes)));           // overlap
  CHECK(refused(dir, file(a + "[0,4]}," + b + "[0,4]}", kEightBytes)));           // aliasing
  CHECK(refused(dir, file(a + "[4,8]}," + b + "[8,12]}", kEightBytes + "1234")));  // gap at start
  CHECK(refused(dir, file(a + "[0,4]}", kEightBytes)));                           // trailing bytes
  CHECK(refused(dir, file(a + "[4,0]}", kEightBytes)));                           // reversed
  CHECK(refused(dir, file(a + "[0,8]}", kEightBytes)));                           // 8 bytes for 1 float
  CHECK(refused(dir, file(a + "[0,18446744073709551615]}", kEightBytes)));
  CHECK(refused(dir, file(a + "[-1,3]}", kEightBytes)));
  CHECK(refused(dir, file(a + "[0]}", kEightBytes)));
}

TEST_CASE("safetensors: malformed headers are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  for (const std::string& header : {
           std::string("not json"),
           std::string(R"( {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),  // must start with '{'
           std::string(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"),    // unterminated
           std::string(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})"),               // no shape
           std::string(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
           std::string(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})"),
           std::string(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})"),
           std::string(R"({"w":[1,2]})"),
           std::string(R"({"__metadata__":{"v":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),
           std::string(R"({"__metadata__":"v","w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),
           std::string("[]"),
       }) {
    INFO("header " << header);
    CHECK(refused(dir, raw_safetensors(header, kEightBytes)));
  }
}

TEST_CASE("safetensors: any flipped header byte is refused or harmless, never a crash", "[unit][checkpoint]") {
  const std::string whole = slurp(kCheckpoints / expected()["safetensors_file"].get<std::string>());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(whole[i]);
  ScratchDir dir;
  const fs::path file = dir.path / "flipped.safetensors";
  for_each_flip(file, whole, 8 + header_len, [&](std::size_t pos, unsigned char mask) {
    INFO("byte " << pos << " xor " << int(mask));
    const bool was_refused = refused(file);  // other exceptions fail the test
    // The length field and the opening brace are always load-bearing.
    if (pos <= 8) CHECK(was_refused);
  });
}

TEST_CASE("safetensors: missing files and directories are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  CHECK_THROWS_AS(read_safetensors(dir.path / "absent.safetensors"), CheckpointError);
  CHECK_THROWS_AS(read_safetensors(dir.path), CheckpointError);
  CHECK_THROWS_AS(read_safetensors_metadata(dir.path / "absent.safetensors"), CheckpointError);
}
