#include "harness/checkpoint/pt_writer.hpp"

#include "harness/checkpoint/crc32.hpp"
#include "harness/checkpoint/pt_pickler.hpp"
#include "harness/checkpoint/staged_checkpoint.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

constexpr const char* kArchive = "archive/";
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50,
                   kDescriptorSig = 0x08074b50, kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kDataDescriptorFlag = 0x0008;

struct CentralEntry {
  std::string name;
  uint32_t crc = 0;
  uint64_t size = 0, offset = 0;
};

}  // namespace

struct PtWriter::Impl {
  StagedCheckpoint file;
  uint64_t pos = 0;
  std::vector<CentralEntry> central;
  std::string metadata;

  Impl(const fs::path& target, const std::vector<TensorInfo>& order) : file(target, order) {}

  void bytes(const void* p, std::size_t n) {
    file.out().write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    pos += n;
  }
  void le(uint64_t v, int width) {
    char b[8];
    for (int i = 0; i < width; ++i) b[i] = static_cast<char>(v >> (8 * i));
    bytes(b, static_cast<std::size_t>(width));
  }
  void check() { file.check_stream(); }

  // A STORED entry: local header with zeros, the data in pieces, a data
  // descriptor with the CRC and sizes (zip64 sizes when they need 8 bytes).
  void begin_entry(const std::string& name, CentralEntry& e) {
    e.name = name;
    e.offset = pos;
    le(kLocalSig, 4);
    le(45, 2);                  // version needed: zip64 aware
    le(kDataDescriptorFlag, 2);
    le(0, 2);                   // STORED
    le(0, 4);                   // time, date
    le(0, 4);                   // crc (in the descriptor)
    le(0, 4);                   // sizes (in the descriptor)
    le(0, 4);
    le(name.size(), 2);
    le(0, 2);                   // no extra field
    bytes(name.data(), name.size());
  }
  void entry_data(CentralEntry& e, const void* p, std::size_t n) {
    e.crc = crc32_update(e.crc, {static_cast<const std::byte*>(p), n});
    e.size += n;
    bytes(p, n);
  }
  void end_entry(const CentralEntry& e) {
    le(kDescriptorSig, 4);
    le(e.crc, 4);
    le(e.size, 8);  // zip64 descriptor: 8-byte sizes
    le(e.size, 8);
    central.push_back(e);
    check();
  }
  void whole_entry(const std::string& name, const std::string& data) {
    CentralEntry e;
    begin_entry(name, e);
    entry_data(e, data.data(), data.size());
    end_entry(e);
  }

  void finish() {
    const uint64_t cd_start = pos;
    for (auto& e : central) {
      le(kCentralSig, 4);
      le(45, 2);  // made by
      le(45, 2);  // needed
      le(kDataDescriptorFlag, 2);
      le(0, 2);
      le(0, 4);
      le(e.crc, 4);
      le(0xFFFFFFFF, 4);  // sizes and offset in the zip64 extra field
      le(0xFFFFFFFF, 4);
      le(e.name.size(), 2);
      le(28, 2);  // extra: zip64 (2 + 2 + 8 + 8 + 8)
      le(0, 2);   // comment
      le(0, 2);   // disk
      le(0, 2);   // internal attributes
      le(0, 4);   // external attributes
      le(0xFFFFFFFF, 4);
      bytes(e.name.data(), e.name.size());
      le(0x0001, 2);
      le(24, 2);
      le(e.size, 8);
      le(e.size, 8);
      le(e.offset, 8);
    }
    const uint64_t cd_size = pos - cd_start, zip64_end = pos;
    le(kZip64EndSig, 4);
    le(44, 8);
    le(45, 2);
    le(45, 2);
    le(0, 4);
    le(0, 4);
    le(central.size(), 8);
    le(central.size(), 8);
    le(cd_size, 8);
    le(cd_start, 8);
    le(kZip64LocatorSig, 4);
    le(0, 4);
    le(zip64_end, 8);
    le(1, 4);
    le(kEndSig, 4);
    le(0, 2);
    le(0, 2);
    le(0xFFFF, 2);
    le(0xFFFF, 2);
    le(0xFFFFFFFF, 4);
    le(0xFFFFFFFF, 4);
    le(0, 2);
    check();
  }
};

