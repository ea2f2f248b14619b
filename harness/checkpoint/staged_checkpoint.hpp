#pragma once
// What both checkpoint writers (.pt and .safetensors) share: the file is
// written under a temporary name beside its target and renamed into place
// only on commit, so no reader ever sees half a checkpoint and a failed
// conversion leaves the old file as it was; and the tensors arrive one at a
// time in the order the header (or pickle) already declared.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <vector>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

class StagedCheckpoint {
 public:
  StagedCheckpoint(const std::filesystem::path& target, std::vector<TensorInfo> order);
  ~StagedCheckpoint();  // removes the temporary file unless committed
  StagedCheckpoint(const StagedCheckpoint&) = delete;
  StagedCheckpoint& operator=(const StagedCheckpoint&) = delete;

  std::ofstream& out() { return out_; }
  const std::filesystem::path& target() const { return target_; }

  // Throws CheckpointError unless `info` is the next declared tensor and
  // `data` holds exactly its dtype, shape and bytes; returns its index.
  std::size_t accept(const TensorInfo& info, const TensorData& data);
  void check_stream() const;        // throws when a write failed (disk full)
  void require_all_written() const;  // throws naming how many are missing
  void commit();                     // close, check, rename into place

 private:
  std::filesystem::path target_, tmp_;
  std::ofstream out_;
  std::vector<TensorInfo> order_;
  std::size_t next_ = 0;
  bool committed_ = false;
};

}  // namespace xcompat
