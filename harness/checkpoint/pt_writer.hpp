#pragma once
// Writes a state dict, or any tree of dicts, lists, tuples, scalars and
// tensors (pt_tree.hpp), as torch.save does (the zip format of torch >= 1.6),
// so that torch.load(path, weights_only=True) reads it: <archive>/data.pkl (a
// protocol-2 pickle, tensors as _rebuild_tensor_v2 calls, one storage per
// tensor), <archive>/data/<n>, version and byteorder. Only the globals
// weights_only allows are written (pt_pickler.hpp). `metadata` goes into
// <archive>/xcompat.json, a record torch ignores and read_pt_metadata() reads.
//
// Streaming: the pickle is written from names, dtypes and shapes first, then
// each tensor's bytes as they come (CRC computed on the way, sizes in data
// descriptors, as torch writes them), then the directory. Into a temporary
// file that commit() renames into place.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/pt_tree.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

class PtWriter {
 public:
  // A state dict: an OrderedDict of `tensors` by name.
  PtWriter(const std::filesystem::path& file, const std::vector<TensorInfo>& tensors, const std::string& metadata_json = "");
  // The container shape of `root`: dicts keep their order, str/int keys and
  // OrderedDict-ness; lists, tuples and scalars (None, bool, int, float, str,
  // bytes) are written as they are. Each Tensor node names (in its `s`) one
  // of `tensors`, every one exactly once; an Object node is refused. Throws
  // CheckpointError before any file is made.
  PtWriter(const std::filesystem::path& file, const PtNode& root, const std::vector<TensorInfo>& tensors,
           const std::string& metadata_json = "");
  ~PtWriter();
  PtWriter(const PtWriter&) = delete;
  PtWriter& operator=(const PtWriter&) = delete;

  void write(const TensorInfo& info, const TensorData& data);  // in the declared order
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void write_pt(const std::filesystem::path& file, const TensorMap& tensors, const std::string& metadata_json = "");
// The tree's shape with the tensors of `tensors` its Tensor nodes name,
// written in the order the tree names them.
void write_pt_tree(const std::filesystem::path& file, const PtNode& root, const TensorMap& tensors,
                   const std::string& metadata_json = "");

}  // namespace xcompat
