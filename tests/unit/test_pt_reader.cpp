// harness/checkpoint/pt_reader: torch.save'd state_dicts, nested checkpoints
// and torch.save(model) files read without torch,
// hostile pickles refused without running anything, damaged archives refused
// without crashing or hanging. Inputs: tests/data/checkpoints/ (see
// tests/data/make_checkpoints.py) and archives assembled here at runtime.
#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "checkpoint_support.hpp"
#include "support.hpp"
#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/safetensors.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace xcompat;
using namespace xcompat::test;
using namespace std::string_literals;

namespace {

using ScratchDir = test::TempDir;

// The CheckpointError message read_pt_full throws for `file`, or "" when it
// reads fine. Any other exception escapes and fails the test.
std::string error_of(const fs::path& file) {
  try {
    read_pt_full(file);
    return "";
  } catch (const CheckpointError& e) {
    return e.what();
  }
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- building archives at runtime ------------------------------------------

std::string le(uint64_t v, int n) {
  std::string s(static_cast<std::size_t>(n), '\0');
  for (int i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

uint32_t crc32(const std::string& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

using Entries = std::vector<std::pair<std::string, std::string>>;

// A plain STORED zip (no zip64, no data descriptors).
std::string zip_stored(const Entries& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const std::string common = le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(crc32(data), 4) +
                               le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(0, 2);
    central += le(0x02014B50, 4) + le(20, 2) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) +
               le(out.size(), 4) + name;
    out += le(0x04034B50, 4) + le(20, 2) + common + name + data;
  }
  const std::string eocd = le(0x06054B50, 4) + le(0, 2) + le(0, 2) + le(entries.size(), 2) + le(entries.size(), 2) +
                           le(central.size(), 4) + le(out.size(), 4) + le(0, 2);
  return out + central + eocd;
}

// The layout torch.save uses, around a hand-written data.pkl.
std::string torch_zip(const std::string& pickle, const Entries& storages = {}) {
  Entries entries = {{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}};
  for (const auto& [key, bytes] : storages) entries.emplace_back("archive/data/" + key, bytes);
  return zip_stored(entries);
}

// --- pickle opcodes, as torch's pickler (protocol 2) writes them -------------

std::string str_op(const std::string& s) { return "X" + le(s.size(), 4) + s; }

std::string int_op(int64_t v) {
  if (v >= 0 && v < 256) return "K" + le(static_cast<uint64_t>(v), 1);
  return "\x8a\x08" + le(static_cast<uint64_t>(v), 8);  // LONG1, 8 bytes
}

std::string int_tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (auto x : v) s += int_op(x);
  return s + "t";
}

std::string tensor_op(const std::string& key, const std::string& storage_type, int64_t numel, int64_t offset,
                      const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
  return "ctorch._utils\n_rebuild_tensor_v2\n(" "(" + str_op("storage") + "ctorch\n" + storage_type + "\n" +
         str_op(key) + str_op("cpu") + int_op(numel) + "tQ" + int_op(offset) + int_tuple(size) +
         int_tuple(stride) + "\x89" "ccollections\nOrderedDict\n)R" "tR";
}

// {name: value-ops, ...} as a pickled plain dict.
std::string dict_pickle(const Entries& items) {
  std::string s = "\x80\x02}(";
  for (const auto& [name, value] : items) s += str_op(name) + value;
  return s + "u.";
}

std::string floats(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), sizeof f);
  return s;
}

const std::string kSixFloats = floats({0, 1, 2, 3, 4, 5});

// Writes `bytes` to a new .pt in `dir` and returns the error read_pt_full
// gives (a new name each time: truncating and rewriting one file is slow on
// some file systems).
std::string error_for(const ScratchDir& dir, const std::string& bytes) {
  static int serial = 0;
  const fs::path p = dir.path / ("case" + std::to_string(++serial) + ".pt");
  spit(p, bytes);
  return error_of(p);
}

