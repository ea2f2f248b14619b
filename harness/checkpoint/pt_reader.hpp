#pragma once
// Reader for checkpoints written by torch.save (torch >= 1.6 zip format),
// without torch and without executing anything: a small zip reader plus a
// restricted pickle interpreter that knows only the opcodes and globals a
// saved state_dict uses. docs/CHECKPOINT_FORMATS.md describes the subset.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// A non-tensor top-level value: None, bool, int, float or str.
using PtScalar = std::variant<std::monostate, bool, int64_t, double, std::string>;

struct PtContents {
  TensorMap tensors;
  std::map<std::string, PtScalar> scalars;  // e.g. {"version": "1.2.3", "step": 7}
};

// Reads a torch.save'd dict: every tensor entry comes back contiguous
// (strided views, storage offsets and storages shared by several entries are
// materialised per entry), every None/bool/int/float/str entry as a scalar.
// Throws CheckpointError, naming the file and the problem, for anything else:
// a damaged or non-STORED zip, a legacy (pre-1.6) file, a big-endian file, an
// unknown pickle opcode, any global outside the allow-list (the message names
// the refused global; nothing is ever called), a top level that is not a dict
// of such values (nested checkpoints like {"state_dict": {...}} included).
PtContents read_pt_full(const std::filesystem::path& file);

// The same file opened for reading one tensor at a time: the zip directory
// and the pickle are checked up front (every check above), each storage is
// read, CRC-checked and materialised only when one of its tensors is asked
// for, and its pages are handed back afterwards. Memory stays about one
// tensor, whatever the file's size.
class PtReader {
 public:
  explicit PtReader(const std::filesystem::path& file);
  ~PtReader();
  PtReader(const PtReader&) = delete;
  PtReader& operator=(const PtReader&) = delete;

  const std::vector<TensorInfo>& tensors() const;  // by name
  const std::map<std::string, PtScalar>& scalars() const;
  TensorData read(const std::string& name);
  // <archive>/xcompat.json (written by PtWriter), "" when absent.
  std::string xcompat_record() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// read_pt_full(file).tensors: the same checks, scalar entries dropped.
TensorMap read_pt(const std::filesystem::path& file);

}  // namespace xcompat
