// open_checkpoint tells the format by the file's first bytes, never by one
// byte and never by its name (harness/checkpoint/signature.hpp).
#include <cstring>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "checkpoint_support.hpp"
#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/checkpoint/signature.hpp"

using namespace xcompat;
using namespace xcompat::test;
namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

std::string error_of(const fs::path& file) {
  try {
    open_checkpoint(file);
    return "";
  } catch (const CheckpointError& e) {
    return e.what();
  }
}

// A safetensors file holding one F32 tensor "w" = [1, 2], its header padded
// with spaces to `header_len` bytes.
std::string safetensors_with_header(std::size_t header_len) {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  header.resize(header_len, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(uint64_t(header_len) >> (8 * i));
  const float data[2] = {1, 2};
  return out + header + std::string(reinterpret_cast<const char*>(data), sizeof data);
}

}  // namespace

TEST_CASE("a safetensors file whose header length starts with byte 0x80 is read as safetensors", "[unit][checkpoint]") {
  TempDir dir;
  const std::string bytes = safetensors_with_header(0x180);  // 384: first byte 0x80, like a pickle's PROTO
  REQUIRE(static_cast<unsigned char>(bytes[0]) == 0x80);
  spit(dir / "model.safetensors", bytes);
  auto r = open_checkpoint(dir / "model.safetensors");
  CHECK(std::string(r->format()) == "safetensors");
  CHECK(r->read("w").to_doubles() == std::vector<double>{1, 2});
  // The name is a hint only: the same bytes under a .pt name read the same.
  spit(dir / "model.pt", bytes);
  CHECK(std::string(open_checkpoint(dir / "model.pt")->format()) == "safetensors");
}

TEST_CASE("a torch.save zip is read as pt whatever its name", "[unit][checkpoint]") {
  TempDir dir;
  fs::copy_file(kCheckpoints / "state_dict.pt", dir / "weights.safetensors");
  CHECK(std::string(open_checkpoint(dir / "weights.safetensors")->format()) == "pt");
  CHECK(std::string(open_checkpoint(kCheckpoints / "lightning.ckpt")->format()) == "pt");
}

TEST_CASE("a legacy torch.save file and foreign bytes are refused, each saying what it is", "[unit][checkpoint]") {
  TempDir dir;
  CHECK(error_of(kCheckpoints / "legacy.pt").find("legacy torch.save format") != std::string::npos);
  // A bare pickle that is not torch's legacy format: 0x80 alone proves nothing.
  spit(dir / "pickle.pt", "\x80\x02}q\x00."s);
  const std::string pickle = error_of(dir / "pickle.pt");
  CHECK(pickle.find("neither a torch.save zip nor a safetensors file") != std::string::npos);
  CHECK(pickle.find("its name says torch.save") != std::string::npos);
  CHECK(pickle.find("80 02 7d") != std::string::npos);
  // A header length beyond the file, and a header that is not JSON.
  std::string too_long = safetensors_with_header(64);
  too_long[1] = 0x10;
  spit(dir / "long.safetensors", too_long);
  CHECK(error_of(dir / "long.safetensors").find("its name says safetensors") != std::string::npos);
  std::string not_json = safetensors_with_header(64);
  not_json[8] = '[';
  spit(dir / "list.safetensors", not_json);
  CHECK(error_of(dir / "list.safetensors").find("neither") != std::string::npos);
  spit(dir / "empty.bin", "");
  CHECK(error_of(dir / "empty.bin").find("it is empty") != std::string::npos);
  CHECK(error_of(dir / "absent.pt").find("cannot open") != std::string::npos);
}

TEST_CASE("sniff: each signature, and the edges of a safetensors header length", "[unit][checkpoint]") {
  auto sniff_of = [](const std::string& s, uint64_t size) {
    return sniff(std::as_bytes(std::span(s.data(), s.size())), size);
  };
  CHECK(sniff_of("PK\x03\x04rest"s, 100) == Signature::TorchZip);
  CHECK(sniff_of("PK\x05\x06rest"s, 100) == Signature::Unknown);  // an empty zip is no torch.save file
  const std::string two = "\x02\0\0\0\0\0\0\0{}"s;
  CHECK(sniff_of(two, 10) == Signature::Safetensors);
  CHECK(sniff_of("\x01\0\0\0\0\0\0\0{"s, 9) == Signature::Unknown);  // below 2
  CHECK(sniff_of(two, 9) == Signature::Unknown);                        // beyond the file
  CHECK(sniff_of("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"s, 400) == Signature::LegacyTorch);
  CHECK(sniff_of("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x18"s, 400) == Signature::Unknown);
}