// Calls check() with `file` holding `original` except for byte pos xor mask,
// for every pos and both masks. Bytes are flipped in place, far faster than
// writing a file per variant.
template <class Check>
void for_each_flip(const fs::path& file, const std::string& original, Check check) {
  spit(file, original);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  for (std::size_t pos = 0; pos < original.size(); ++pos) {
    for (unsigned char mask : {0x01, 0x80}) {
      f.seekp(static_cast<std::streamoff>(pos));
      f.put(static_cast<char>(original[pos] ^ mask)).flush();
      check();
      f.seekp(static_cast<std::streamoff>(pos));
      f.put(original[pos]).flush();
    }
  }
}

}  // namespace

TEST_CASE("pt: torch.save'd state_dicts read exactly as torch reports them", "[unit][checkpoint]") {
  const json want = expected();
  for (const auto& file : want["pt_files"]) {
    INFO("file " << file.get<std::string>());
    check_matches(read_pt(kCheckpoints / file.get<std::string>()), want["state_dict"]);
  }
}

TEST_CASE("pt: tied entries sharing one storage come back as equal, separate tensors", "[unit][checkpoint]") {
  const json want = expected();
  TensorMap m = read_pt(kCheckpoints / want["pt_files"][0].get<std::string>());
  for (const auto& pair : want["tied"]) {
    TensorData& a = m.at(pair[0].get<std::string>());
    const TensorData& b = m.at(pair[1].get<std::string>());
    REQUIRE(a.bytes == b.bytes);
    a.bytes[0] ^= std::byte{1};
    CHECK(a.bytes != b.bytes);
  }
}

TEST_CASE("pt: the .pt and .safetensors of one state_dict agree", "[unit][checkpoint]") {
  const json want = expected();
  const TensorMap pt = read_pt(kCheckpoints / want["pt_files"][0].get<std::string>());
  const TensorMap st = read_safetensors(kCheckpoints / want["safetensors_file"].get<std::string>());
  REQUIRE(pt.size() == st.size());
  for (const auto& [name, t] : pt) {
    INFO("tensor " << name);
    REQUIRE(st.count(name) == 1);
    CHECK(t.dtype == st.at(name).dtype);
    CHECK(t.shape == st.at(name).shape);
    CHECK(t.bytes == st.at(name).bytes);
  }
}

TEST_CASE("pt: read_pt_full returns top-level scalar entries", "[unit][checkpoint]") {
  const json want = expected()["scalars"];
  const PtContents c = read_pt_full(kCheckpoints / want["file"].get<std::string>());
  check_matches(c.tensors, want["tensors"]);
  const json& entries = want["entries"];
  REQUIRE(c.scalars.size() == entries.size());
  for (const auto& [name, value] : entries.items()) {
    INFO("entry " << name);
    const PtScalar& s = c.scalars.at(name);
    if (value.is_null()) CHECK(std::holds_alternative<std::monostate>(s));
    else if (value.is_boolean()) CHECK(std::get<bool>(s) == value.get<bool>());
    else if (value.is_number_integer()) CHECK(std::get<int64_t>(s) == value.get<int64_t>());
    else if (value.is_number_float()) CHECK(std::get<double>(s) == value.get<double>());
    else CHECK(std::get<std::string>(s) == value.get<std::string>());
  }
  CHECK(read_pt(kCheckpoints / want["file"].get<std::string>()).size() == want["tensors"].size());
}

TEST_CASE("pt: hostile pickles are refused, naming the global", "[unit][checkpoint]") {
  const json want = expected();
  for (const auto& h : want["hostile"]) {
    const std::string file = h["file"].get<std::string>(), global = h["global"].get<std::string>();
    INFO("file " << file);
    const std::string error = error_of(kCheckpoints / file);
    CHECK(contains(error, "refused global '" + global + "'"));
  }
}

TEST_CASE("pt: well-formed files outside the accepted subset explain themselves", "[unit][checkpoint]") {
  const json want = expected();
  for (const auto& r : want["refused"]) {
    INFO("file " << r["file"].get<std::string>());
    CHECK(contains(error_of(kCheckpoints / r["file"].get<std::string>()), r["error"].get<std::string>()));
  }
}

