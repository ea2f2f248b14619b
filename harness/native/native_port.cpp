#include "harness/native/native_port.hpp"

#include <algorithm>

#include "harness/checkpoint/pt_reader.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/error.hpp"
#include "harness/native/model.hpp"

namespace xcompat::native {

NativePort::NativePort(const nlohmann::json& spec, const ReleaseContext& ctx)
    : model_(std::make_unique<NativeModel>(spec, ctx)) {}

NativePort::~NativePort() = default;

const KeyMap& NativePort::key_map() const { return model_->key_map(); }

std::map<std::string, std::vector<int64_t>> NativePort::state_shapes() const {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [name, t] : port_state(model_->module())) out[name] = t.sizes().vec();
  return out;
}

LoadReport NativePort::load(const TensorMap& checkpoint) { return model_->load(checkpoint); }

void NativePort::adapt(const std::vector<PortAdapter>& adapters) {
  apply_adapters(model_->module(), model_->key_map(), adapters);
}

TensorData NativePort::forward(const TensorMap& inputs, int repeats, std::vector<double>* times_ms) {
  torch::NoGradGuard no_grad;
  const NativeModel::Inputs in = model_->prepare(inputs);
  Tensor logits;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    logits = model_->forward(in);
    const auto t1 = std::chrono::steady_clock::now();
    if (times_ms) times_ms->push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return to_tensor_data_f32(logits);
}

TensorData NativePort::decode(const TensorMap& inputs, int64_t steps, std::vector<double>* ms_per_step) {
  torch::NoGradGuard no_grad;
  return to_tensor_data_f32(model_->decode(model_->prepare(inputs), steps, ms_per_step));
}

std::vector<std::pair<std::string, TensorData>> NativePort::trace(const TensorMap& inputs) {
  torch::NoGradGuard no_grad;
  Trace t;
  model_->forward(model_->prepare(inputs), &t);
  std::vector<std::pair<std::string, TensorData>> out;
  for (const auto& [name, value] : t.activations) out.emplace_back(name, to_tensor_data_f32(value));
  return out;
}

ReleaseContext release_context_from_meta(const nlohmann::json& meta) {
  ReleaseContext ctx;
  if (!meta.contains("release") || !meta.at("release").is_string()) throw Error("meta.json has no \"release\"");
  ctx.release = ReleaseVersion::parse(meta.at("release").get<std::string>());
  check_release_in_range(ctx.release);
  if (meta.contains("versions") && meta.at("versions").is_object()) {
    const auto& v = meta.at("versions");
    if (v.contains("torch") && v.at("torch").is_string()) ctx.set_torch_version(v.at("torch").get<std::string>());
  }
  return ctx;
}

TensorMap read_checkpoint_file(const std::filesystem::path& file) {
  if (file.extension() == ".safetensors") return read_safetensors(file);
  if (file.extension() == ".pt") return read_pt(file);
  throw Error("checkpoint " + file.string() + " is neither .safetensors nor .pt");
}

std::string load_error_message(const LoadReport& r) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& k : v) s += (s.empty() ? "\"" : ", \"") + k + "\"";
    return s;
  };
  std::string msg = "Error(s) in loading state_dict for the cpp-native port:";
  if (!r.missing.empty()) msg += "\n\tMissing key(s) in state_dict: " + join(r.missing) + ".";
  if (!r.unexpected.empty()) msg += "\n\tUnexpected key(s) in state_dict: " + join(r.unexpected) + ".";
  for (const auto& m : r.misshaped) msg += "\n\tsize mismatch for " + m + ".";
  return msg;
}

}  // namespace xcompat::native
