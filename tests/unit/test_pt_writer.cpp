// The checkpoint writers: what the .pt writer writes, the restricted reader reads back exactly
// (dtypes, shapes, 0-d and empty tensors, metadata); that torch.load reads it
// too is checked in the release tier (test_convert_cli.cpp).
#include <cstring>

#include "catch.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/pt_writer.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "support.hpp"

using namespace xcompat;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
TensorData tensor(DType d, std::vector<int64_t> shape, unsigned seed) {
  TensorData t{d, std::move(shape), {}};
  t.bytes.resize(static_cast<std::size_t>(t.numel()) * dtype_size(d));
  for (std::size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = std::byte(static_cast<unsigned char>(seed * 31 + i * 7));
  if (d == DType::Bool)
    for (auto& b : t.bytes) b = std::byte(std::to_integer<unsigned char>(b) & 1);
  return t;
}
}  // namespace

TEST_CASE("a written .pt reads back bit for bit, metadata included", "[unit]") {
  test::TempDir dir;
  TensorMap m;
  m["attn_layers.layers.0.1.to_q.weight"] = tensor(DType::F32, {8, 4}, 1);
  m["token_emb.emb.weight"] = tensor(DType::BF16, {16, 4}, 2);
  m["step"] = tensor(DType::I64, {}, 3);           // 0-d
  m["empty"] = tensor(DType::F16, {0, 3}, 4);      // no elements
  m["mask"] = tensor(DType::Bool, {5}, 5);
  const auto path = dir / "model.pt";
  write_pt(path, m, R"({"from": "0.28.4"})");
  const TensorMap back = read_pt(path);
  REQUIRE(back.size() == m.size());
  for (auto& [name, t] : m) {
    INFO(name);
    CHECK(back.at(name).dtype == t.dtype);
    CHECK(back.at(name).shape == t.shape);
    CHECK(back.at(name).bytes == t.bytes);
  }
  // One tensor at a time, as a conversion streams it.
  PtReader reader(path);
  CHECK(reader.tensors().size() == m.size());
  CHECK(reader.read("token_emb.emb.weight").bytes == m["token_emb.emb.weight"].bytes);
}

TEST_CASE("a writer that is not committed leaves no file behind", "[unit]") {
  test::TempDir dir;
  const auto path = dir / "model.pt";
  {
    PtWriter w(path, {{"a", DType::F32, {2}}});
  }
  CHECK(!fs::exists(path));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 0);
  {
    SafetensorsWriter w(dir / "model.safetensors", {{"a", DType::F32, {2}}});
    CHECK_THROWS(w.write({"b", DType::F32, {2}}, tensor(DType::F32, {2}, 1)));  // out of order
  }
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 0);
}

TEST_CASE("either writer refuses what its header did not declare, and a failed write keeps the old file", "[unit]") {
  test::TempDir dir;
  for (const char* name : {"model.pt", "model.safetensors"}) {
    INFO(name);
    const auto path = dir / name;
    const TensorInfo a{"a", DType::F32, {2}}, b{"b", DType::F32, {3}};
    {
      auto w = create_checkpoint(path, {a}, {{"x_transformers", "1.0.0"}});
      w->write(a, tensor(DType::F32, {2}, 1));
      w->commit();
    }
    const auto before = open_checkpoint(path)->read("a").bytes;
    auto refused = [&](auto&& misuse) {
      auto w = create_checkpoint(path, {a, b}, json::object());
      CHECK_THROWS_AS(misuse(*w), CheckpointError);
    };
    refused([&](CheckpointWriter& w) { w.write(b, tensor(DType::F32, {3}, 2)); });        // out of order
    refused([&](CheckpointWriter& w) { w.write(a, tensor(DType::F32, {3}, 2)); });        // wrong shape
    refused([&](CheckpointWriter& w) {                                                    // wrong byte count
      TensorData short_data = tensor(DType::F32, {2}, 2);
      short_data.bytes.pop_back();
      w.write(a, short_data);
    });
    refused([&](CheckpointWriter& w) {                                                    // one never written
      w.write(a, tensor(DType::F32, {2}, 2));
      w.commit();
    });
    // The committed file is untouched and no temporary is left beside it.
    CHECK(open_checkpoint(path)->read("a").bytes == before);
    CHECK(open_checkpoint(path)->xcompat_record()["x_transformers"] == "1.0.0");
  }
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 2);
}
