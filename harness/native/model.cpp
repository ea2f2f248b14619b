#include "harness/native/model.hpp"

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
  } else {
    wrapper_ = std::make_shared<TransformerWrapper>(spec_.wrapper, spec_.layers, ctx);
    module_ = wrapper_;
    last_layer = {{"", last(*wrapper_)}};
  }
  key_map_ = KeyMap(ctx, spec, std::move(last_layer));
  module_->eval();
}

NativeModel::Inputs NativeModel::prepare(const TensorMap& inputs) const {
  Inputs in;
  if (xtransformer_) {
    in.src = input(inputs, "src", true, torch::kLong);
    in.tgt = input(inputs, "tgt", true, torch::kLong);
    in.src_mask = input(inputs, "src_mask", spec_.padding_mask, torch::kBool);
  } else {
    in.x = input(inputs, "x", true, torch::kLong);
    in.mask = input(inputs, "mask", spec_.padding_mask, torch::kBool);
  }
  return in;
}

Tensor NativeModel::forward(const Inputs& in, Trace* t) const {
  if (xtransformer_) return xtransformer_->forward(in.src, in.tgt, in.src_mask, t);
  return wrapper_->forward(in.x, in.mask, {}, {}, false, t);
}

}  // namespace xcompat::native
