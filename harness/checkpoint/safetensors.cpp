#include "harness/checkpoint/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <fstream>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/checkpoint/staged_checkpoint.hpp"

namespace xcompat {

// The format is little-endian on disk and TensorData is little-endian in
// memory; copying bytes straight through is only right on such a host.
static_assert(std::endian::native == std::endian::little, "xcompat assumes a little-endian host");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The reference implementation refuses larger headers; so do we, before
// allocating anything from a length field that may be hostile.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the start of the data section
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // absolute file offset of the data section
};

// Only the safetensors spellings count: dtype_from_name also takes torch
// names, which a safetensors header must not use.
DType parse_dtype(const json& j, const std::string& name, const fs::path& file) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                    DType::I16, DType::I8, DType::U8, DType::Bool})
      if (s == dtype_name(d)) return d;
  }
  throw CheckpointError(file, "tensor '" + name + "' has unsupported dtype " + j.dump() +
                                  " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

std::vector<int64_t> parse_shape(const json& j, const std::string& name, const fs::path& file) {
  if (!j.is_array()) throw CheckpointError(file, "tensor '" + name + "' shape is not an array");
  std::vector<int64_t> shape;
  for (const auto& d : j) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      throw CheckpointError(file, "tensor '" + name + "' has invalid dimension " + d.dump());
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

Entry parse_entry(const std::string& name, const json& j, const fs::path& file) {
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    throw CheckpointError(file, "tensor '" + name + "' needs dtype, shape and data_offsets");
  Entry e{name, parse_dtype(j["dtype"], name, file), parse_shape(j["shape"], name, file)};
  const json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    throw CheckpointError(file, "tensor '" + name + "' data_offsets must be two unsigned integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin) throw CheckpointError(file, "tensor '" + name + "' data_offsets end before they begin");
  const auto numel = checked_numel(e.shape);
  uint64_t need = 0;
  if (!numel || __builtin_mul_overflow(uint64_t(*numel), dtype_size(e.dtype), &need))
    throw CheckpointError(file, "tensor '" + name + "' shape overflows");
  if (e.end - e.begin != need)
    throw CheckpointError(file, "tensor '" + name + "' spans " + std::to_string(e.end - e.begin) +
                                    " bytes, its shape and dtype need " + std::to_string(need));
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& j, const fs::path& file) {
  if (!j.is_object()) throw CheckpointError(file, "__metadata__ is not an object");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) throw CheckpointError(file, "__metadata__ value for '" + k + "' is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

// The byte ranges, sorted, must tile [0, data_bytes) exactly, as the reference
// implementation demands: overlap would alias tensors, gaps and trailing bytes
// mean a damaged or doctored file.
void check_layout(std::vector<Entry> entries, uint64_t data_bytes, const fs::path& file) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
  uint64_t expect = 0;
  for (const auto& e : entries) {
    if (e.begin != expect)
      throw CheckpointError(file, "tensor '" + e.name + "' starts at data offset " + std::to_string(e.begin) +
                                      (e.begin < expect ? ", overlapping the previous tensor" : ", leaving a gap") +
                                      " (expected " + std::to_string(expect) + ")");
    expect = e.end;
  }
  if (expect != data_bytes)
    throw CheckpointError(file, "tensors cover " + std::to_string(expect) + " data bytes but the file holds " +
                                    std::to_string(data_bytes));
}

std::ifstream open_for_read(const fs::path& file, uint64_t& size) {
  std::error_code ec;
  size = fs::file_size(file, ec);
  if (ec) throw CheckpointError(file, "cannot read: " + ec.message());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CheckpointError(file, "cannot open for reading");
  return in;
}

void read_exact(std::ifstream& in, uint64_t offset, void* dst, uint64_t n, const fs::path& file) {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  if (!in || static_cast<uint64_t>(in.gcount()) != n)
    throw CheckpointError(file, "short read at offset " + std::to_string(offset) + " (file changed while reading?)");
}

json parse_header_json(const std::string& text, const fs::path& file) {
  if (text.empty() || text.front() != '{') throw CheckpointError(file, "header does not start with '{'");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw CheckpointError(file, std::string("header is not valid JSON: ") + e.what());
  }
}

Header read_header(std::ifstream& in, uint64_t file_size, const fs::path& file) {
  if (file_size < 8)
    throw CheckpointError(file, "too small for a safetensors file (" + std::to_string(file_size) + " bytes)");
  unsigned char len_bytes[8];
  read_exact(in, 0, len_bytes, 8, file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes || n > file_size - 8)
    throw CheckpointError(file, "header length " + std::to_string(n) + " is impossible for a file of " +
                                    std::to_string(file_size) + " bytes");
  std::string text(n, '\0');
  read_exact(in, 8, text.data(), n, file);
  const json j = parse_header_json(text, file);
  if (!j.is_object()) throw CheckpointError(file, "header is not a JSON object");
  Header h;
  h.data_start = 8 + n;
  for (const auto& [key, value] : j.items()) {
    if (key == kMetadataKey) h.metadata = parse_metadata(value, file);
    else h.entries.push_back(parse_entry(key, value, file));
  }
  check_layout(h.entries, file_size - h.data_start, file);
  return h;
}

// The header for tensors stored back to back in the given order.
std::string encode_header(const std::vector<TensorInfo>& tensors, const std::map<std::string, std::string>& metadata,
                          const fs::path& file) {
  json j = json::object();
  if (!metadata.empty()) j[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == kMetadataKey) throw CheckpointError(file, "a tensor cannot be named __metadata__");
    const auto numel = checked_numel(t.shape);
    if (!numel) throw CheckpointError(file, "tensor '" + t.name + "' shape overflows");
    const uint64_t bytes = uint64_t(*numel) * dtype_size(t.dtype);
    j[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = j.dump();
  } catch (const json::exception& e) {
    throw CheckpointError(file, std::string("cannot encode header: ") + e.what());
  }
  // Like the reference writer, pad with spaces so the data section starts
  // 8-byte aligned (readers may then map tensors in place).
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

TensorMap read_safetensors(const fs::path& file) {
  uint64_t size = 0;
  std::ifstream in = open_for_read(file, size);
  const Header h = read_header(in, size, file);
  TensorMap out;
  for (const auto& e : h.entries) {
    TensorData t{e.dtype, e.shape, std::vector<std::byte>(e.end - e.begin)};
    if (!t.bytes.empty()) read_exact(in, h.data_start + e.begin, t.bytes.data(), t.bytes.size(), file);
    out.emplace(e.name, std::move(t));
  }
  return out;
}

struct SafetensorsReader::Impl {
  fs::path path;
  uint64_t size = 0;
  std::ifstream in;
  Header header;
  std::vector<TensorInfo> infos;
  std::map<std::string, std::size_t> index;
};

SafetensorsReader::SafetensorsReader(const fs::path& file) : impl_(std::make_unique<Impl>()) {
  impl_->path = file;
  impl_->in = open_for_read(file, impl_->size);
  impl_->header = read_header(impl_->in, impl_->size, file);
  std::sort(impl_->header.entries.begin(), impl_->header.entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < impl_->header.entries.size(); ++i) {
    const Entry& e = impl_->header.entries[i];
    impl_->infos.push_back({e.name, e.dtype, e.shape});
    impl_->index[e.name] = i;
  }
}

SafetensorsReader::~SafetensorsReader() = default;

const std::vector<TensorInfo>& SafetensorsReader::tensors() const { return impl_->infos; }
const std::map<std::string, std::string>& SafetensorsReader::metadata() const { return impl_->header.metadata; }

TensorData SafetensorsReader::read(const std::string& name) {
  auto it = impl_->index.find(name);
  if (it == impl_->index.end()) throw CheckpointError(impl_->path, "no tensor '" + name + "'");
  const Entry& e = impl_->header.entries[it->second];
  TensorData t{e.dtype, e.shape, std::vector<std::byte>(e.end - e.begin)};
  if (!t.bytes.empty()) read_exact(impl_->in, impl_->header.data_start + e.begin, t.bytes.data(), t.bytes.size(), impl_->path);
  return t;
}

struct SafetensorsWriter::Impl {
  StagedCheckpoint file;
  Impl(const fs::path& target, const std::vector<TensorInfo>& order) : file(target, order) {}
};

SafetensorsWriter::SafetensorsWriter(const fs::path& file, const std::vector<TensorInfo>& tensors,
                                     const std::map<std::string, std::string>& metadata) {
  const std::string header = encode_header(tensors, metadata, file);
  impl_ = std::make_unique<Impl>(file, tensors);
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));
  impl_->file.out().write(reinterpret_cast<const char*>(len_bytes), 8);
  impl_->file.out().write(header.data(), static_cast<std::streamsize>(header.size()));
  impl_->file.check_stream();
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::write(const TensorInfo& info, const TensorData& data) {
  impl_->file.accept(info, data);
  impl_->file.out().write(reinterpret_cast<const char*>(data.bytes.data()), static_cast<std::streamsize>(data.bytes.size()));
  impl_->file.check_stream();
}

void SafetensorsWriter::commit() { impl_->file.commit(); }

std::map<std::string, std::string> read_safetensors_metadata(const fs::path& file) {
  uint64_t size = 0;
  std::ifstream in = open_for_read(file, size);
  return read_header(in, size, file).metadata;
}

void write_safetensors(const fs::path& file, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorInfo> infos;
  for (auto& [name, t] : tensors) infos.push_back({name, t.dtype, t.shape});
  SafetensorsWriter w(file, infos, metadata);
  for (auto& info : infos) w.write(info, tensors.at(info.name));
  w.commit();
}

}  // namespace xcompat
