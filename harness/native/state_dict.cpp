#include "harness/native/state_dict.hpp"

#include <algorithm>
#include <cstring>

#include "harness/core/error.hpp"

namespace xcompat::native {

namespace {
torch::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::F64: return torch::kDouble;
    case DType::F32: return torch::kFloat;
    case DType::F16: return torch::kHalf;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kLong;
    case DType::I32: return torch::kInt;
    case DType::I16: return torch::kShort;
    case DType::I8: return torch::kChar;
    case DType::U8: return torch::kByte;
    case DType::Bool: return torch::kBool;
  }
  throw Error("unknown dtype");
}

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string shape_str(const std::vector<int64_t>& s) { return shape_str(at::IntArrayRef(s)); }
}  // namespace

Tensor to_torch(const TensorData& t) {
  const auto type = scalar_type(t.dtype);
  Tensor out = torch::empty(t.shape, torch::TensorOptions().dtype(type));
  if (static_cast<std::size_t>(out.nbytes()) != t.bytes.size())
    throw Error("tensor bytes (" + std::to_string(t.bytes.size()) + ") do not match shape " + shape_str(t.shape));
  if (!t.bytes.empty()) std::memcpy(out.data_ptr(), t.bytes.data(), t.bytes.size());
  return out;
}

namespace {
// A contiguous copy of `t` (already of `dtype`'s scalar type) as TensorData.
TensorData copy_out(const Tensor& t, DType dtype) {
  Tensor c = t.detach().contiguous();
  TensorData out;
  out.dtype = dtype;
  out.shape = c.sizes().vec();
  out.bytes.resize(static_cast<std::size_t>(c.nbytes()));
  if (!out.bytes.empty()) std::memcpy(out.bytes.data(), c.data_ptr(), out.bytes.size());
  return out;
}
}  // namespace

TensorData to_tensor_data_f32(const Tensor& t) { return copy_out(t.to(torch::kFloat), DType::F32); }

TensorData to_tensor_data(const Tensor& t) {
  return t.scalar_type() == torch::kBFloat16 ? copy_out(t, DType::BF16) : to_tensor_data_f32(t);
}

std::map<std::string, Tensor> port_state(const torch::nn::Module& m) {
  std::map<std::string, Tensor> state;
  for (const auto& p : m.named_parameters(true)) state[p.key()] = p.value();
  for (const auto& b : m.named_buffers(true)) state[b.key()] = b.value();
  return state;
}

LoadReport load_checkpoint(torch::nn::Module& m, const TensorMap& checkpoint, const KeyMap& map) {
  auto state = port_state(m);
  LoadReport report;
  std::map<std::string, const TensorData*> matched;  // port name -> checkpoint tensor
  for (const auto& [key, data] : checkpoint) {
    const std::string port_key = map.to_port(key);
    auto it = state.find(port_key);
    if (it == state.end() || matched.count(port_key)) {
      report.unexpected.push_back(key);
      continue;
    }
    if (it->second.sizes().vec() != data.shape) {
      report.misshaped.push_back(key + ": checkpoint " + shape_str(data.shape) + " vs model " + shape_str(it->second.sizes()));
    }
    matched[port_key] = &data;
  }
  for (const auto& [name, tensor] : state)
    if (!matched.count(name)) report.missing.push_back(map.to_release(name));
  std::sort(report.missing.begin(), report.missing.end());
  std::sort(report.unexpected.begin(), report.unexpected.end());
  std::sort(report.misshaped.begin(), report.misshaped.end());
  if (!report.empty()) return report;

  torch::NoGradGuard no_grad;
  for (const auto& [name, data] : matched) state.at(name).copy_(to_torch(*data));
  return report;
}

}  // namespace xcompat::native