TEST_CASE("pt: a runtime-built archive reads back its strided view", "[unit][checkpoint]") {
  ScratchDir dir;
  // storage [0..5], size (2, 3), stride (1, 2): element (i, j) is storage[i + 2j].
  const std::string pt = torch_zip(dict_pickle({{"w", tensor_op("0", "FloatStorage", 6, 0, {2, 3}, {1, 2})}}),
                                   {{"0", kSixFloats}});
  spit(dir.path / "ok.pt", pt);
  const TensorMap m = read_pt(dir.path / "ok.pt");
  CHECK(m.at("w").shape == std::vector<int64_t>{2, 3});
  CHECK(m.at("w").to_doubles() == std::vector<double>{0, 2, 4, 1, 3, 5});
}

TEST_CASE("pt: protocol 4 opcodes and every scalar spelling are understood", "[unit][checkpoint]") {
  // STACK_GLOBAL/MEMOIZE spelling of OrderedDict(), then SETITEMS of scalars.
  const std::string body =
      "\x8c\x0b" "collections" "\x94" "\x8c\x0b" "OrderedDict" "\x94" "\x93" "\x94" ")R\x94" "("s +
      "\x8c\x01" "a" "G" "\x3f\xe0\x00\x00\x00\x00\x00\x00"s +  // BINFLOAT 0.5
      "\x8c\x01" "b" "\x8a\x01\xff"s +                         // LONG1 -1
      "\x8c\x01" "c" "M\x34\x12"s +                             // BININT2 0x1234
      "\x8c\x01" "d" "J\xfe\xff\xff\xff"s +                     // BININT -2
      "\x8c\x01" "e" "N" "\x8c\x01" "f" "\x88"s +               // None, True
      "\x8c\x01" "g" "\x8d"s + le(3, 8) + "xyz" +               // BINUNICODE8
      "\x8c\x01" "h" "\x8a\x00"s +                              // LONG1 0
      "\x8c\x01" "a" "K\x07"s +                                  // repeated key: last wins
      "u.";
  ScratchDir dir;
  spit(dir.path / "p4.pt", torch_zip("\x80\x04"s + "\x95" + le(body.size(), 8) + body));
  const PtContents c = read_pt_full(dir.path / "p4.pt");
  CHECK(c.tensors.empty());
  CHECK(std::get<int64_t>(c.scalars.at("a")) == 7);
  CHECK(std::get<int64_t>(c.scalars.at("b")) == -1);
  CHECK(std::get<int64_t>(c.scalars.at("c")) == 0x1234);
  CHECK(std::get<int64_t>(c.scalars.at("d")) == -2);
  CHECK(std::holds_alternative<std::monostate>(c.scalars.at("e")));
  CHECK(std::get<bool>(c.scalars.at("f")));
  CHECK(std::get<std::string>(c.scalars.at("g")) == "xyz");
  CHECK(std::get<int64_t>(c.scalars.at("h")) == 0);
}

