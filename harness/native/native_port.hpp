#pragma once
// The port behind an interface without torch: what the cpp-native worker and
// the tests use (torch headers stay inside harness/native/*.cpp and the
// headers that model.hpp pulls in).
//
//   NativePort port(spec, release_context_from_meta(meta));   // NativeUnsupported?
//   LoadReport r = port.load(read_checkpoint_file(dir / "model.safetensors"));
//   TensorData logits = port.forward(read_safetensors(dir / "inputs.safetensors"));
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/cell.hpp"
#include "harness/core/tensor.hpp"
#include "harness/native/adapters.hpp"
#include "harness/native/key_map.hpp"
#include "harness/native/release.hpp"

namespace xcompat::native {

class NativeModel;  // model.hpp

class NativePort {
 public:
  // Builds `spec` as release `ctx` does. Throws NativeUnsupported when the
  // port cannot follow the spec for this release.
  NativePort(const nlohmann::json& spec, const ReleaseContext& ctx);
  ~NativePort();
  NativePort(const NativePort&) = delete;
  NativePort& operator=(const NativePort&) = delete;

  const KeyMap& key_map() const;
  // The port's state_dict: parameter and persistent buffer names -> shapes.
  std::map<std::string, std::vector<int64_t>> state_shapes() const;
  // load_state_dict(strict = True) through the release's key map; the
  // module is written only when the report is empty.
  LoadReport load(const TensorMap& checkpoint);
  // Adapts the port as xcompat_adapter.adapt adapts release B's model
  // (adapters.hpp), so that load() takes an adapted conversion strictly.
  // Call before load(); NativeUnsupported when an adapter has no place here.
  void adapt(const std::vector<PortAdapter>& adapters);
  // `repeats` forward passes (no grad) on a fixture's inputs, converted to
  // tensors once; returns the last float32 logits and, in `times_ms`, the
  // wall time of each pass (the model's forward only, as the release
  // workers time theirs). Throws NativeUnsupported from run-time checks (an
  // input that meets a switch whose boundary is unknown), Error for missing
  // or mistyped inputs.
  TensorData forward(const TensorMap& inputs, int repeats = 1, std::vector<double>* times_ms = nullptr);
  // One forward pass recording every named intermediate activation, in the
  // order computed ("token_emb", "attn_layers.layers.0.1.q", ...,
  // "attn_layers.final_norm", "to_logits"; XTransformer names carry
  // "encoder." / "decoder.net."), as float32: to find the first layer where a
  // DRIFT begins.
  std::vector<std::pair<std::string, TensorData>> trace(const TensorMap& inputs);
  // Cached (incremental) decoding over the last `steps` positions of the
  // fixture's x (NativeModel::decode): float32 logits [b, steps, num_tokens];
  // `ms_per_step` gets each call's wall time.
  TensorData decode(const TensorMap& inputs, int64_t steps, std::vector<double>* ms_per_step = nullptr);

 private:
  std::unique_ptr<NativeModel> model_;
};

// A fixture's meta.json -> the producer as the port sees it: "release" and
// "versions.torch". Throws NativeUnsupported for a release outside the
// port's range or not a plain X.Y.Z, Error when "release" is missing.
ReleaseContext release_context_from_meta(const nlohmann::json& meta);

// load_state_dict's message for a non-empty report.
std::string load_error_message(const LoadReport& r);

// A checkpoint by extension: .safetensors (read_safetensors) or .pt
// (read_pt: tensors only, nothing executed). Throws CheckpointError / Error.
TensorMap read_checkpoint_file(const std::filesystem::path& file);

}  // namespace xcompat::native