namespace {
// A state dict: an OrderedDict of the tensors by name, in the declared order.
PtNode flat_tree(const std::vector<TensorInfo>& tensors) {
  PtNode root;
  root.kind = PtNode::Kind::Dict;
  root.ordered_dict = true;
  for (const auto& t : tensors) {
    PtNode leaf;
    leaf.kind = PtNode::Kind::Tensor;
    leaf.s = t.name;
    root.children.emplace_back(t.name, std::move(leaf));
  }
  return root;
}
}  // namespace

PtWriter::PtWriter(const fs::path& file, const std::vector<TensorInfo>& tensors, const std::string& metadata_json)
    : PtWriter(file, flat_tree(tensors), tensors, metadata_json) {}

PtWriter::PtWriter(const fs::path& file, const PtNode& root, const std::vector<TensorInfo>& tensors,
                   const std::string& metadata_json) {
  // The pickle is checked (every tensor referenced once, no Object) before
  // a temporary file is made.
  const std::string pickle = pickle_tree(root, tensors, file);
  impl_ = std::make_unique<Impl>(file, tensors);
  impl_->metadata = metadata_json;
  impl_->whole_entry(std::string(kArchive) + "data.pkl", pickle);
  impl_->whole_entry(std::string(kArchive) + "byteorder", "little");
}

PtWriter::~PtWriter() = default;

void PtWriter::write(const TensorInfo& info, const TensorData& data) {
  const std::size_t index = impl_->file.accept(info, data);
  CentralEntry e;
  impl_->begin_entry(std::string(kArchive) + "data/" + std::to_string(index), e);
  impl_->entry_data(e, data.bytes.data(), data.bytes.size());
  impl_->end_entry(e);
}

void PtWriter::commit() {
  impl_->file.require_all_written();
  if (!impl_->metadata.empty()) impl_->whole_entry(std::string(kArchive) + "xcompat.json", impl_->metadata);
  impl_->whole_entry(std::string(kArchive) + "version", "3\n");
  impl_->finish();
  impl_->file.commit();
}

void write_pt(const fs::path& file, const TensorMap& tensors, const std::string& metadata_json) {
  std::vector<TensorInfo> infos;
  for (auto& [name, t] : tensors) infos.push_back({name, t.dtype, t.shape});
  PtWriter w(file, infos, metadata_json);
  for (auto& info : infos) w.write(info, tensors.at(info.name));
  w.commit();
}

void write_pt_tree(const fs::path& file, const PtNode& root, const TensorMap& tensors, const std::string& metadata_json) {
  // In the order the tree names them; pickle_tree checks the rest.
  std::vector<TensorInfo> infos;
  std::vector<const PtNode*> stack = {&root};
  std::vector<const PtNode*> order;
  while (!stack.empty()) {
    const PtNode* n = stack.back();
    stack.pop_back();
    if (n->kind == PtNode::Kind::Tensor) order.push_back(n);
    for (auto it = n->children.rbegin(); it != n->children.rend(); ++it) stack.push_back(&it->second);
  }
  for (const PtNode* n : order) {
    const auto it = tensors.find(n->s);
    if (it == tensors.end()) throw CheckpointError(file, "the tree refers to tensor '" + n->s + "', which is not given");
    infos.push_back({n->s, it->second.dtype, it->second.shape});
  }
  PtWriter w(file, root, infos, metadata_json);
  for (auto& info : infos) w.write(info, tensors.at(info.name));
  w.commit();
}

}  // namespace xcompat