TEST_CASE("pt: crafted pickles outside the subset are refused", "[unit][checkpoint]") {
  const std::string w = "\x80\x02}" + str_op("w");  // a dict, a key, then the value under test
  const std::string deep = w + ")" + std::string(1'000'000, '\x85') + "s.";  // a million nested tuples
  struct Case {
    const char* what;
    std::string pickle;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"unknown opcode (INST)", "\x80\x02i__builtin__\nlist\n.", "opcode"},
      {"pickle without STOP", "\x80\x02}", "truncated"},
      {"REDUCE on an empty stack", "\x80\x02R.", "underflow"},
      {"REDUCE reaching below a MARK", "\x80\x02" "ccollections\nOrderedDict\n)(R.", "underflow"},
      {"two values at STOP", "\x80\x02}}.", "STOP"},
      {"a bool dict key", "\x80\x02}\x88K\x02s.", "dict key of type bool"},
      {"a None dict key", "\x80\x02}NK\x02s.", "dict key of type None"},
      {"a tuple dict key", "\x80\x02})K\x02s.", "unsupported dict key of type tuple"},
      {"BINGET of an unset memo slot", "\x80\x02h\x05.", "memo"},
      {"SETITEM into a list", "\x80\x02]K\x01K\x02s.", "dict"},
      {"protocol 6", "\x80\x06}.", "protocol"},
      {"LONG1 wider than 64 bits", "\x80\x02\x8a\x09" + std::string(9, '\x01') + ".", "64 bits"},
      {"unterminated GLOBAL", "\x80\x02" "ccollections", "GLOBAL"},
      {"endless GLOBAL line", "\x80\x02" "c" + std::string(5000, 'a') + "\nb\n.", "GLOBAL"},
      {"STACK_GLOBAL of ints", "\x80\x04K\x01K\x02\x93.", "STACK_GLOBAL"},
      {"allowed module, other name", "\x80\x02" "ctorch._utils\n_rebuild_from_type_v2\n.", "refused global"},
      {"calling a storage type", "\x80\x02" "ctorch\nFloatStorage\n)R.", "cannot be called"},
      {"OrderedDict with arguments", "\x80\x02" "ccollections\nOrderedDict\n(K\x01tR.", "arguments"},
      {"BUILD on a tensor", w + tensor_op("0", "FloatStorage", 6, 0, {6}, {1}) + "}b" "s.", "BUILD"},
      {"persistent id of the wrong shape", w + "(" + str_op("storage") + "tQs.", "persistent id"},
      {"view past the storage end", w + tensor_op("0", "FloatStorage", 6, 4, {3}, {1}) + "s.", "past the end"},
      {"storage size mismatch", w + tensor_op("0", "FloatStorage", 7, 0, {6}, {1}) + "s.", "holds 24 bytes"},
      {"missing storage", w + tensor_op("9", "FloatStorage", 6, 0, {6}, {1}) + "s.", "missing"},
      {"size and stride ranks differ", w + tensor_op("0", "FloatStorage", 6, 0, {2, 3}, {1}) + "s.", "rank"},
      {"terabyte broadcast view", w + tensor_op("0", "FloatStorage", 6, 0, {int64_t(1) << 40}, {0}) + "s.",
       "larger than its storage"},
      {"size overflowing int64", w + tensor_op("0", "FloatStorage", 6, 0, {int64_t(1) << 62, 4}, {0, 0}) + "s.",
       "overflows"},
      {"one storage, two dtypes",
       "\x80\x02}(" + str_op("a") + tensor_op("0", "FloatStorage", 6, 0, {6}, {1}) + str_op("b") +
           tensor_op("0", "IntStorage", 6, 0, {6}, {1}) + "u.",
       "two dtypes"},
      {"a list that contains itself", w + "]q\x00h\x00" "as."s, "list"},
      {"a million nested tuples", deep, "tuple"},
      {"a dict that contains itself", "\x80\x02}q\x00"s + str_op("me") + "h\x00s."s, "dict that contains itself"},
      {"a million nested lists, appended", "\x80\x02" + std::string(1'000'000, ']') + std::string(999'999, 'a') + ".",
       "nested more than 1000 levels"},
      // A list of two references to the list before it, 64 times: 2^64 values once expanded.
      {"shared references expanding exponentially",
       [] {
         std::string p = "\x80\x02" + str_op(std::string(4096, 'x')) + "q\x00" "0"s;
         for (int i = 0; i < 64; ++i)
           p += "]h" + std::string(1, char(i)) + "h" + std::string(1, char(i)) + "\x86" "aq" + std::string(1, char(i + 1)) + "0";
         return p + "h\x40.";
       }(),
       "would not fit in memory"},
      {"builtins.getattr", "\x80\x02" "c__builtin__\ngetattr\n.", "refused global '__builtin__.getattr'"},
      {"functools.reduce", "\x80\x02" "cfunctools\nreduce\n.", "refused global 'functools.reduce'"},
      {"functools.partial of os.system", "\x80\x02" "cfunctools\npartial\ncos\nsystem\n\x85R.", "refused global 'os.system'"},
      {"posix.system", "\x80\x02" "cposix\nsystem\n.", "refused global 'posix.system'"},
      {"importlib.import_module", "\x80\x02" "cimportlib\nimport_module\n.", "refused global 'importlib.import_module'"},
      {"torch.hub.load", "\x80\x02" "ctorch.hub\nload\n.", "refused global 'torch.hub.load'"},
      {"torch.load", "\x80\x02" "ctorch\nload\n.", "refused global 'torch.load'"},
      {"copyreg.add_extension", "\x80\x02" "ccopy_reg\nadd_extension\n.", "refused global 'copy_reg.add_extension'"},
      {"a global that is no Python name", "\x80\x02" "cx;y\nz\n.", "not a Python module and name"},
      {"a quantized tensor", "\x80\x02" "ctorch._utils\n_rebuild_qtensor\n.", "not read"},
      {"bytes in another encoding", "\x80\x02" "c_codecs\nencode\n(" + str_op("x") + str_op("utf-8") + "tR.", "latin1"},
      {"latin1 text above U+00FF", "\x80\x02" "c_codecs\nencode\n(" + str_op("\xc4\x80") + str_op("latin1") + "tR.",
       "above U+00FF"},
      {"ADDITEMS into a frozenset", "\x80\x02(\x91(K\x01\x90.", "frozenset"},
      {"NEWOBJ of a storage type", "\x80\x02" "ctorch\nFloatStorage\n)\x81.", "cannot be instantiated"},
  };
  ScratchDir dir;
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string error = error_for(dir, torch_zip(c.pickle, {{"0", kSixFloats}}));
    INFO(error);
    CHECK(contains(error, c.error));
  }
}

