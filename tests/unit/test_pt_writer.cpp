// The checkpoint writers: what the .pt writer writes, the restricted reader reads back exactly
// (dtypes, shapes, 0-d and empty tensors, metadata); that torch.load reads it
// too is checked in the release tier (test_convert_cli.cpp).
#include <cstring>
#include <fstream>

#include "catch.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/pt_writer.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "support.hpp"

using namespace xcompat;
using nlohmann::json;
using namespace std::string_literals;
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

namespace {
PtNode leaf(PtNode::Kind k) {
  PtNode n;
  n.kind = k;
  return n;
}
PtNode tensor_node(const std::string& name) {
  PtNode n = leaf(PtNode::Kind::Tensor);
  n.s = name;
  return n;
}
PtNode int_node(int64_t v) {
  PtNode n = leaf(PtNode::Kind::Int);
  n.i = v;
  return n;
}
PtNode str_node(PtNode::Kind k, std::string s) {
  PtNode n = leaf(k);
  n.s = std::move(s);
  return n;
}

// A training checkpoint's shape: every container and scalar kind the writer
// takes, str and int keys, an OrderedDict, a 64-bit int, bytes above 0x7f.
PtNode nested_tree() {
  PtNode model = leaf(PtNode::Kind::Dict);
  model.ordered_dict = true;
  model.children.emplace_back("0.weight", tensor_node("model.0.weight"));
  model.children.emplace_back("0.bias", tensor_node("model.0.bias"));
  PtNode state = leaf(PtNode::Kind::Dict);
  PtNode s0 = leaf(PtNode::Kind::Dict);
  s0.children.emplace_back("step", tensor_node("optimizer.state.0.step"));
  state.children.emplace_back(int64_t{0}, std::move(s0));
  PtNode betas = leaf(PtNode::Kind::Tuple);
  PtNode b0 = leaf(PtNode::Kind::Float), b1 = leaf(PtNode::Kind::Float);
  b0.f = 0.9;
  b1.f = 0.999;
  betas.children.emplace_back(int64_t{0}, b0);
  betas.children.emplace_back(int64_t{1}, b1);
  PtNode params = leaf(PtNode::Kind::List);
  params.children.emplace_back(int64_t{0}, int_node(0));
  params.children.emplace_back(int64_t{1}, int_node(1));
  PtNode group = leaf(PtNode::Kind::Dict);
  group.children.emplace_back("params", std::move(params));
  group.children.emplace_back("betas", std::move(betas));
  group.children.emplace_back("foreach", leaf(PtNode::Kind::None));
  PtNode amsgrad = leaf(PtNode::Kind::Bool);
  group.children.emplace_back("amsgrad", amsgrad);
  PtNode groups = leaf(PtNode::Kind::List);
  groups.children.emplace_back(int64_t{0}, std::move(group));
  PtNode optimizer = leaf(PtNode::Kind::Dict);
  optimizer.children.emplace_back("state", std::move(state));
  optimizer.children.emplace_back("param_groups", std::move(groups));
  PtNode root = leaf(PtNode::Kind::Dict);
  root.children.emplace_back("model", std::move(model));
  root.children.emplace_back("optimizer", std::move(optimizer));
  root.children.emplace_back("step", int_node(-(int64_t(1) << 40)));
  root.children.emplace_back("name", str_node(PtNode::Kind::Str, "tiny \xc3\xa9"));
  root.children.emplace_back("blob", str_node(PtNode::Kind::Bytes, "\x00\xff\x80z"s));
  root.children.emplace_back("empty", str_node(PtNode::Kind::Bytes, ""));
  root.children.emplace_back("history", leaf(PtNode::Kind::List));
  return root;
}

TensorMap nested_tensors() {
  TensorMap m;
  m["model.0.weight"] = tensor(DType::F32, {2, 3}, 1);
  m["model.0.bias"] = tensor(DType::F32, {2}, 2);
  m["optimizer.state.0.step"] = tensor(DType::F32, {}, 3);
  return m;
}

// Structure and values; Tensor nodes by name.
void check_same(const PtNode& a, const PtNode& b) {
  REQUIRE(a.kind == b.kind);
  CHECK(a.b == b.b);
  CHECK(a.i == b.i);
  CHECK(a.f == b.f);
  CHECK(a.s == b.s);
  CHECK(a.ordered_dict == b.ordered_dict);
  REQUIRE(a.children.size() == b.children.size());
  for (std::size_t j = 0; j < a.children.size(); ++j) {
    CHECK(a.children[j].first == b.children[j].first);
    check_same(a.children[j].second, b.children[j].second);
  }
}

void zero_tensor_handles(PtNode& n) {
  if (n.kind == PtNode::Kind::Tensor) n.i = 0;
  for (auto& [k, c] : n.children) zero_tensor_handles(c);
}
}  // namespace

