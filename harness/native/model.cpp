#include "harness/native/model.hpp"

#include <algorithm>
#include <chrono>

#include "harness/core/error.hpp"

namespace xcompat::native {

namespace {
Tensor input(const TensorMap& inputs, const std::string& name, bool required, torch::ScalarType type) {
  auto it = inputs.find(name);
  if (it == inputs.end()) {
    if (required) throw Error("inputs.safetensors has no '" + name + "'");
    return {};
  }
  Tensor t = to_torch(it->second);
  if (t.scalar_type() != type) throw Error("input '" + name + "' is " + std::string(dtype_name(it->second.dtype)) + ", expected " + std::string(c10::toString(type)));
  return t;
}
}  // namespace

NativeModel::NativeModel(const nlohmann::json& spec, const ReleaseContext& ctx) : spec_(parse_spec(spec, ctx)) {
  auto last = [](const TransformerWrapper& w) { return static_cast<int64_t>(w.attn_layers->layer_list.size()) - 1; };
  std::map<std::string, int64_t> last_layer;
  if (spec_.kind == ModelKind::XTransformer) {
    xtransformer_ = std::make_shared<XTransformer>(spec_.xtransformer, ctx);
    module_ = xtransformer_;
    last_layer = {{"encoder.", last(*xtransformer_->encoder)}, {"decoder.net.", last(*xtransformer_->decoder_net)}};
  } else if (spec_.kind == ModelKind::Continuous) {
    continuous_ = std::make_shared<ContinuousTransformerWrapper>(spec_.continuous, spec_.layers, ctx);
    module_ = continuous_;
    last_layer = {{"", static_cast<int64_t>(continuous_->attn_layers->layer_list.size()) - 1}};
  } else if (spec_.kind == ModelKind::Vit) {
    vit_ = std::make_shared<ViTransformerWrapper>(spec_.vit, spec_.layers, ctx);
    module_ = vit_;
    last_layer = {{"", static_cast<int64_t>(vit_->attn_layers->layer_list.size()) - 1}};
  } else if (spec_.kind == ModelKind::Layers) {
    layers_ = std::make_shared<AttentionLayers>(spec_.layers, ctx);
    module_ = layers_;
    last_layer = {{"", static_cast<int64_t>(layers_->layer_list.size()) - 1}};
  } else {
    wrapper_ = std::make_shared<TransformerWrapper>(spec_.wrapper, spec_.layers, ctx);
    module_ = wrapper_;
    last_layer = {{"", last(*wrapper_)}};
  }
  key_map_ = KeyMap(ctx, spec, std::move(last_layer));
  if (layers_) key_map_.set_root("attn_layers.");
  if (vit_) key_map_.add_norm_paths(vit_norm_paths(spec_.vit), ctx);
  module_->eval();
}

NativeModel::Inputs NativeModel::prepare(const TensorMap& inputs) const {
  Inputs in;
  if (vit_) {
    in.img = input(inputs, "img", true, torch::kFloat);
  } else if (continuous_ || layers_) {
    in.x = input(inputs, "x", true, torch::kFloat);
    in.mask = input(inputs, "mask", spec_.padding_mask, torch::kBool);
    in.context = input(inputs, "context", spec_.inputs.context, torch::kFloat);
    in.context_mask = input(inputs, "context_mask", spec_.inputs.context_mask, torch::kBool);
    in.condition = input(inputs, "condition", spec_.inputs.condition, torch::kFloat);
  } else if (xtransformer_) {
    in.src = input(inputs, "src", true, torch::kLong);
    in.tgt = input(inputs, "tgt", true, torch::kLong);
    in.src_mask = input(inputs, "src_mask", spec_.padding_mask, torch::kBool);
  } else {
    in.x = input(inputs, "x", true, torch::kLong);
    in.mask = input(inputs, "mask", spec_.padding_mask, torch::kBool);
    in.context = input(inputs, "context", spec_.inputs.context, torch::kFloat);
    in.context_mask = input(inputs, "context_mask", spec_.inputs.context_mask, torch::kBool);
    in.condition = input(inputs, "condition", spec_.inputs.condition, torch::kFloat);
  }
  return in;
}

Tensor NativeModel::decode(const Inputs& in, int64_t steps, std::vector<double>* ms_per_step) const {
  if (spec_.kind != ModelKind::Decoder) throw NativeUnsupported("an encoder or encoder-decoder (cached decoding is a decoder's)");
  if (in.mask.defined()) throw NativeUnsupported("a padding mask");
  if (in.context.defined() || in.condition.defined())
    throw NativeUnsupported("extra forward inputs (context, condition): the releases' decode-cache cells skip them too");
  const int64_t n = in.x.size(1);
  steps = std::clamp<int64_t>(steps, 1, n - 1);
  DecodeCache cache;
  std::vector<Tensor> out;
  for (int64_t pos = n - steps; pos < n; ++pos) {
    const auto t0 = std::chrono::steady_clock::now();
    // The first call takes the whole prefix, as generate() starts from the prompt.
    Tensor ids = cache.offset == 0 ? in.x.slice(1, 0, pos + 1) : in.x.slice(1, pos, pos + 1);
    Tensor logits = wrapper_->forward(ids, {}, {}, {}, false, nullptr, "", &cache);
    out.push_back(logits.select(1, logits.size(1) - 1));
    if (ms_per_step)
      ms_per_step->push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return torch::stack(out, 1);
}

Tensor NativeModel::forward(const Inputs& in, Trace* t) const {
  if (xtransformer_) return xtransformer_->forward(in.src, in.tgt, in.src_mask, t);
  if (continuous_) return continuous_->forward(in.x, in.mask, in.context, in.context_mask, in.condition, t);
  if (vit_) return vit_->forward(in.img, t);
  if (layers_) return layers_->forward(in.x, in.mask, in.context, in.context_mask, t, "attn_layers", nullptr, in.condition);
  return wrapper_->forward(in.x, in.mask, in.context, in.context_mask, false, t, "", nullptr, in.condition);
}

}  // namespace xcompat::native
