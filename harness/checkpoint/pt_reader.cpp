#include "harness/checkpoint/pt_reader.hpp"

#include "harness/checkpoint/crc32.hpp"
#include "harness/checkpoint/pt_globals.hpp"
#include "harness/checkpoint/signature.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <array>
#include <bit>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

namespace xcompat {

// torch.save writes native byte order (recorded in <archive>/byteorder, which
// must say "little"); TensorData is little-endian. Bytes are copied as they are.
static_assert(std::endian::native == std::endian::little, "xcompat assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
using Bytes = std::span<const std::byte>;

// ===========================================================================
// Raw file access
// ===========================================================================

// The file mapped read-only: the zip directory and the pickle are read in
// place, and each storage's pages are touched only when a tensor of it is
// read (and handed back afterwards), so a large checkpoint never has to fit
// in memory at once.
class MappedFile {
 public:
  explicit MappedFile(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw CheckpointError(file, std::string("cannot open: ") + std::strerror(errno));
    struct stat st{};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw CheckpointError(file, "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) {
        ::close(fd_);
        throw CheckpointError(file, std::string("cannot map: ") + std::strerror(errno));
      }
      data_ = static_cast<const std::byte*>(p);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  Bytes bytes() const { return {data_, size_}; }
  // Lets the kernel drop the pages of [at, at + n) from this process: they
  // are re-read from the file if touched again.
  void release(Bytes range) const {
    if (range.empty()) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<uintptr_t>(range.data()) / page * page;
    const auto end = reinterpret_cast<uintptr_t>(range.data() + range.size());
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

 private:
  int fd_ = -1;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Little-endian unsigned field of `width` bytes at `offset`; throws when the
// field would run past the end of `data`.
uint64_t field(Bytes data, uint64_t offset, unsigned width, const fs::path& file, const char* what) {
  if (offset > data.size() || width > data.size() - offset)
    throw CheckpointError(file, std::string(what) + " runs past the end of the file (truncated?)");
  uint64_t v = 0;
  for (unsigned i = width; i-- > 0;) v = (v << 8) | std::to_integer<uint64_t>(data[offset + i]);
  return v;
}

uint32_t crc32(Bytes data) { return crc32_update(0, data); }

// ===========================================================================
// Zip: central directory only (torch writes sizes into data descriptors and
// zeros into the local headers), STORED entries only (torch never compresses).
// ===========================================================================

constexpr uint32_t kLocalSig = 0x04034B50, kCentralSig = 0x02014B50, kEocdSig = 0x06054B50;
constexpr uint32_t kZip64EocdSig = 0x06064B50, kZip64LocatorSig = 0x07064B50;
constexpr uint64_t kEocdSize = 22, kCentralSize = 46, kLocalSize = 30, kZip64EocdSize = 56;

struct ZipEntry {
  uint64_t data_offset = 0;
  uint64_t size = 0;
  uint32_t crc = 0;
};

struct CentralDirectory {
  uint64_t offset = 0, size = 0, count = 0;
};

// The end-of-central-directory record: the last 22 bytes plus a comment of
// its stated length, which must end exactly at the end of the file.
uint64_t find_eocd(Bytes data, const fs::path& file) {
  if (data.size() >= kEocdSize) {
    const uint64_t last = data.size() - kEocdSize;
    const uint64_t first = last > 0xFFFF ? last - 0xFFFF : 0;
    for (uint64_t pos = last + 1; pos-- > first;)
      if (field(data, pos, 4, file, "EOCD") == kEocdSig &&
          pos + kEocdSize + field(data, pos + 20, 2, file, "EOCD") == data.size())
        return pos;
  }
  throw CheckpointError(file, "no zip end-of-central-directory record (truncated, or not a zip archive)");
}

// torch (miniz) always adds the zip64 records; plain zips may not have them.
CentralDirectory locate_central_directory(Bytes data, const fs::path& file) {
  const uint64_t eocd = find_eocd(data, file);
  CentralDirectory cd{field(data, eocd + 16, 4, file, "EOCD"), field(data, eocd + 12, 4, file, "EOCD"),
                      field(data, eocd + 10, 2, file, "EOCD")};
  uint64_t cd_limit = eocd;
  bool multi_disk = field(data, eocd + 4, 2, file, "EOCD") != 0 || field(data, eocd + 6, 2, file, "EOCD") != 0;
  if (eocd >= 20 && field(data, eocd - 20, 4, file, "zip64 locator") == kZip64LocatorSig) {
    const uint64_t z = field(data, eocd - 20 + 8, 8, file, "zip64 locator");
    multi_disk = field(data, eocd - 20 + 16, 4, file, "zip64 locator") > 1;
    if (z > eocd - 20 || eocd - 20 - z < kZip64EocdSize || field(data, z, 4, file, "zip64 EOCD") != kZip64EocdSig)
      throw CheckpointError(file, "zip64 end-of-central-directory record is missing or misplaced");
    cd = {field(data, z + 48, 8, file, "zip64 EOCD"), field(data, z + 40, 8, file, "zip64 EOCD"),
          field(data, z + 32, 8, file, "zip64 EOCD")};
    multi_disk = multi_disk || field(data, z + 16, 4, file, "zip64 EOCD") != 0;
    cd_limit = z;
  }
  if (multi_disk) throw CheckpointError(file, "multi-disk zip archives are not supported");
  if (cd.offset > cd_limit || cd.size > cd_limit - cd.offset)
    throw CheckpointError(file, "zip central directory lies outside the file");
  if (cd.count > cd.size / kCentralSize)
    throw CheckpointError(file, "zip central directory claims " + std::to_string(cd.count) + " entries in " +
                                    std::to_string(cd.size) + " bytes");
  return cd;
}

// Replaces the 32-bit sizes and offset that are 0xFFFFFFFF by the 64-bit
// values of the zip64 extra field, which lists only those, in this order.
void apply_zip64_extra(Bytes extra, uint64_t& usize, uint64_t& csize, uint64_t& local, const fs::path& file) {
  for (uint64_t pos = 0; pos + 4 <= extra.size();) {
    const uint64_t id = field(extra, pos, 2, file, "zip extra field");
    const uint64_t len = field(extra, pos + 2, 2, file, "zip extra field");
    if (len > extra.size() - pos - 4) throw CheckpointError(file, "zip extra field overruns its entry");
    if (id == 1) {
      Bytes z64 = extra.subspan(pos + 4, len);
      uint64_t at = 0;
      for (uint64_t* v : {&usize, &csize, &local})
        if (*v == 0xFFFFFFFF) {
          *v = field(z64, at, 8, file, "zip64 extra field");
          at += 8;
        }
      return;
    }
    pos += 4 + len;
  }
  if (usize == 0xFFFFFFFF || csize == 0xFFFFFFFF || local == 0xFFFFFFFF)
    throw CheckpointError(file, "zip entry needs a zip64 extra field but has none");
}

// Where an entry's bytes start: after its local header, whose name must agree
// with the central directory's (a cheap check against a shifted offset).
uint64_t locate_data(Bytes data, uint64_t local, const std::string& name, const fs::path& file) {
  if (field(data, local, 4, file, "zip local header") != kLocalSig)
    throw CheckpointError(file, "zip entry '" + name + "' has no local header at offset " + std::to_string(local));
  const uint64_t name_len = field(data, local + 26, 2, file, "zip local header");
  const uint64_t extra_len = field(data, local + 28, 2, file, "zip local header");
  const uint64_t start = local + kLocalSize;
  if (name_len != name.size() || start > data.size() || name_len > data.size() - start ||
      std::memcmp(data.data() + start, name.data(), name.size()) != 0)
    throw CheckpointError(file, "zip local header of '" + name + "' disagrees with the central directory");
  return start + name_len + extra_len;
}

// One central directory record at `pos`; advances `pos` past it.
std::pair<std::string, ZipEntry> parse_central_entry(Bytes data, uint64_t& pos, const CentralDirectory& cd,
                                                     const fs::path& file) {
  if (field(data, pos, 4, file, "zip central directory") != kCentralSig)
    throw CheckpointError(file, "zip central directory is corrupt at offset " + std::to_string(pos));
  const uint64_t flags = field(data, pos + 8, 2, file, "zip central directory");
  const uint64_t method = field(data, pos + 10, 2, file, "zip central directory");
  ZipEntry e;
  e.crc = static_cast<uint32_t>(field(data, pos + 16, 4, file, "zip central directory"));
  uint64_t csize = field(data, pos + 20, 4, file, "zip central directory");
  uint64_t usize = field(data, pos + 24, 4, file, "zip central directory");
  const uint64_t name_len = field(data, pos + 28, 2, file, "zip central directory");
  const uint64_t extra_len = field(data, pos + 30, 2, file, "zip central directory");
  const uint64_t comment_len = field(data, pos + 32, 2, file, "zip central directory");
  uint64_t local = field(data, pos + 42, 4, file, "zip central directory");
  const uint64_t record_end = pos + kCentralSize + name_len + extra_len + comment_len;
  if (record_end > cd.offset + cd.size) throw CheckpointError(file, "zip central directory record overruns it");
  std::string name(reinterpret_cast<const char*>(data.data() + pos + kCentralSize), name_len);
  apply_zip64_extra(data.subspan(pos + kCentralSize + name_len, extra_len), usize, csize, local, file);
  if (flags & 1) throw CheckpointError(file, "zip entry '" + name + "' is encrypted");
  if (method != 0)
    throw CheckpointError(file, "zip entry '" + name + "' is compressed (method " + std::to_string(method) +
                                    "); only STORED entries are read, as torch.save writes them");
  if (csize != usize) throw CheckpointError(file, "zip entry '" + name + "' is STORED but its sizes differ");
  e.size = usize;
  e.data_offset = locate_data(data, local, name, file);
  if (e.data_offset > cd.offset || e.size > cd.offset - e.data_offset)
    throw CheckpointError(file, "zip entry '" + name + "' data lies outside the file");
  pos = record_end;
  return {std::move(name), e};
}

class ZipArchive {
 public:
  ZipArchive(Bytes data, const fs::path& file) : data_(data), file_(file) {
    const CentralDirectory cd = locate_central_directory(data, file);
    uint64_t pos = cd.offset;
    for (uint64_t i = 0; i < cd.count; ++i) {
      auto [name, entry] = parse_central_entry(data, pos, cd, file);
      if (!entries_.emplace(name, entry).second) throw CheckpointError(file, "zip entry '" + name + "' appears twice");
    }
  }

  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  // The entry's bytes, after checking its CRC-32 (so a flipped byte anywhere
  // in a tensor is reported, not silently loaded).
  Bytes read(const std::string& name) const {
    Bytes bytes = read_unchecked(name);
    if (crc32(bytes) != entries_.at(name).crc) throw CheckpointError(file_, "zip entry '" + name + "' fails its CRC check");
    return bytes;
  }
  // Where the entry's bytes are, unchecked.
  Bytes read_unchecked(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) throw CheckpointError(file_, "zip entry '" + name + "' is missing");
    return data_.subspan(it->second.data_offset, it->second.size);
  }

 private:
  Bytes data_;
  fs::path file_;
  std::map<std::string, ZipEntry> entries_;
};

// ===========================================================================
// Restricted unpickler
// ===========================================================================

enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Set, Object, Global, Storage, Tensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Object: return "object";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

// Values live in an arena and refer to each other by index, never by owning
// pointer: a hostile pickle can then build cycles or deep nesting without
// leaking or overflowing the stack when everything is freed. Kept small (the
// rarer tensors and dict indexes live beside the arena) because every opcode
// may add one.
constexpr std::size_t kNoValue = SIZE_MAX;

struct Value {
  Kind kind = Kind::None;
  bool ordered = false;            // Dict: a collections.OrderedDict
  int64_t i = 0;                   // Bool, Int; Storage: element count; Tensor: index into views_
  double f = 0;                    // Float
  // Str, Bytes; Global: "module.name"; Storage: key; Object: its class;
  // Set: builtins.set or builtins.frozenset; Dict, List: the class of a dict
  // or list subclass instance (else empty).
  std::string s;
  DType dtype = DType::F32;        // Storage
  // Tuple, List, Set; Dict: key, value, key, value...; Object: its
  // arguments (a tuple), its BUILD state (or kNoValue).
  std::vector<std::size_t> items;
};

const std::map<std::string, DType>& storage_globals() {
  static const std::map<std::string, DType> m = {
      {"torch.DoubleStorage", DType::F64}, {"torch.FloatStorage", DType::F32},  {"torch.HalfStorage", DType::F16},
      {"torch.BFloat16Storage", DType::BF16}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16},  {"torch.CharStorage", DType::I8},    {"torch.ByteStorage", DType::U8},
      {"torch.BoolStorage", DType::Bool}};
  return m;
}

// The globals that mean something to the reader when called (REDUCE); any
// other allowed global (pt_globals.hpp) makes an inert Object record.
constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kDefaultDict = "collections.defaultdict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
constexpr const char* kRebuildFromType = "torch._tensor._rebuild_from_type_v2";
constexpr const char* kReconstructor = "copyreg._reconstructor";
constexpr const char* kNewObj = "copyreg.__newobj__";
constexpr const char* kNewObjEx = "copyreg.__newobj_ex__";
constexpr const char* kEncode = "_codecs.encode";
constexpr const char* kSet = "builtins.set";
constexpr const char* kFrozenSet = "builtins.frozenset";

// A pickled tree is rebuilt as a PtNode tree no deeper than this (torch.save
// itself cannot pickle much deeper: Python's recursion limit is 1000).
constexpr int kMaxDepth = 1000;


// A broadcast view (stride 0) can describe far more elements than its storage
// holds; materialising one is allowed only up to this size, so a doctored
// size cannot demand terabytes.
constexpr uint64_t kMaxBroadcastBytes = uint64_t(64) << 20;

// Hands out the bytes of storage `key`, which must hold exactly numel
// elements of dtype.
using StorageFetch = std::function<Bytes(const std::string& key, DType dtype, int64_t numel)>;

class Unpickler {
 public:
  Unpickler(Bytes pickle, const fs::path& file, StorageFetch fetch)
      : in_(pickle), file_(file), fetch_(std::move(fetch)) {}

  // Runs the pickle to STOP; returns the arena index of the result.
  std::size_t run() {
    while (true) {
      op_pos_ = pos_;
      const uint8_t op = u8();
      if (op == '.') break;
      step(op);
    }
    if (stack_.size() != 1 || !marks_.empty())
      fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
    return stack_.back();
  }

  // The unpickled object `root` as an inert PtNode tree. Tensor nodes carry
  // their view's index in `i`. Shared values are copied at each use, so the
  // copy is bounded: at most kMaxDepth levels, and no more than a few times
  // the memory the values took once (a pickle that references one big list
  // from everywhere cannot expand without limit). A value that contains
  // itself is refused. The values are let go afterwards; views stay.
  PtNode tree(std::size_t root) {
    uint64_t once = 0;
    for (const Value& v : arena_) once += cost(v);
    budget_ = 4 * once + (uint64_t(64) << 20);
    on_path_.assign(arena_.size(), false);
    PtNode out;
    to_node(root, out, 0);
    arena_.clear();
    dict_index_.clear();
    memo_.clear();
    on_path_.clear();
    return out;
  }

  // A tensor as the pickle describes it: a view into a storage, checked
  // against the storage's declared size but not read until materialised.
  struct View {
    std::string storage;
    DType dtype;
    int64_t storage_numel, offset;
    std::vector<int64_t> size, stride;
  };
  const View& view(int64_t index) const { return views_.at(static_cast<std::size_t>(index)); }

  // Whether the view is the storage's elements in row-major order (dims of
  // one element may have any stride).
  static bool row_major(const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    int64_t expected = 1;
    for (std::size_t d = size.size(); d-- > 0;) {
      if (size[d] != 1 && stride[d] != expected) return false;
      expected *= size[d];
    }
    return true;
  }

  // The view's elements, contiguous; the storage's bytes come from fetch.
  // `done_with` is told each stretch of the storage once it is copied (a
  // mapped file lets go of those pages), so a large tensor is never held
  // twice.
  TensorData materialise(const View& v, const std::function<void(Bytes)>& done_with = {}) {
    return materialise(fetch_(v.storage, v.dtype, v.storage_numel), v.dtype, v.offset, v.size, v.stride, done_with);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError(file_, "data.pkl at byte " + std::to_string(op_pos_) + ": " + what);
  }

  [[noreturn]] void fail_tree(const std::string& what) const {
    throw CheckpointError(file_, "data.pkl: " + what);
  }

  // --- the tree ------------------------------------------------------------
  static uint64_t cost(const Value& v) { return sizeof(std::pair<PtKey, PtNode>) + v.s.size(); }

  void to_node(std::size_t id, PtNode& out, int depth) {
    const Value& v = arena_[id];
    if (depth > kMaxDepth)
      fail_tree(std::string("a ") + kind_name(v.kind) + " nested more than " + std::to_string(kMaxDepth) +
                " levels deep");
    if (on_path_[id]) fail_tree(std::string("a ") + kind_name(v.kind) + " that contains itself is not read");
    const uint64_t c = cost(v);
    if (c > budget_) fail_tree("shared values repeated so often that the tree would not fit in memory");
    budget_ -= c;
    using K = PtNode::Kind;
    switch (v.kind) {
      case Kind::None: out.kind = K::None; return;
      case Kind::Bool: out.kind = K::Bool; out.b = v.i != 0; return;
      case Kind::Int: out.kind = K::Int; out.i = v.i; return;
      case Kind::Float: out.kind = K::Float; out.f = v.f; return;
      case Kind::Str: out.kind = K::Str; out.s = v.s; return;
      case Kind::Bytes: out.kind = K::Bytes; out.s = v.s; return;
      case Kind::Tensor: out.kind = K::Tensor; out.i = v.i; return;
      case Kind::Global: out.kind = K::Object; out.s = v.s; return;  // a bare name, e.g. torch.float32
      case Kind::Storage: fail_tree("a storage outside a tensor is not read");
      default: break;
    }
    on_path_[id] = true;
    out.s = v.s;
    switch (v.kind) {
      case Kind::Tuple:
      case Kind::List:
        out.kind = v.kind == Kind::Tuple ? K::Tuple : K::List;
        sequence(v.items, out, depth);
        break;
      case Kind::Dict:
        out.kind = K::Dict;
        out.ordered_dict = v.ordered;
        dict_entries(v, out, depth);
        break;
      case Kind::Set:  // an Object builtins.set / builtins.frozenset holding its items
        out.kind = K::Object;
        out.children.emplace_back(std::string("__items__"), PtNode{});
        out.children.back().second.kind = K::List;
        sequence(v.items, out.children.back().second, depth + 1);
        break;
      case Kind::Object: {
        out.kind = K::Object;
        const std::size_t args = v.items[0], state = v.items[1];
        if (state != kNoValue) {
          const Value& st = arena_[state];
          // The instance's __dict__, or (__dict__ or None, slots) as objects
          // with __slots__ pickle it; any other state is kept as it is.
          if (st.kind == Kind::Dict) {
            dict_entries(st, out, depth);
          } else if (st.kind == Kind::Tuple && st.items.size() == 2 &&
                     (arena_[st.items[0]].kind == Kind::Dict || arena_[st.items[0]].kind == Kind::None) &&
                     arena_[st.items[1]].kind == Kind::Dict) {
            if (arena_[st.items[0]].kind == Kind::Dict) dict_entries(arena_[st.items[0]], out, depth);
            dict_entries(arena_[st.items[1]], out, depth);
          } else {
            out.children.emplace_back(std::string("__state__"), PtNode{});
            to_node(state, out.children.back().second, depth + 1);
          }
        }
        if (!arena_[args].items.empty()) {
          out.children.emplace_back(std::string("__args__"), PtNode{});
          to_node(args, out.children.back().second, depth + 1);
        }
        break;
      }
      default: break;
    }
    on_path_[id] = false;
  }
  void sequence(const std::vector<std::size_t>& items, PtNode& out, int depth) {
    out.children.resize(items.size());
    for (std::size_t j = 0; j < items.size(); ++j) {
      out.children[j].first = static_cast<int64_t>(j);
      to_node(items[j], out.children[j].second, depth + 1);
    }
  }
  // Keys become paths, so only str and int keys are read (a repeated key
  // was already merged, Python-style, when the dict was filled).
  void dict_entries(const Value& d, PtNode& out, int depth) {
    out.children.reserve(out.children.size() + d.items.size() / 2);
    for (std::size_t j = 0; j + 1 < d.items.size(); j += 2) {
      const Value& k = arena_[d.items[j]];
      PtKey key;
      if (k.kind == Kind::Str) key = k.s;
      else if (k.kind == Kind::Int) key = k.i;
      else fail_tree(std::string("a dict key of type ") + kind_name(k.kind) + " is not read (only str and int keys name a path)");
      out.children.emplace_back(std::move(key), PtNode{});
      to_node(d.items[j + 1], out.children.back().second, depth + 1);
    }
  }

  // --- input ---------------------------------------------------------------
  Bytes take(uint64_t n) {
    if (n > in_.size() - pos_) fail("pickle is truncated");
    Bytes b = in_.subspan(pos_, n);
    pos_ += n;
    return b;
  }
  uint8_t u8() { return std::to_integer<uint8_t>(take(1)[0]); }
  uint64_t le(unsigned n) {
    Bytes b = take(n);
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = (v << 8) | std::to_integer<uint64_t>(b[i]);
    return v;
  }
  std::string str(uint64_t n) {
    Bytes b = take(n);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::string line() {
    constexpr uint64_t kMaxLine = 256;
    uint64_t n = 0;
    while (n < kMaxLine && pos_ + n < in_.size() && in_[pos_ + n] != std::byte{'\n'}) ++n;
    if (pos_ + n >= in_.size() || in_[pos_ + n] != std::byte{'\n'}) fail("GLOBAL name is unterminated or too long");
    std::string s = str(n);
    take(1);
    return s;
  }

  // --- stack and arena -----------------------------------------------------
  std::size_t make(Kind k) {
    arena_.emplace_back();
    arena_.back().kind = k;
    return arena_.size() - 1;
  }
  std::size_t make_int(Kind k, int64_t v) {
    const auto id = make(k);
    arena_[id].i = v;
    return id;
  }
  std::size_t make_str(Kind k, std::string s) {
    const auto id = make(k);
    arena_[id].s = std::move(s);
    return id;
  }
  void push(std::size_t id) { stack_.push_back(id); }
  std::size_t pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) fail("stack underflow");
    const auto id = stack_.back();
    stack_.pop_back();
    return id;
  }
  std::size_t top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  std::vector<std::size_t> pop_to_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<std::size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Value& expect(std::size_t id, Kind k, const char* what) {
    if (arena_[id].kind != k)
      fail(std::string(what) + " must be a " + kind_name(k) + ", not a " + kind_name(arena_[id].kind));
    return arena_[id];
  }

  // --- containers ----------------------------------------------------------
  std::size_t make_tuple(std::vector<std::size_t> items, Kind kind = Kind::Tuple) {
    const auto id = make(kind);
    arena_[id].items = std::move(items);
    return id;
  }
  std::string dict_key(std::size_t key) {
    const Value& k = arena_[key];
    switch (k.kind) {
      case Kind::Str: return "s" + k.s;
      case Kind::Int: return "i" + std::to_string(k.i);
      case Kind::Bool: return "i" + std::to_string(k.i);  // Python: True == 1
      case Kind::None: return "n";
      default: fail(std::string("unsupported dict key of type ") + kind_name(k.kind));
    }
  }
  // An instance of a dict (list) subclass is pickled as NEWOBJ, then its
  // items: it becomes a Dict (List) that keeps its class name.
  Value& container(std::size_t id, Kind k, const char* what) {
    Value& v = arena_[id];
    if (v.kind == Kind::Object && v.items.size() == 2 && v.items[1] == kNoValue) {
      v.kind = k;
      v.items.clear();
    }
    return expect(id, k, what);
  }
  // Python semantics: a repeated key replaces the earlier value in place.
  void dict_set(std::size_t dict, std::size_t key, std::size_t value) {
    const std::string k = dict_key(key);
    Value& d = container(dict, Kind::Dict, "SETITEM target");
    const auto [it, fresh] = dict_index_[dict].emplace(k, d.items.size() + 1);
    if (fresh) {
      d.items.push_back(key);
      d.items.push_back(value);
    } else {
      d.items[it->second] = value;
    }
  }
  void set_items(std::vector<std::size_t> kv) {
    if (kv.size() % 2) fail("SETITEMS with an odd number of values");
    const auto dict = top();
    for (std::size_t j = 0; j < kv.size(); j += 2) dict_set(dict, kv[j], kv[j + 1]);
  }
  void append_items(const std::vector<std::size_t>& values) {
    Value& list = container(top(), Kind::List, "APPEND target");
    list.items.insert(list.items.end(), values.begin(), values.end());
  }
  void add_items(const std::vector<std::size_t>& values) {
    Value& set = expect(top(), Kind::Set, "ADDITEMS target");
    if (set.s != kSet) fail("ADDITEMS into a frozenset");
    set.items.insert(set.items.end(), values.begin(), values.end());
  }
  std::size_t make_set(std::vector<std::size_t> items, const char* cls) {
    const auto id = make_tuple(std::move(items), Kind::Set);
    arena_[id].s = cls;
    return id;
  }
  // An inert record of an instance of `cls`: nothing is imported or called.
  std::size_t make_object(const std::string& cls, std::vector<std::size_t> args) {
    const auto id = make_str(Kind::Object, cls);
    arena_[id].items = {make_tuple(std::move(args)), kNoValue};
    return id;
  }

  // --- memo ----------------------------------------------------------------
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  // --- globals and calls ---------------------------------------------------
  // The policy and its reasons: pt_globals.hpp. A global is only a name here.
  void push_global(const std::string& module, const std::string& name) {
    const GlobalVerdict v = judge_global(module, name);
    if (!v.allowed)
      fail("refused global '" + printable(module + "." + name) + "': " + v.why + "; nothing was executed");
    push(make_str(Kind::Global, v.name));
  }
  void stack_global() {
    const std::string name = expect(pop(), Kind::Str, "STACK_GLOBAL name").s;
    const std::string module = expect(pop(), Kind::Str, "STACK_GLOBAL module").s;
    push_global(module, name);
  }
  // REDUCE: callable(*args). Tensor rebuilders, OrderedDict, sets and bytes
  // are interpreted; any other global makes an inert Object record.
  void reduce() {
    const auto args = pop();
    const std::string callee = expect(pop(), Kind::Global, "REDUCE callable").s;
    push(call(callee, expect(args, Kind::Tuple, "REDUCE arguments").items));
  }
  std::size_t call(const std::string& callee, const std::vector<std::size_t>& a) {
    if (callee == kOrderedDict || callee == kDefaultDict) {
      // defaultdict(factory): the factory is a name, never called.
      if (callee == kOrderedDict ? !a.empty() : a.size() > 1) fail(callee + " called with arguments");
      const auto id = make(Kind::Dict);
      arena_[id].ordered = callee == kOrderedDict;
      if (callee == kDefaultDict) arena_[id].s = callee;
      return id;
    }
    if (callee == kRebuildTensor || callee == kRebuildParameter || callee == kRebuildParameterWithState)
      return rebuild(callee, a);
    if (callee == kRebuildFromType) {  // (func, type, args, state): a tensor with Python attributes
      if (a.size() != 4) fail(callee + " with wrong argument count");
      return rebuild(expect(a[0], Kind::Global, "tensor rebuild function").s,
                     expect(a[2], Kind::Tuple, "tensor rebuild arguments").items);
    }
    if (callee == kSet || callee == kFrozenSet) {  // set() or set(list)
      if (a.size() > 1) fail(callee + " with more than one argument");
      std::vector<std::size_t> items;
      if (a.size() == 1) {
        const Value& from = arena_[a[0]];
        if (from.kind != Kind::List && from.kind != Kind::Tuple && from.kind != Kind::Set)
          fail(callee + " of a " + kind_name(from.kind));
        items = from.items;
      }
      return make_set(std::move(items), callee == kSet ? kSet : kFrozenSet);
    }
    if (callee == kEncode) return encode(a);
    if (callee == "builtins.bytes" || callee == "builtins.bytearray") {
      if (a.empty()) return make_str(Kind::Bytes, "");
      if (a.size() == 1 && arena_[a[0]].kind == Kind::Bytes) return a[0];
      if (a.size() == 2) return encode(a);  // bytearray(str, "latin-1")
    }
    if (callee == kReconstructor || callee == kNewObj || callee == kNewObjEx) {
      // copyreg._reconstructor(cls, base, state), __newobj__(cls, *args),
      // __newobj_ex__(cls, args, kwargs): an instance of cls.
      if (a.empty()) fail(callee + " without a class");
      const std::string& cls = expect(a[0], Kind::Global, "instance class").s;
      if (callee == kNewObjEx) {
        if (a.size() != 3) fail(callee + " with wrong argument count");
        return make_object(cls, expect(a[1], Kind::Tuple, "__newobj_ex__ arguments").items);
      }
      return make_object(cls, std::vector<std::size_t>(a.begin() + 1, a.end()));
    }
    if (storage_globals().count(callee)) fail("global '" + callee + "' cannot be called");
    return make_object(callee, a);
  }
  // NEWOBJ: cls.__new__(cls, *args), kept as a record.
  void new_object(bool with_kwargs) {
    if (with_kwargs) pop();  // keyword arguments: not needed for a record
    const auto args = expect(pop(), Kind::Tuple, "NEWOBJ arguments").items;
    const std::string cls = expect(pop(), Kind::Global, "NEWOBJ class").s;
    if (storage_globals().count(cls)) fail("global '" + cls + "' cannot be instantiated");
    push(make_object(cls, args));
  }
  // _codecs.encode(str, "latin1"): how protocol 2 pickles bytes (each char
  // of the str is one byte, U+0000..U+00FF, as UTF-8 in the pickle).
  std::size_t encode(const std::vector<std::size_t>& a) {
    if (a.size() != 2) fail("_codecs.encode with wrong argument count");
    const std::string& text = expect(a[0], Kind::Str, "encoded text").s;
    const std::string& codec = expect(a[1], Kind::Str, "encoding").s;
    if (codec != "latin1" && codec != "latin-1") fail("bytes encoded as '" + printable(codec) + "', not latin1");
    std::string out;
    for (std::size_t j = 0; j < text.size(); ++j) {
      const auto c = static_cast<unsigned char>(text[j]);
      if (c < 0x80) {
        out += static_cast<char>(c);
      } else if ((c == 0xC2 || c == 0xC3) && j + 1 < text.size() &&
                 (static_cast<unsigned char>(text[j + 1]) & 0xC0) == 0x80) {
        out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(text[++j]) & 0x3F));
      } else {
        fail("latin1 bytes hold a character above U+00FF");
      }
    }
    return make_str(Kind::Bytes, std::move(out));
  }
  // BUILD: the state of an instance (its attributes) is kept on its record.
  // On a dict (OrderedDict._metadata of a state_dict) or a list subclass it
  // sets Python attributes that do not matter here, and is dropped.
  void build() {
    const auto state = pop();
    Value& target = arena_[top()];
    if (target.kind == Kind::Object) target.items[1] = state;
    else if (target.kind != Kind::Dict && target.kind != Kind::List)
      fail(std::string("BUILD target must be a dict or an object, not a ") + kind_name(target.kind));
  }
  // Persistent id ('storage', storage_type, key, location, numel).
  void persistent_load() {
    const std::vector<std::size_t> pid = expect(pop(), Kind::Tuple, "persistent id").items;
    if (pid.size() != 5 || arena_[pid[0]].kind != Kind::Str || arena_[pid[0]].s != "storage")
      fail("persistent id is not ('storage', type, key, location, numel)");
    const std::string& type = expect(pid[1], Kind::Global, "storage type").s;
    const auto dtype = storage_globals().find(type);
    if (dtype == storage_globals().end()) fail("'" + type + "' is not a storage type");
    const auto id = make_str(Kind::Storage, expect(pid[2], Kind::Str, "storage key").s);
    arena_[id].dtype = dtype->second;
    arena_[id].i = expect(pid[4], Kind::Int, "storage size").i;
    if (arena_[id].i < 0) fail("negative storage size");
    push(id);
  }

