#include "harness/native/continuous_wrapper.hpp"

#include "harness/native/spec_checks.hpp"

namespace xcompat::native {

using json = nlohmann::json;

std::vector<std::string> supported_continuous_arguments() {
  return {"dim_in", "dim_out", "emb_dropout", "max_mem_len", "max_seq_len", "use_abs_pos_emb"};
}

void apply_continuous_argument(const std::string& key, const json& v, ContinuousWrapperOptions& o, const ReleaseContext&) {
  if (key == "dim_in") {
    if (!v.is_null()) o.dim_in = positive_wrapper_int(v, key);
  } else if (key == "dim_out") {
    if (!v.is_null()) o.dim_out = positive_wrapper_int(v, key);
  } else if (key == "max_seq_len") {
    o.max_seq_len = positive_wrapper_int(v, key);
  } else if (key == "use_abs_pos_emb") {
    if (!v.is_boolean()) throw NativeUnsupported("wrapper argument 'use_abs_pos_emb' = " + v.dump() + " (expected true or false)");
    o.use_abs_pos_emb = v.get<bool>();
  } else if (key == "emb_dropout" || key == "max_mem_len") {
    // training only / read only with mems passed in or returned
    if (!v.is_number()) throw NativeUnsupported("wrapper argument '" + key + "' = " + v.dump() + " (expected a number)");
  } else {
    throw NativeUnsupported("continuous wrapper argument '" + key + "'");
  }
}

void check_continuous(ContinuousWrapperOptions& o, const AttentionLayersOptions& layers, const ReleaseContext& ctx) {
  if (o.use_abs_pos_emb && !layers.has_pos_emb() && o.max_seq_len <= 0)
    throw NativeUnsupported("a continuous wrapper with absolute positions and no max_seq_len (its meaning changed across releases)");
  o.projection_bias = !ctx.is_new(kContinuousProjectionsBiasless);
}

ContinuousTransformerWrapper::ContinuousTransformerWrapper(ContinuousWrapperOptions o, AttentionLayersOptions layers_opts,
                                                           const ReleaseContext& ctx)
    : options(o) {
  const int64_t dim = layers_opts.dim;
  // pos_emb = AbsolutePositionalEmbedding(dim, max_seq_len) if (use_abs_pos_emb and not attn_layers.has_pos_emb) else always(0)
  if (o.use_abs_pos_emb && !layers_opts.has_pos_emb())
    pos_emb = register_module("pos_emb", std::make_shared<AbsolutePositionalEmbedding>(dim, o.max_seq_len));
  if (o.dim_in) project_in = register_module("project_in", std::make_shared<Linear>(*o.dim_in, dim, o.projection_bias));
  attn_layers = register_module("attn_layers", std::make_shared<AttentionLayers>(layers_opts, ctx));
  if (o.dim_out) project_out = register_module("project_out", std::make_shared<Linear>(dim, *o.dim_out, o.projection_bias));
}

Tensor ContinuousTransformerWrapper::forward(const Tensor& x_in, const Tensor& mask, const Tensor& context,
                                             const Tensor& context_mask, const Tensor& condition, Trace* t) const {
  // x = self.project_in(x); x = x + self.pos_emb(x, pos = pos)
  Tensor x = project_in ? project_in->forward(x_in) : x_in;
  trace(t, "project_in", x);
  if (pos_emb) {
    Tensor pe = pos_emb->forward(x.size(1));
    trace(t, "pos_emb", pe);
    x = x + pe;
  } else {
    x = x + 0;  // x + always(0)
  }
  // x = self.attn_layers(x, mask = mask, ...); before 1.15.0 x = self.norm(x) (attn_layers.final_norm here)
  x = attn_layers->forward(x, mask, context, context_mask, t, "attn_layers", nullptr, condition);
  // out = self.project_out(x)
  if (project_out) x = project_out->forward(x);
  trace(t, "project_out", x);
  return x;
}

}  // namespace xcompat::native