TEST_CASE("pt: damaged or foreign archives are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  const std::string pickle = dict_pickle({{"w", tensor_op("0", "FloatStorage", 6, 0, {6}, {1})}});
  CHECK(error_for(dir, torch_zip(pickle, {{"0", kSixFloats}})).empty());  // the baseline is fine
  CHECK(contains(error_for(dir, ""), "not a zip"));
  CHECK(contains(error_for(dir, "PK\x03\x04 and then nothing useful"), "end-of-central-directory"));
  CHECK(contains(error_for(dir, zip_stored({{"archive/version", "3"}})), "data.pkl"));
  CHECK(contains(error_for(dir, zip_stored({{"a/data.pkl", "}."}, {"b/data.pkl", "}."}})), "more than one"));
  CHECK(contains(error_for(dir, zip_stored({{"a/data.pkl", "}."}, {"a/data.pkl", "}."}})), "twice"));
  CHECK(contains(error_for(dir, zip_stored({{"archive/data.pkl", dict_pickle({})}, {"archive/byteorder", "big"}})),
                 "big-endian"));
  // A flipped byte inside a storage is caught by the entry's CRC.
  std::string corrupt = torch_zip(pickle, {{"0", kSixFloats}});
  corrupt[corrupt.find(kSixFloats) + 5] ^= 1;
  CHECK(contains(error_for(dir, corrupt), "CRC"));
}

TEST_CASE("pt: a file truncated at every eighth is refused", "[unit][checkpoint]") {
  const json want = expected();
  ScratchDir dir;
  for (const auto& file : want["pt_files"]) {
    const std::string whole = slurp(kCheckpoints / file.get<std::string>());
    for (int k = 0; k < 8; ++k) {
      INFO(file.get<std::string>() << " truncated to " << k << "/8");
      CHECK_FALSE(error_for(dir, whole.substr(0, whole.size() * k / 8)).empty());
    }
    CHECK_FALSE(error_for(dir, whole.substr(0, whole.size() - 1)).empty());
  }
}

TEST_CASE("pt: flipped bytes in the zip structures are refused", "[unit][checkpoint]") {
  const std::string whole = slurp(kCheckpoints / expected()["pt_files"][0].get<std::string>());
  const std::size_t eocd = whole.rfind("PK\x05\x06"), central = whole.find("PK\x01\x02");
  REQUIRE(eocd != std::string::npos);
  REQUIRE(central != std::string::npos);
  ScratchDir dir;
  // Signatures, the first record's CRC and its compression method.
  for (std::size_t pos : {eocd, eocd + 3, central, central + 2, central + 16, central + 10}) {
    std::string broken = whole;
    broken[pos] ^= 0x40;
    INFO("byte " << pos);
    CHECK_FALSE(error_for(dir, broken).empty());
  }
}

