#include "harness/checkpoint/staged_checkpoint.hpp"

#include <random>
#include <string>
#include <system_error>

#include "harness/core/fault_points.hpp"

namespace fs = std::filesystem;

namespace xcompat {

StagedCheckpoint::StagedCheckpoint(const fs::path& target, std::vector<TensorInfo> order)
    : target_(target), tmp_(target), order_(std::move(order)) {
  std::random_device rd;
  tmp_ += ".tmp-" + std::to_string(rd());
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw CheckpointError(target_, "cannot create " + tmp_.string());
}

StagedCheckpoint::~StagedCheckpoint() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  fs::remove(tmp_, ec);
}

std::size_t StagedCheckpoint::accept(const TensorInfo& info, const TensorData& data) {
  if (next_ >= order_.size() || !(order_[next_] == info))
    throw CheckpointError(target_, "tensor '" + info.name + "' written out of the declared order");
  const auto numel = checked_numel(info.shape);
  if (data.dtype != info.dtype || data.shape != info.shape || !numel ||
      data.bytes.size() != uint64_t(*numel) * dtype_size(info.dtype))
    throw CheckpointError(target_, "tensor '" + info.name + "' holds " + std::to_string(data.bytes.size()) +
                                       " bytes, which does not match its declared dtype and shape");
  return next_++;
}

void StagedCheckpoint::check_stream() const {
  if (!out_) throw CheckpointError(target_, "write failed (disk full?)");
}

void StagedCheckpoint::require_all_written() const {
  if (next_ != order_.size())
    throw CheckpointError(target_, std::to_string(order_.size() - next_) + " tensors never written");
}

void StagedCheckpoint::commit() {
  require_all_written();
  out_.close();
  check_stream();
  fault_point("checkpoint.before-rename");
  std::error_code ec;
  fs::rename(tmp_, target_, ec);
  if (ec) throw CheckpointError(target_, "cannot replace: " + ec.message());
  committed_ = true;
}

}  // namespace xcompat
