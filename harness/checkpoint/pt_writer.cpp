#include "harness/checkpoint/pt_writer.hpp"

#include "harness/checkpoint/crc32.hpp"
#include "harness/checkpoint/staged_checkpoint.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

constexpr const char* kArchive = "archive/";
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50,
                   kDescriptorSig = 0x08074b50, kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kDataDescriptorFlag = 0x0008;

const char* storage_class(DType d) {
  switch (d) {
    case DType::F64: return "DoubleStorage";
    case DType::F32: return "FloatStorage";
    case DType::F16: return "HalfStorage";
    case DType::BF16: return "BFloat16Storage";
    case DType::I64: return "LongStorage";
    case DType::I32: return "IntStorage";
    case DType::I16: return "ShortStorage";
    case DType::I8: return "CharStorage";
    case DType::U8: return "ByteStorage";
    case DType::Bool: return "BoolStorage";
  }
  return "FloatStorage";
}

// Protocol-2 opcodes, as torch.save emits them.
struct Pickle {
  std::string out = "\x80\x02";
  void global(const std::string& module, const std::string& name) { out += "c" + module + "\n" + name + "\n"; }
  void text(const std::string& s) {
    out += 'X';
    u32(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out += 'K';
      out += static_cast<char>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: little-endian two's complement, 8 bytes
      out += "\x8a\x08";
      for (int i = 0; i < 8; ++i) out += static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
    }
  }
  void int_tuple(const std::vector<int64_t>& v) {
    out += '(';
    for (auto x : v) integer(x);
    out += 't';
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>(v >> (8 * i));
  }
};

std::string build_pickle(const std::vector<TensorInfo>& tensors) {
  Pickle p;
  p.global("collections", "OrderedDict");
  p.out += ")R(";  // OrderedDict(), then MARK for SETITEMS
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    p.text(t.name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.out += '(';
    // persistent id: ('storage', <class>, key, location, numel)
    p.out += '(';
    p.text("storage");
    p.global("torch", storage_class(t.dtype));
    p.text(std::to_string(i));
    p.text("cpu");
    p.integer(checked_numel(t.shape).value_or(0));
    p.out += "tQ";
    p.integer(0);  // storage offset
    p.int_tuple(t.shape);
    std::vector<int64_t> stride(t.shape.size(), 1);
    for (std::size_t d = t.shape.size(); d-- > 1;) stride[d - 1] = stride[d] * t.shape[d];
    p.int_tuple(stride);
    p.out += '\x89';  // requires_grad = False
    p.global("collections", "OrderedDict");
    p.out += ")Rt";   // backward_hooks = OrderedDict(), end of args
    p.out += 'R';     // _rebuild_tensor_v2(*args)
  }
  p.out += "u.";      // SETITEMS, STOP
  return p.out;
}

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

PtWriter::PtWriter(const fs::path& file, const std::vector<TensorInfo>& tensors, const std::string& metadata_json)
    : impl_(std::make_unique<Impl>(file, tensors)) {
  impl_->metadata = metadata_json;
  impl_->whole_entry(std::string(kArchive) + "data.pkl", build_pickle(tensors));
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

}  // namespace xcompat
