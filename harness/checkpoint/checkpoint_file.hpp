#pragma once
// A checkpoint file of either format, one tensor at a time: what `convert`,
// `inspect` and the stamp read and write. The format is told by the first
// bytes when reading (signature.hpp: a zip's local header, a well-formed
// safetensors header length; the extension is only a hint in the error), by
// the extension when writing.
//
// xcompat's own record travels inside the file: safetensors `__metadata__`
// key "xcompat", a .pt's <archive>/xcompat.json (docs/CHECKPOINT_FORMATS.md):
// a JSON object (the version stamp, a conversion's provenance).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/checkpoint/pt_tree.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

class CheckpointReader {
 public:
  virtual ~CheckpointReader() = default;
  virtual const std::vector<TensorInfo>& tensors() const = 0;  // by name
  virtual TensorData read(const std::string& name) = 0;
  // The "xcompat" record (the file's own, else a stamp beside it:
  // <file>.xcompat.json), or an empty object.
  virtual nlohmann::json xcompat_record() const = 0;
  virtual const char* format() const = 0;  // "pt" or "safetensors"
  // The container the file holds (a torch.save'd object), or nullptr for a
  // flat file (safetensors).
  virtual const PtNode* tree() const { return nullptr; }
};

// Throws CheckpointError (naming the file) for anything the restricted
// readers refuse.
std::unique_ptr<CheckpointReader> open_checkpoint(const std::filesystem::path& file);

class CheckpointWriter {
 public:
  virtual ~CheckpointWriter() = default;
  virtual void write(const TensorInfo& info, const TensorData& data) = 0;  // in the declared order
  virtual void commit() = 0;  // atomic: nothing appears under the name before
};

// By extension: .safetensors, or .pt / .pth / .bin for torch.save's format.
// `tree`: the container shape to write (a .pt file only; see PtWriter), or
// nullptr for a flat state dict.
std::unique_ptr<CheckpointWriter> create_checkpoint(const std::filesystem::path& file,
                                                    const std::vector<TensorInfo>& tensors,
                                                    const nlohmann::json& xcompat_record,
                                                    const PtNode* tree = nullptr);

}  // namespace xcompat
