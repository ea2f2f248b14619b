#pragma once
// `xcompat inspect FILE [--json]`: what a checkpoint holds, read with the
// torch-free readers (nothing pickled is ever executed).
#include <string>

namespace xcompat::cli {

// Reads the checkpoint at `path`, a torch.save zip or a .safetensors file told
// apart by their first bytes (never by extension), and prints its tensors
// (name, dtype, shape, element count), the total parameter count and the
// version metadata found: the safetensors "__metadata__", a .pt's top-level
// scalar entries, and the top-level scalars and "versions" of a meta.json in
// the same directory (keys prefixed "meta.json."). `json` selects one JSON
// object {path, format, tensors: [{name, dtype, shape, numel}],
// total_parameters, metadata} instead of an aligned table. Returns 0; on any
// error (unreadable, damaged or refused file, bad meta.json) prints
// "xcompat inspect: <message>" to stderr and returns 2.
int run_inspect(const std::string& path, bool json);

}  // namespace xcompat::cli