TEST_CASE("a written tree reads back with the same shape, keys, scalars and tensors", "[unit]") {
  test::TempDir dir;
  const auto path = dir / "training.pt";
  const TensorMap tensors = nested_tensors();
  write_pt_tree(path, nested_tree(), tensors, R"({"from": "1.0.0"})");
  PtReader r(path);
  PtNode back = r.root();
  zero_tensor_handles(back);
  check_same(back, nested_tree());
  for (const auto& [name, t] : tensors) CHECK(r.read(name).bytes == t.bytes);
  CHECK(std::get<int64_t>(r.scalars().at("step")) == -(int64_t(1) << 40));
  CHECK(std::get<double>(r.scalars().at("optimizer.param_groups.0.betas.1")) == 0.999);
  CHECK(r.xcompat_record() == R"({"from": "1.0.0"})");
}

TEST_CASE("torch.load(weights_only=True) reads a written tree as the same Python object", "[unit]") {
  test::TempDir dir;
  const auto path = dir / "training.pt";
  const TensorMap tensors = nested_tensors();
  write_pt_tree(path, nested_tree(), tensors);
  // The same object spelled in Python, tensors from the bytes written.
  std::ofstream(dir / "check.py") << R"(import collections, sys, torch
obj = torch.load(sys.argv[1], weights_only=True)
def f32(n, seed):  # the bytes tensor() made
    return [(seed * 31 + i * 7) & 255 for i in range(4 * n)]
want = {
    "model": collections.OrderedDict([("0.weight", f32(6, 1)), ("0.bias", f32(2, 2))]),
    "optimizer": {"state": {0: {"step": f32(1, 3)}},
                  "param_groups": [{"params": [0, 1], "betas": (0.9, 0.999), "foreach": None, "amsgrad": False}]},
    "step": -(2 ** 40), "name": "tiny \u00e9", "blob": b"\x00\xff\x80z", "empty": b"", "history": []}
def same(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == torch.float32 and a.reshape(-1).view(torch.uint8).tolist() == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b
print("same" if same(obj, want) else f"differs: {obj!r}")
)";
  const fs::path python = fs::path(XCOMPAT_SOURCE_DIR) / ".venv" / "bin" / "python";
  if (!fs::exists(python)) {
    WARN("no .venv (scripts/setup makes it): torch.load not tried");
    return;
  }
  const auto r = test::run_command("'" + python.string() + "' '" + (dir / "check.py").string() + "' '" + path.string() +
                                   "' 2>&1");
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("same") == 0);
}

TEST_CASE("the tree writer refuses objects, unknown, doubled and unreferenced tensors, writing nothing", "[unit]") {
  test::TempDir dir;
  const auto path = dir / "out.pt";
  const std::vector<TensorInfo> infos = {{"a", DType::F32, {2}}, {"b", DType::F32, {2}}};
  auto refused = [&](const PtNode& root, const std::string& error) {
    try {
      PtWriter w(path, root, infos);
      FAIL("accepted");
    } catch (const CheckpointError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(error) != std::string::npos);
    }
    CHECK_FALSE(fs::exists(path));
  };
  PtNode root = leaf(PtNode::Kind::Dict);
  root.children.emplace_back("a", tensor_node("a"));
  refused(root, "'b' is declared but no node");
  root.children.emplace_back("b", tensor_node("a"));
  refused(root, "'a' twice");
  root.children.back().second.s = "c";
  refused(root, "'c', which is not declared");
  root.children.back().second = str_node(PtNode::Kind::Object, "mylib.Net");
  refused(root, "written back as a state dict");
  PtNode deep = tensor_node("b");
  for (int i = 0; i < 1100; ++i) {
    PtNode outer = leaf(PtNode::Kind::List);
    outer.children.emplace_back(int64_t{0}, std::move(deep));
    deep = std::move(outer);
  }
  root.children.back().second = std::move(deep);
  refused(root, "nested more than 1000 levels");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 0);
}

TEST_CASE("the flat writer is the tree writer with an OrderedDict of the tensors", "[unit]") {
  test::TempDir dir;
  TensorMap m;
  m["w"] = tensor(DType::F32, {2}, 1);
  write_pt(dir / "flat.pt", m);
  PtReader r(dir / "flat.pt");
  CHECK(r.root().kind == PtNode::Kind::Dict);
  CHECK(r.root().ordered_dict);
  CHECK(r.root().children.at(0).second.s == "w");
}
