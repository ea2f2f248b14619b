#pragma once
// The data.pkl PtWriter writes: a PtNode tree as a protocol-2 pickle that
// torch.load(weights_only=True) reads, using only the globals it allows
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.*Storage,
// _codecs.encode for bytes).
#include <filesystem>
#include <string>
#include <vector>

#include "harness/checkpoint/pt_tree.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// Tensor node named t.name (its `s`) becomes storage <index of t in
// `tensors`>. Throws CheckpointError naming `file` when a Tensor node names
// no tensor of `tensors`, when a tensor is referenced twice or never, for an
// Object node (a torch.save(model) file is written back as a state dict),
// and for a tree deeper than 1000 levels.
std::string pickle_tree(const PtNode& root, const std::vector<TensorInfo>& tensors, const std::filesystem::path& file);

}  // namespace xcompat