TEST_CASE("pt: any single flipped byte is refused or harmless, never a crash", "[unit][checkpoint]") {
  const json want = expected();
  ScratchDir dir;
  for (const auto& file : want["pt_files"]) {
    const fs::path flipped = dir.path / "flipped.pt";
    // Any exception but CheckpointError escapes error_of and fails the test.
    for_each_flip(flipped, slurp(kCheckpoints / file.get<std::string>()), [&] { error_of(flipped); });
  }
  SUCCEED("every variant was refused cleanly or read");
}

TEST_CASE("pt: missing files and directories are refused", "[unit][checkpoint]") {
  ScratchDir dir;
  CHECK_THROWS_AS(read_pt(dir.path / "absent.pt"), CheckpointError);
  CHECK_THROWS_AS(read_pt(dir.path), CheckpointError);
}

namespace {

// The reader's scalar against expected.json's value.
void check_scalar(const PtScalar& s, const json& value) {
  if (value.is_null()) CHECK(std::holds_alternative<std::monostate>(s));
  else if (value.is_boolean()) CHECK(std::get<bool>(s) == value.get<bool>());
  else if (value.is_number_integer()) CHECK(std::get<int64_t>(s) == value.get<int64_t>());
  else if (value.is_number_float()) CHECK(std::get<double>(s) == value.get<double>());
  else CHECK(std::get<std::string>(s) == value.get<std::string>());
}

const PtNode& child(const PtNode& n, const PtKey& key) {
  for (const auto& [k, v] : n.children)
    if (k == key) return v;
  FAIL("no child " << (std::holds_alternative<int64_t>(key) ? std::to_string(std::get<int64_t>(key))
                                                            : std::get<std::string>(key)));
  throw;
}

// A pickled module as torch.save(model) writes it (protocol 2, NEWOBJ,
// BUILD of its __dict__), with `attrs` as the ops of its extra attributes.
std::string module_ops(const std::string& cls, const std::string& attrs) {
  const auto dot = cls.rfind('.');
  return "c" + cls.substr(0, dot) + "\n" + cls.substr(dot + 1) + "\n)\x81}(" + str_op("training") + "\x88" + attrs +
         "ub";
}

}  // namespace

TEST_CASE("pt: nested checkpoints read by path exactly as torch reports them", "[unit][checkpoint]") {
  for (const auto& want : expected()["nested"]) {
    const std::string file = want["file"].get<std::string>();
    INFO("file " << file);
    const PtContents c = read_pt_full(kCheckpoints / file);
    check_matches(c.tensors, want["tensors"]);
    REQUIRE(c.scalars.size() == want["scalars"].size());
    for (const auto& [path, value] : want["scalars"].items()) {
      INFO("scalar " << path);
      REQUIRE(c.scalars.count(path) == 1);
      check_scalar(c.scalars.at(path), value);
    }
  }
}

