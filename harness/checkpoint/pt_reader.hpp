#pragma once
// Reader for checkpoints written by torch.save (torch >= 1.6 zip format),
// without torch and without executing anything: a small zip reader plus a
// restricted pickle interpreter that builds plain values, tensors and inert
// records of class instances, and never imports or calls anything.
// docs/CHECKPOINT_FORMATS.md describes the subset; pt_globals.hpp the policy
// for globals; pt_tree.hpp the tree and how its tensors are named.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/pt_tree.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

struct PtContents {
  TensorMap tensors;                        // by path
  std::map<std::string, PtScalar> scalars;  // by path, e.g. {"version": "1.2.3", "optimizer.param_groups.0.lr": 0.001}
};

// Reads a torch.save'd object: a state dict, dicts / lists / tuples of them
// (a training checkpoint, a Lightning .ckpt, an optimizer state) or a
// pickled nn.Module (torch.save(model)). Every tensor comes back contiguous
// (strided views, storage offsets and storages shared by several entries are
// materialised per entry) under its path (pt_tree.hpp: "model.w",
// "optimizer.state.0.exp_avg", a module's state_dict() names); every
// None/bool/int/float/str leaf as a scalar. Throws CheckpointError, naming
// the file and the problem: a damaged or non-STORED zip, a legacy (pre-1.6)
// file, a big-endian file, an unknown pickle opcode, a refused global (the
// message names it; nothing is ever called), a dict key that is not str or
// int, two leaves on one path, nesting deeper than 1000 levels, a value that
// contains itself.
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

  const std::vector<TensorInfo>& tensors() const;  // sorted by name (path)
  const std::map<std::string, PtScalar>& scalars() const;  // by path
  // The whole object as an inert tree; its Tensor nodes carry their names.
  const PtNode& root() const;
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
