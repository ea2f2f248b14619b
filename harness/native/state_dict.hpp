#pragma once
// Moving tensors between xcompat's TensorData (checkpoint readers, fixtures,
// comparison) and torch, and loading a checkpoint into a port module the way
// load_state_dict(strict = True) does.
#include "harness/core/cell.hpp"
#include "harness/core/tensor.hpp"
#include "harness/native/key_map.hpp"
#include "harness/native/modules.hpp"

namespace xcompat::native {

// A copy of `t` as a torch tensor of its own dtype and shape.
Tensor to_torch(const TensorData& t);
// A contiguous float32 copy of `t` as TensorData.
TensorData to_tensor_data_f32(const Tensor& t);
// A contiguous copy of `t` in its own dtype when that is float32 or bfloat16
// (what a model computes in), else as float32.
TensorData to_tensor_data(const Tensor& t);

// The module's state: every parameter and (persistent) buffer by state_dict name.
std::map<std::string, Tensor> port_state(const torch::nn::Module& m);

// Copies the checkpoint into the module's parameters and buffers after
// renaming its keys with `map` (converted to float32, as copy_ does).
// Returns what did not fit: missing keys (named as the producing release
// would save them), unexpected keys (as in the checkpoint), mis-shaped keys
// ("<checkpoint key>: checkpoint [..] vs model [..]"), each sorted. The
// module is only written to when the report is empty.
LoadReport load_checkpoint(torch::nn::Module& m, const TensorMap& checkpoint, const KeyMap& map);

}  // namespace xcompat::native