TEST_CASE("pt: root() is the whole object, an inert tree", "[unit][checkpoint]") {
  PtReader r(kCheckpoints / "training.pt");
  const PtNode& root = r.root();
  REQUIRE(root.kind == PtNode::Kind::Dict);
  CHECK_FALSE(root.ordered_dict);
  CHECK(std::get<std::string>(root.children.front().first) == "model");  // insertion order kept
  const PtNode& model = child(root, "model"s);
  CHECK(model.kind == PtNode::Kind::Dict);
  CHECK(model.ordered_dict);  // a state_dict() is an OrderedDict
  CHECK(child(model, "0.weight"s).kind == PtNode::Kind::Tensor);
  CHECK(child(model, "0.weight"s).s == "model.0.weight");  // a Tensor node carries its name
  const PtNode& state = child(child(root, "optimizer"s), "state"s);
  REQUIRE(state.children.size() == 4);
  CHECK(std::get<int64_t>(state.children[2].first) == 2);  // int keys stay ints
  CHECK(child(child(state, int64_t{0}), "exp_avg"s).s == "optimizer.state.0.exp_avg");
  const PtNode& group = child(child(child(root, "optimizer"s), "param_groups"s), int64_t{0});
  CHECK(child(child(root, "optimizer"s), "param_groups"s).kind == PtNode::Kind::List);
  CHECK(child(group, "betas"s).kind == PtNode::Kind::Tuple);
  CHECK(child(group, "lr"s).f == 1e-3);
  CHECK(child(group, "foreach"s).kind == PtNode::Kind::None);
  CHECK(child(root, "big"s).i == (int64_t(1) << 40) + 1);
  const PtNode& blob = child(root, "blob"s);
  CHECK(blob.kind == PtNode::Kind::Bytes);
  CHECK(blob.s == "\x00\xffxyz"s);
  CHECK(r.tensors().size() == 16);
  CHECK(std::is_sorted(r.tensors().begin(), r.tensors().end(),
                       [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; }));
}

TEST_CASE("pt: a torch.save(model) file reads as its state_dict(), running nothing", "[unit][checkpoint]") {
  const json want = expected()["module"];
  PtReader r(kCheckpoints / want["file"].get<std::string>());
  std::vector<std::string> names, keys = want["state_dict_keys"].get<std::vector<std::string>>();
  for (const auto& t : r.tensors()) names.push_back(t.name);
  std::sort(keys.begin(), keys.end());
  CHECK(names == keys);  // no non-persistent buffer, no None bias, no plain tensor attribute
  for (const auto& pair : want["tied"])
    CHECK(r.read(pair[0].get<std::string>()).bytes == r.read(pair[1].get<std::string>()).bytes);
  const PtNode& root = r.root();
  CHECK(root.kind == PtNode::Kind::Object);
  CHECK(root.s == want["class"].get<std::string>());
  CHECK(child(root, "name"s).s == "tiny");               // attributes are kept in the tree
  CHECK(child(root, "scale"s).kind == PtNode::Kind::Tensor);
  CHECK(child(root, "scale"s).s.empty());                // but a plain tensor attribute is not state
  const PtNode& np = child(root, "_non_persistent_buffers_set"s);
  CHECK(np.s == "builtins.set");
  CHECK(child(np, "__items__"s).children.at(0).second.s == "cache");
  CHECK(r.scalars().empty());  // a module's attributes are not scalars of the checkpoint
}

TEST_CASE("pt: module pickles whose tensors cannot be read name the line that re-saves them", "[unit][checkpoint]") {
  ScratchDir dir;
  const std::string resave = "torch.save(torch.load(\"";
  struct Case {
    const char* what;
    std::string pickle;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"_parameters is a list", "\x80\x02" + module_ops("mylib.Net", str_op("_parameters") + "]") + ".",
       "its _parameters is not a dict"},
      {"a parameter that is no tensor",
       "\x80\x02" + module_ops("mylib.Net", str_op("_parameters") + "}" + str_op("w") + "cmylib\nWeird\n)\x81s") + ".",
       "'w' is not a plain tensor"},
      {"a submodule that is no module",
       "\x80\x02}" + str_op("model") +
           module_ops("mylib.Net", str_op("_modules") + "}" + str_op("sub") + "K\x01s") + "s.",
       "weights_only=False)[\"model\"].state_dict(), "},
      {"a submodule with its own state, holding a tensor",
       "\x80\x02" +
           module_ops("mylib.Net", str_op("_modules") + "}" + str_op("sub") + "cmylib\nOwn\n)\x81}" + str_op("w") +
                                       tensor_op("0", "FloatStorage", 6, 0, {6}, {1}) + "sbs") + ".",
       "its submodule 'sub' is not a pickled nn.Module"},
      {"a non-persistent set that is a list",
       "\x80\x02" + module_ops("mylib.Net", str_op("_parameters") + "}" + str_op("_non_persistent_buffers_set") + "]") + ".",
       "_non_persistent_buffers_set is not a set"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string error = error_for(dir, torch_zip(c.pickle));
    INFO(error);
    CHECK(contains(error, c.error));
    CHECK(contains(error, resave));
    CHECK(contains(error, "-state_dict.pt\")"));
  }
}