  std::vector<int64_t> int_tuple(std::size_t id, const char* what) {
    std::vector<int64_t> out;
    for (auto item : expect(id, Kind::Tuple, what).items) {
      const int64_t v = expect(item, Kind::Int, what).i;
      if (v < 0) fail(std::string(what) + " has a negative entry");
      out.push_back(v);
    }
    return out;
  }

  // _rebuild_tensor_v2(...) or _rebuild_parameter[_with_state](tensor, ...).
  std::size_t rebuild(const std::string& func, const std::vector<std::size_t>& a) {
    if (func == kRebuildTensor) return rebuild_tensor(a);
    if (func != kRebuildParameter && func != kRebuildParameterWithState) fail("'" + func + "' does not rebuild a tensor");
    if (a.size() != (func == kRebuildParameter ? 3u : 4u)) fail(func + " with wrong argument count");
    expect(a[0], Kind::Tensor, "parameter data");
    return a[0];  // requires_grad, hooks and Python attributes do not matter here
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  // backward_hooks[, metadata]); only the first four matter.
  std::size_t rebuild_tensor(const std::vector<std::size_t>& a) {
    if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 with wrong argument count");
    const Value& st = expect(a[0], Kind::Storage, "tensor storage");
    const int64_t offset = expect(a[1], Kind::Int, "storage offset").i;
    const std::vector<int64_t> size = int_tuple(a[2], "tensor size");
    const std::vector<int64_t> stride = int_tuple(a[3], "tensor stride");
    if (offset < 0) fail("negative storage offset");
    if (size.size() != stride.size()) fail("tensor size and stride differ in rank");
    check_view(st.i, st.dtype, offset, size, stride);
    views_.push_back({st.s, st.dtype, st.i, offset, size, stride});
    return make_int(Kind::Tensor, static_cast<int64_t>(views_.size() - 1));
  }

  // The view must fit the storage's declared element count (the storage
  // itself is checked to hold exactly that many when it is read).
  void check_view(int64_t storage_numel, DType dtype, int64_t offset, const std::vector<int64_t>& size,
                  const std::vector<int64_t>& stride) const {
    const uint64_t es = dtype_size(dtype);
    const auto numel = checked_numel(size);
    uint64_t bytes = 0;
    if (!numel || __builtin_mul_overflow(uint64_t(*numel), es, &bytes)) fail("tensor size overflows");
    uint64_t storage_bytes = 0;
    if (storage_numel < 0 || __builtin_mul_overflow(uint64_t(storage_numel), es, &storage_bytes))
      fail("storage size overflows");
    if (bytes > storage_bytes && bytes > kMaxBroadcastBytes) fail("tensor view is larger than its storage allows");
    if (*numel == 0) return;
    int64_t last = offset;
    for (std::size_t d = 0; d < size.size(); ++d) {
      int64_t span = 0;
      if (__builtin_mul_overflow(size[d] - 1, stride[d], &span) || __builtin_add_overflow(last, span, &last))
        fail("tensor view overflows");
    }
    if (last < 0 || last >= storage_numel) fail("tensor view reaches past the end of its storage");
  }

  TensorData materialise(Bytes storage, DType dtype, int64_t offset, const std::vector<int64_t>& size,
                         const std::vector<int64_t>& stride, const std::function<void(Bytes)>& done_with = {}) {
    const uint64_t es = dtype_size(dtype);
    const auto numel = checked_numel(size);
    uint64_t bytes = 0;
    if (!numel || __builtin_mul_overflow(uint64_t(*numel), es, &bytes)) fail("tensor size overflows");
    if (bytes > storage.size() && bytes > kMaxBroadcastBytes) fail("tensor view is larger than its storage allows");
    TensorData t{dtype, size, std::vector<std::byte>(bytes)};
    if (*numel == 0) return t;
    // Largest element index the view touches must lie inside the storage.
    int64_t last = offset;
    for (std::size_t d = 0; d < size.size(); ++d) {
      int64_t span = 0;
      if (__builtin_mul_overflow(size[d] - 1, stride[d], &span) || __builtin_add_overflow(last, span, &last))
        fail("tensor view overflows");
    }
    if (uint64_t(last) >= storage.size() / es) fail("tensor view reaches past the end of its storage");
    if (row_major(size, stride)) {
      // The usual case: one stretch of the storage, copied in chunks.
      constexpr uint64_t kChunk = 8u << 20;
      const std::byte* src = storage.data() + uint64_t(offset) * es;
      for (uint64_t at = 0; at < bytes; at += kChunk) {
        const uint64_t n = std::min(kChunk, bytes - at);
        std::memcpy(t.bytes.data() + at, src + at, n);
        if (done_with) done_with(Bytes(src + at, n));
      }
      return t;
    }
    copy_strided(storage.data(), t.bytes.data(), es, offset, size, stride);
    if (done_with) done_with(storage);
    return t;
  }

  // Row-major walk over the view with an odometer of indices: src follows
  // the strides, dst is contiguous.
  static void copy_strided(const std::byte* src, std::byte* dst, uint64_t es, int64_t offset,
                           const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    const auto numel = *checked_numel(size);
    std::vector<int64_t> idx(size.size(), 0);
    int64_t at = offset;
    for (int64_t n = 0; n < numel; ++n, dst += es) {
      std::memcpy(dst, src + uint64_t(at) * es, es);
      for (std::size_t d = size.size(); d-- > 0;) {
        if (++idx[d] < size[d]) {
          at += stride[d];
          break;
        }
        at -= (size[d] - 1) * stride[d];
        idx[d] = 0;
      }
    }
  }

  // --- dispatch ------------------------------------------------------------
  void step(uint8_t op) {
    switch (op) {
      case 0x80: if (u8() > 5) fail("pickle protocol above 5"); break;   // PROTO
      case 0x95: le(8); break;                                           // FRAME: a hint only
      case '(': marks_.push_back(stack_.size()); break;                  // MARK
      case 'N': push(make(Kind::None)); break;                           // NONE
      case 0x88: push(make_int(Kind::Bool, 1)); break;                   // NEWTRUE
      case 0x89: push(make_int(Kind::Bool, 0)); break;                   // NEWFALSE
      case 'J': push(make_int(Kind::Int, int32_t(uint32_t(le(4))))); break;  // BININT
      case 'K': push(make_int(Kind::Int, int64_t(le(1)))); break;        // BININT1
      case 'M': push(make_int(Kind::Int, int64_t(le(2)))); break;        // BININT2
      case 0x8A: push(make_int(Kind::Int, long1())); break;              // LONG1
      case 'G': push_float(); break;                                     // BINFLOAT
      case 'X': push(make_str(Kind::Str, str(le(4)))); break;            // BINUNICODE
      case 0x8C: push(make_str(Kind::Str, str(le(1)))); break;           // SHORT_BINUNICODE
      case 0x8D: push(make_str(Kind::Str, str(le(8)))); break;           // BINUNICODE8
      case '}': push(make(Kind::Dict)); break;                           // EMPTY_DICT
      case ']': push(make(Kind::List)); break;                           // EMPTY_LIST
      case ')': push(make_tuple({})); break;                             // EMPTY_TUPLE
      case 't': push(make_tuple(pop_to_mark())); break;                  // TUPLE
      case 0x85: case 0x86: case 0x87: push(make_tuple(pop_n(op - 0x84))); break;  // TUPLE1..3
      case 's': { const auto v = pop(), k = pop(); dict_set(top(), k, v); break; }  // SETITEM
      case 'u': set_items(pop_to_mark()); break;                         // SETITEMS
      case 'a': append_items({pop()}); break;                            // APPEND
      case 'e': append_items(pop_to_mark()); break;                      // APPENDS
      case 'q': memo_put(le(1)); break;                                  // BINPUT
      case 'r': memo_put(le(4)); break;                                  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                          // MEMOIZE
      case 'h': memo_get(le(1)); break;                                  // BINGET
      case 'j': memo_get(le(4)); break;                                  // LONG_BINGET
      case 'c': { const auto m = line(); push_global(m, line()); break; }  // GLOBAL
      case 0x93: stack_global(); break;                                  // STACK_GLOBAL
      case 'R': reduce(); break;                                         // REDUCE
      case 'b': build(); break;                                          // BUILD
      case 0x81: new_object(false); break;                               // NEWOBJ
      case 0x92: new_object(true); break;                                // NEWOBJ_EX
      case 'C': push(make_str(Kind::Bytes, str(le(1)))); break;          // SHORT_BINBYTES
      case 'B': push(make_str(Kind::Bytes, str(le(4)))); break;          // BINBYTES
      case 0x8E: push(make_str(Kind::Bytes, str(le(8)))); break;         // BINBYTES8
      case 'U': push(make_str(Kind::Str, str(le(1)))); break;            // SHORT_BINSTRING
      case 'T': push(make_str(Kind::Str, str(le(4)))); break;            // BINSTRING
      case 0x8F: push(make_set({}, kSet)); break;                        // EMPTY_SET
      case 0x90: add_items(pop_to_mark()); break;                        // ADDITEMS
      case 0x91: push(make_set(pop_to_mark(), kFrozenSet)); break;       // FROZENSET
      case '0': pop(); break;                                            // POP
      case '1': pop_to_mark(); break;                                    // POP_MARK
      case 'Q': persistent_load(); break;                                // BINPERSID
      default: fail("pickle opcode " + printable(std::string(1, char(op))) + " (byte " + std::to_string(op) +
                    ") is outside the accepted state_dict subset");
    }
  }

  std::vector<std::size_t> pop_n(std::size_t n) {
    std::vector<std::size_t> items(n);
    for (std::size_t j = n; j-- > 0;) items[j] = pop();
    return items;
  }
  // LONG1: little-endian two's complement of up to 8 bytes here.
  int64_t long1() {
    const uint64_t n = u8();
    if (n > 8) fail("integer wider than 64 bits");
    if (n == 0) return 0;
    uint64_t v = le(static_cast<unsigned>(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);
    return static_cast<int64_t>(v);
  }
  void push_float() {
    Bytes b = take(8);  // big-endian IEEE 754
    uint64_t bits = 0;
    for (std::byte x : b) bits = (bits << 8) | std::to_integer<uint64_t>(x);
    const auto id = make(Kind::Float);
    arena_[id].f = std::bit_cast<double>(bits);
    push(id);
  }

  Bytes in_;
  uint64_t pos_ = 0, op_pos_ = 0;
  fs::path file_;
  StorageFetch fetch_;
  std::deque<Value> arena_;  // deque: growing it keeps references valid
  std::deque<View> views_;
  // dict id -> key -> slot of the key's value in the dict's items
  std::unordered_map<std::size_t, std::unordered_map<std::string, std::size_t>> dict_index_;
  std::vector<std::size_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint64_t, std::size_t> memo_;
  std::vector<bool> on_path_;  // tree(): values being copied, to refuse cycles
  uint64_t budget_ = 0;        // tree(): bytes the copy may still take
};

// ===========================================================================
// torch.save archive layout
// ===========================================================================

// "<archive>/data.pkl" is the one pickle; everything else hangs off <archive>.
std::string archive_prefix(const ZipArchive& zip, const fs::path& file) {
  std::string prefix;
  for (const auto& [name, entry] : zip.entries()) {
    const auto slash = name.find('/');
    if (slash == std::string::npos || name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
    if (!prefix.empty()) throw CheckpointError(file, "more than one data.pkl in the archive");
    prefix = name.substr(0, slash + 1);
  }
  if (prefix.empty()) throw CheckpointError(file, "no <archive>/data.pkl: not a torch.save checkpoint");
  return prefix;
}

void check_byteorder(const ZipArchive& zip, const std::string& prefix, const fs::path& file) {
  if (!zip.contains(prefix + "byteorder")) return;  // torch < 1.10 wrote none, always little-endian
  const Bytes b = zip.read(prefix + "byteorder");
  if (std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) != "little")
    throw CheckpointError(file, "written on a big-endian machine; only little-endian checkpoints are read");
}

void check_is_zip(Bytes data, const fs::path& file) {
  if (sniff(data.first(std::min<std::size_t>(data.size(), 32)), data.size()) == Signature::LegacyTorch)
    throw CheckpointError(file, "legacy torch.save format (torch < 1.6 or _use_new_zipfile_serialization=False) "
                                "is not supported; re-save it with a current torch");
  if (data.size() < 4 || field(data, 0, 4, file, "magic") != kLocalSig)
    throw CheckpointError(file, "not a zip archive, so not a torch.save checkpoint");
}

// Storage bytes by key, each checked (CRC, size) once even when several
// tensors view it, as tied weights do.
StorageFetch storage_fetcher(const ZipArchive& zip, const std::string& prefix, const fs::path& file) {
  std::map<std::string, std::pair<DType, Bytes>> seen;
  return [&zip, prefix, file, seen](const std::string& key, DType dtype, int64_t numel) mutable -> Bytes {
    const auto it = seen.find(key);
    if (it != seen.end()) {
      if (it->second.first != dtype) throw CheckpointError(file, "storage '" + key + "' is used with two dtypes");
      return it->second.second;
    }
    const Bytes b = zip.read(prefix + "data/" + key);
    if (b.size() / dtype_size(dtype) != uint64_t(numel) || b.size() % dtype_size(dtype) != 0)
      throw CheckpointError(file, "storage '" + key + "' holds " + std::to_string(b.size()) + " bytes, not " +
                                      std::to_string(numel) + " elements of " + dtype_name(dtype));
    seen.emplace(key, std::pair(dtype, b));
    return b;
  };
}

}  // namespace

struct PtReader::Impl {
  fs::path path;
  MappedFile file;
  ZipArchive zip;
  std::string prefix;
  Unpickler unpickler;
  PtNode root;
  std::map<std::string, int64_t> view_of;  // tensor path -> view index
  std::map<std::string, PtScalar> scalars;
  std::vector<TensorInfo> infos;           // by name

