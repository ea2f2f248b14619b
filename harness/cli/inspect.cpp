#include "harness/cli/inspect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/safetensors.hpp"

namespace xcompat::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Inspected {
  std::string format;  // "pt" or "safetensors"
  TensorMap tensors;
  json metadata = json::object();  // key -> string/number/bool/null
};

// By content: a zip (torch >= 1.6) or a pickle (legacy torch.save, which
// read_pt refuses with its own explanation) is a .pt; a little-endian header
// length followed by '{' is safetensors.
std::string sniff_format(const fs::path& file) {
  std::array<char, 9> head{};
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CheckpointError(file, "cannot open for reading");
  in.read(head.data(), head.size());
  const auto got = in.gcount();
  if (got >= 4 && std::string_view(head.data(), 4) == "PK\x03\x04") return "pt";
  if (got >= 1 && static_cast<unsigned char>(head[0]) == 0x80) return "pt";
  if (got == 9 && head[8] == '{') return "safetensors";
  throw CheckpointError(file, "neither a torch.save checkpoint nor a safetensors file");
}

json scalar_json(const PtScalar& s) {
  return std::visit(
      [](const auto& v) -> json {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate>) return nullptr;
        else return v;
      },
      s);
}

// The version-bearing part of a sibling meta.json (as xcompat's fixtures
// write it): its top-level scalars and the scalars of its "versions" object.
void add_meta_json(const fs::path& checkpoint, json& metadata) {
  const fs::path meta = checkpoint.parent_path() / "meta.json";
  if (!fs::exists(meta)) return;
  std::ifstream in(meta);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw CheckpointError(meta, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw CheckpointError(meta, "is not a JSON object");
  for (const auto& [k, v] : j.items())
    if (v.is_primitive()) metadata["meta.json." + k] = v;
  if (j.contains("versions") && j["versions"].is_object())
    for (const auto& [k, v] : j["versions"].items())
      if (v.is_primitive()) metadata["meta.json.versions." + k] = v;
}

Inspected inspect(const fs::path& file) {
  Inspected out;
  out.format = sniff_format(file);
  if (out.format == "pt") {
    PtContents c = read_pt_full(file);
    out.tensors = std::move(c.tensors);
    for (const auto& [k, v] : c.scalars) out.metadata[k] = scalar_json(v);
    // xcompat's own record, written beside the tensors by `xcompat convert`.
    if (const std::string record = PtReader(file).xcompat_record(); !record.empty()) out.metadata["xcompat"] = record;
  } else {
    out.tensors = read_safetensors(file);
    for (const auto& [k, v] : read_safetensors_metadata(file)) out.metadata[k] = v;
  }
  add_meta_json(file, out.metadata);
  return out;
}

// Control characters replaced, so names from a hostile file cannot drive the
// terminal.
std::string visible(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t total_parameters(const TensorMap& tensors) {
  int64_t n = 0;
  for (const auto& [name, t] : tensors) n += t.numel();
  return n;
}

json to_json(const std::string& path, const Inspected& r) {
  json tensors = json::array();
  for (const auto& [name, t] : r.tensors)
    tensors.push_back({{"name", name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"numel", t.numel()}});
  return {{"path", path}, {"format", r.format}, {"tensors", tensors},
          {"total_parameters", total_parameters(r.tensors)}, {"metadata", r.metadata}};
}

void print_table(const std::string& path, const Inspected& r) {
  std::size_t name_w = 4, shape_w = 5;
  for (const auto& [name, t] : r.tensors) {
    name_w = std::max(name_w, name.size());
    shape_w = std::max(shape_w, shape_text(t.shape).size());
  }
  fmt::print("{} ({}, {} tensors, {} parameters)\n", path, r.format, r.tensors.size(), total_parameters(r.tensors));
  fmt::print("{:<{}}  {:<5}  {:<{}}  {:>12}\n", "name", name_w, "dtype", "shape", shape_w, "numel");
  for (const auto& [name, t] : r.tensors)
    fmt::print("{:<{}}  {:<5}  {:<{}}  {:>12}\n", visible(name), name_w, dtype_name(t.dtype), shape_text(t.shape),
               shape_w, t.numel());
  if (r.metadata.empty()) return;
  std::size_t key_w = 0;
  for (const auto& [k, v] : r.metadata.items()) key_w = std::max(key_w, k.size());
  fmt::print("metadata:\n");
  for (const auto& [k, v] : r.metadata.items())
    fmt::print("  {:<{}}  {}\n", visible(k), key_w, visible(v.is_string() ? v.get<std::string>() : v.dump()));
}

}  // namespace

int run_inspect(const std::string& path, bool json_output) {
  try {
    const Inspected r = inspect(path);
    // Names and strings come from the file; invalid UTF-8 is replaced, not fatal.
    if (json_output) std::cout << to_json(path, r).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    else print_table(path, r);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "xcompat inspect: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace xcompat::cli