TEST_CASE("pt: module records, sets, bytes and protocol 4 spellings build the tree", "[unit][checkpoint]") {
  ScratchDir dir;
  const std::string t = tensor_op("0", "FloatStorage", 6, 0, {6}, {1});
  // A module with a parameter, a None bias, a buffer kept out by a frozenset
  // (protocol 4 spelling), a submodule made by copyreg._reconstructor, and a
  // dict subclass holding a scalar.
  const std::string sub = "ccopy_reg\n_reconstructor\n(cmylib\nSub\nc__builtin__\nobject\nNtR}(" + str_op("_parameters") +
                          "}" + str_op("b") + "ctorch._utils\n_rebuild_parameter\n(" + t + "\x88" +
                          "ccollections\nOrderedDict\n)Rt" "Rsub";
  const std::string pickle =
      "\x80\x02" +
      module_ops("mylib.Net", str_op("_parameters") + "}(" + str_op("w") + t + str_op("bias") + "Nu" +
                                  str_op("_buffers") + "}(" + str_op("kept") + t + str_op("gone") + t + "u" +
                                  str_op("_non_persistent_buffers_set") + "(" + str_op("gone") + "\x91" +
                                  str_op("_modules") + "}" + str_op("sub") + sub + "s" + str_op("config") +
                                  "cmylib\nAttrDict\n)\x81" + str_op("lr") + "G\x3f\xe0\x00\x00\x00\x00\x00\x00s"s +
                                  str_op("tags") + "\x8f(" + str_op("a") + "\x90" + str_op("raw") + "C\x02\x01\x02" +
                                  str_op("dtype") + "ctorch\nfloat32\n");
  spit(dir.path / "m.pt", torch_zip(pickle + ".", {{"0", kSixFloats}}));
  PtReader r(dir.path / "m.pt");
  std::vector<std::string> names;
  for (const auto& info : r.tensors()) names.push_back(info.name);
  CHECK(names == std::vector<std::string>{"kept", "sub.b", "w"});
  CHECK(r.read("sub.b").to_doubles() == std::vector<double>{0, 1, 2, 3, 4, 5});
  const PtNode& root = r.root();
  CHECK(root.s == "mylib.Net");
  CHECK(child(root, "config"s).kind == PtNode::Kind::Dict);  // a dict subclass reads as a dict
  CHECK(child(root, "config"s).s == "mylib.AttrDict");
  CHECK(child(child(root, "config"s), "lr"s).f == 0.5);
  CHECK(child(root, "tags"s).s == "builtins.set");
  CHECK(child(child(root, "tags"s), "__items__"s).children.at(0).second.s == "a");
  CHECK(child(root, "raw"s).kind == PtNode::Kind::Bytes);
  CHECK(child(root, "raw"s).s == "\x01\x02"s);
  CHECK(child(root, "dtype"s).kind == PtNode::Kind::Object);
  CHECK(child(root, "dtype"s).s == "torch.float32");
  CHECK(child(child(child(root, "_modules"s), "sub"s), "_parameters"s).children.size() == 1);
}

TEST_CASE("pt: a module inside a dict is named under its key", "[unit][checkpoint]") {
  PtReader r(kCheckpoints / "module_in_dict.pt");
  CHECK(r.tensors().front().name == "model.blocks.0.0.bias");
  CHECK(std::get<int64_t>(r.scalars().at("epoch")) == 1);
  CHECK(r.root().kind == PtNode::Kind::Dict);
}

TEST_CASE("pt: path_join joins keys and indices with dots", "[unit][checkpoint]") {
  CHECK(path_join("", "model"s) == "model");
  CHECK(path_join("", int64_t{3}) == "3");
  CHECK(path_join("optimizer.state", int64_t{0}) == "optimizer.state.0");
  CHECK(path_join("a", "b.c"s) == "a.b.c");
  CHECK(path_join("a", int64_t{-1}) == "a.-1");
}