  explicit Impl(const fs::path& p)
      : path(p), file(p), zip((check_is_zip(file.bytes(), p), file.bytes()), p), prefix(archive_prefix(zip, p)),
        unpickler((check_byteorder(zip, prefix, p), zip.read(prefix + "data.pkl")), p, storage_fetcher(zip, prefix, p)),
        root(unpickler.tree(unpickler.run())) {
    PtLeaves leaves = name_leaves(root, path);
    scalars = std::move(leaves.scalars);
    for (const PtNode* t : leaves.tensors) view_of.emplace(t->s, t->i);
    std::map<std::string, DType> storage_dtype;  // a storage read as two dtypes is refused up front
    for (auto& [name, index] : view_of) {
      const auto& v = unpickler.view(index);
      infos.push_back({name, v.dtype, v.size});
      if (auto [it, fresh] = storage_dtype.emplace(v.storage, v.dtype); !fresh && it->second != v.dtype)
        throw CheckpointError(path, "storage '" + printable(v.storage) + "' is used with two dtypes");
    }
  }
};

PtReader::PtReader(const fs::path& file) : impl_(std::make_unique<Impl>(file)) {}
PtReader::~PtReader() = default;

const std::vector<TensorInfo>& PtReader::tensors() const { return impl_->infos; }
const std::map<std::string, PtScalar>& PtReader::scalars() const { return impl_->scalars; }
const PtNode& PtReader::root() const { return impl_->root; }

TensorData PtReader::read(const std::string& name) {
  auto it = impl_->view_of.find(name);
  if (it == impl_->view_of.end()) throw CheckpointError(impl_->path, "no tensor '" + printable(name) + "'");
  const auto& v = impl_->unpickler.view(it->second);
  const std::string entry = impl_->prefix + "data/" + v.storage;
  const uint64_t es = dtype_size(v.dtype);
  const auto numel = checked_numel(v.size);
  // The usual tensor is a whole storage in row-major order: copied in chunks
  // while its CRC is computed, each chunk's pages let go once copied, so the
  // file's pages and the copy are never resident together.
  if (numel && v.offset == 0 && *numel == v.storage_numel && *numel > 0 && Unpickler::row_major(v.size, v.stride)) {
    const Bytes storage = impl_->zip.read_unchecked(entry);
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(uint64_t(*numel), es, &bytes) || storage.size() != bytes)
      throw CheckpointError(impl_->path, "storage '" + printable(v.storage) + "' holds " +
                                             std::to_string(storage.size()) + " bytes, not " + std::to_string(*numel) +
                                             " elements of " + dtype_name(v.dtype));
    TensorData t{v.dtype, v.size, std::vector<std::byte>(bytes)};
    constexpr uint64_t kChunk = 8u << 20;
    uint32_t crc = 0;
    for (uint64_t at = 0; at < bytes; at += kChunk) {
      const Bytes chunk = storage.subspan(at, std::min(kChunk, bytes - at));
      crc = crc32_update(crc, chunk);
      std::memcpy(t.bytes.data() + at, chunk.data(), chunk.size());
      impl_->file.release(chunk);
    }
    if (crc != impl_->zip.entries().at(entry).crc)
      throw CheckpointError(impl_->path, "zip entry '" + printable(entry) + "' fails its CRC check");
    return t;
  }
  TensorData t = impl_->unpickler.materialise(v, [this](Bytes copied) { impl_->file.release(copied); });
  impl_->file.release(impl_->zip.read_unchecked(impl_->prefix + "data/" + v.storage));
  return t;
}

std::string PtReader::xcompat_record() const {
  const std::string name = impl_->prefix + "xcompat.json";
  if (!impl_->zip.contains(name)) return "";
  const Bytes b = impl_->zip.read(name);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

PtContents read_pt_full(const fs::path& file) {
  PtReader reader(file);
  PtContents out;
  for (auto& info : reader.tensors()) out.tensors.emplace(info.name, reader.read(info.name));
  out.scalars = reader.scalars();
  return out;
}

TensorMap read_pt(const fs::path& file) { return read_pt_full(file).tensors; }

}  // namespace xcompat
