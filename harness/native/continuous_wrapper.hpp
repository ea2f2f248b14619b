#pragma once
// x_transformers ContinuousTransformerWrapper: embeddings in, embeddings out.
// project_in (nn.Linear(dim_in, dim), no bias from 1.27.0), the absolute
// positional embedding, the attention layers, project_out (nn.Linear(dim,
// dim_out)); before 1.15.0 an nn.LayerNorm `norm` after the layers, which
// the port holds as attn_layers.final_norm (the history's
// final-norm-in-attention-layers, as for TransformerWrapper).
//
// Registered: project_in.weight (+ .bias), pos_emb.emb.weight, attn_layers.*,
// project_out.weight (+ .bias).
#include <nlohmann/json.hpp>

#include "harness/native/attention_layers.hpp"

namespace xcompat::native {

// nn.Linear(dim_in, dim) and nn.Linear(dim, dim_out) with a bias, then
// bias = False (the history's continuous-projections-without-bias).
inline constexpr ReleaseSwitch kContinuousProjectionsBiasless{"continuous-projections-without-bias"};

struct ContinuousWrapperOptions {  // ContinuousTransformerWrapper(max_seq_len, attn_layers, dim_in = None, dim_out = None, use_abs_pos_emb = True, emb_dropout = 0.)
  std::optional<int64_t> dim_in, dim_out;
  int64_t max_seq_len = 0;
  bool use_abs_pos_emb = true;
  // how the producing release builds it
  bool projection_bias = false;
};

// The wrapper arguments the port takes (for docs and --list-arguments), and
// one argument applied; NativeUnsupported for any other.
std::vector<std::string> supported_continuous_arguments();
void apply_continuous_argument(const std::string& key, const nlohmann::json& v, ContinuousWrapperOptions& o,
                               const ReleaseContext& ctx);
void check_continuous(ContinuousWrapperOptions& o, const AttentionLayersOptions& layers, const ReleaseContext& ctx);

class ContinuousTransformerWrapper : public torch::nn::Module {
 public:
  ContinuousTransformerWrapper(ContinuousWrapperOptions o, AttentionLayersOptions layers, const ReleaseContext& ctx);
  // x: [b, n, dim_in] float; mask [b, n] bool or undefined -> [b, n, dim_out].
  Tensor forward(const Tensor& x, const Tensor& mask, const Tensor& context, const Tensor& context_mask,
                 const Tensor& condition, Trace* t = nullptr) const;

  ContinuousWrapperOptions options;
  std::shared_ptr<Linear> project_in, project_out;       // absent without dim_in / dim_out (nn.Identity)
  std::shared_ptr<AbsolutePositionalEmbedding> pos_emb;  // absent with rotary / T5 bias / use_abs_pos_emb = False
  std::shared_ptr<AttentionLayers> attn_layers;
};

}  // namespace xcompat::native
