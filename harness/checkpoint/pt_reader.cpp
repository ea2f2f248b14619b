#include "harness/checkpoint/pt_reader.hpp"

#include "harness/checkpoint/crc32.hpp"

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

enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
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
struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;                   // Bool, Int; Storage: element count; Tensor: index into tensors_
  double f = 0;                    // Float
  std::string s;                   // Str; Global: "module.name"; Storage: key
  DType dtype = DType::F32;        // Storage
  std::vector<std::size_t> items;  // Tuple, List; Dict: key, value, key, value...
};

const std::map<std::string, DType>& storage_globals() {
  static const std::map<std::string, DType> m = {
      {"torch.DoubleStorage", DType::F64}, {"torch.FloatStorage", DType::F32},  {"torch.HalfStorage", DType::F16},
      {"torch.BFloat16Storage", DType::BF16}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16},  {"torch.CharStorage", DType::I8},    {"torch.ByteStorage", DType::U8},
      {"torch.BoolStorage", DType::Bool}};
  return m;
}

constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";

bool allowed_global(const std::string& name) {
  return name == kOrderedDict || name == kRebuildTensor || name == kRebuildParameter ||
         name == kRebuildParameterWithState || storage_globals().count(name) != 0;
}

// Control bytes and non-ASCII escaped, so an error message naming a hostile
// global cannot smuggle terminal escapes.
std::string printable(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
    else out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

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

  const Value& at(std::size_t id) const { return arena_[id]; }

  // A tensor as the pickle describes it: a view into a storage, checked
  // against the storage's declared size but not read until materialised.
  struct View {
    std::string storage;
    DType dtype;
    int64_t storage_numel, offset;
    std::vector<int64_t> size, stride;
  };
  const View& view(const Value& v) const { return views_[static_cast<std::size_t>(v.i)]; }

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
  std::size_t make_tuple(std::vector<std::size_t> items) {
    const auto id = make(Kind::Tuple);
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
  // Python semantics: a repeated key replaces the earlier value in place.
  void dict_set(std::size_t dict, std::size_t key, std::size_t value) {
    const std::string k = dict_key(key);
    Value& d = expect(dict, Kind::Dict, "SETITEM target");
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
    Value& list = expect(top(), Kind::List, "APPEND target");
    list.items.insert(list.items.end(), values.begin(), values.end());
  }

  // --- memo ----------------------------------------------------------------
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  // --- globals and calls ---------------------------------------------------
  void push_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_global(full))
      fail("refused global '" + printable(full) +
           "': a state_dict needs only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
           "torch._utils._rebuild_parameter[_with_state] and torch.*Storage types; nothing was executed");
    push(make_str(Kind::Global, full));
  }
  void stack_global() {
    const std::string name = expect(pop(), Kind::Str, "STACK_GLOBAL name").s;
    const std::string module = expect(pop(), Kind::Str, "STACK_GLOBAL module").s;
    push_global(module, name);
  }
  void reduce() {
    const auto args = pop();
    const std::string callee = expect(pop(), Kind::Global, "REDUCE callable").s;
    const std::vector<std::size_t> a = expect(args, Kind::Tuple, "REDUCE arguments").items;
    if (callee == kOrderedDict) {
      if (!a.empty()) fail("OrderedDict called with arguments");
      push(make(Kind::Dict));
    } else if (callee == kRebuildTensor) {
      push(rebuild_tensor(a));
    } else if (callee == kRebuildParameter || callee == kRebuildParameterWithState) {
      if (a.size() != (callee == kRebuildParameter ? 3u : 4u)) fail(callee + " with wrong argument count");
      expect(a[0], Kind::Tensor, "parameter data");
      push(a[0]);  // requires_grad, hooks and Python attributes do not matter here
    } else {
      fail("global '" + callee + "' cannot be called");
    }
  }
  // BUILD on a dict sets Python attributes (OrderedDict._metadata of a
  // state_dict): irrelevant to the tensors, so the state is dropped.
  void build() {
    pop();
    expect(top(), Kind::Dict, "BUILD target");
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
  if (!data.empty() && data[0] == std::byte{0x80})
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

// The unpickled top-level dict: each tensor entry as a view (not yet read),
// each scalar entry as its value.
struct Collected {
  std::map<std::string, std::size_t> views;  // name -> arena id of the tensor value
  std::map<std::string, PtScalar> scalars;
};

Collected collect(Unpickler& u, std::size_t root, const fs::path& file) {
  const Value& dict = u.at(root);
  if (dict.kind != Kind::Dict)
    throw CheckpointError(file, std::string("top-level object is a ") + kind_name(dict.kind) + ", not a dict");
  Collected out;
  for (std::size_t j = 0; j < dict.items.size(); j += 2) {
    const Value& key = u.at(dict.items[j]);
    if (key.kind != Kind::Str) throw CheckpointError(file, "top-level key is a " + std::string(kind_name(key.kind)));
    const Value& v = u.at(dict.items[j + 1]);
    switch (v.kind) {
      case Kind::Tensor: out.views[key.s] = dict.items[j + 1]; break;
      case Kind::None: out.scalars[key.s] = std::monostate{}; break;
      case Kind::Bool: out.scalars[key.s] = v.i != 0; break;
      case Kind::Int: out.scalars[key.s] = v.i; break;
      case Kind::Float: out.scalars[key.s] = v.f; break;
      case Kind::Str: out.scalars[key.s] = v.s; break;
      default:
        throw CheckpointError(file, "entry '" + printable(key.s) + "' is a " + kind_name(v.kind) +
                                        "; only a flat dict of tensors and scalars is read (a nested checkpoint "
                                        "such as {'state_dict': {...}} must be flattened first)");
    }
  }
  return out;
}

}  // namespace

struct PtReader::Impl {
  fs::path path;
  MappedFile file;
  ZipArchive zip;
  std::string prefix;
  Unpickler unpickler;
  Collected collected;
  std::vector<TensorInfo> infos;

  explicit Impl(const fs::path& p)
      : path(p), file(p), zip((check_is_zip(file.bytes(), p), file.bytes()), p), prefix(archive_prefix(zip, p)),
        unpickler((check_byteorder(zip, prefix, p), zip.read(prefix + "data.pkl")), p, storage_fetcher(zip, prefix, p)) {
    collected = collect(unpickler, unpickler.run(), path);
    std::map<std::string, DType> storage_dtype;  // a storage read as two dtypes is refused up front
    for (auto& [name, id] : collected.views) {
      const auto& v = unpickler.view(unpickler.at(id));
      infos.push_back({name, v.dtype, v.size});
      if (auto [it, fresh] = storage_dtype.emplace(v.storage, v.dtype); !fresh && it->second != v.dtype)
        throw CheckpointError(path, "storage '" + printable(v.storage) + "' is used with two dtypes");
    }
  }
};

PtReader::PtReader(const fs::path& file) : impl_(std::make_unique<Impl>(file)) {}
PtReader::~PtReader() = default;

const std::vector<TensorInfo>& PtReader::tensors() const { return impl_->infos; }
const std::map<std::string, PtScalar>& PtReader::scalars() const { return impl_->collected.scalars; }

TensorData PtReader::read(const std::string& name) {
  auto it = impl_->collected.views.find(name);
  if (it == impl_->collected.views.end()) throw CheckpointError(impl_->path, "no tensor '" + printable(name) + "'");
  const auto& v = impl_->unpickler.view(impl_->unpickler.at(it->second));
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
