#pragma once
// Attention(hybrid_module = GRU(...), hybrid_fold_axial_dim = a): a recurrent
// branch beside attention (hymba), as from 2.0.5 (1.44.8 has no hybrid_norms). The GRU runs on the
// attention's input, folded axially (every a-th position forms one sequence:
// 'b (n a) d -> (b a) n d'); its output, split into heads, and attention's
// output are each RMS-normed per head (hybrid_norms) and averaged, or mixed
// by a learned gate (hybrid_learned_mix), before the heads merge.
//
// Registered on the Attention: hybrid_module.fn.{weight,bias}_{ih,hh}_l0[_reverse],
// hybrid_norms.{0,1}.gamma [heads, 1, dim_head], hybrid_mix.weight.
#include "harness/native/modules.hpp"

namespace xcompat::native {

struct HybridOptions {  // spec: attn_hybrid_module = {module = "GRU", input_size, hidden_size, batch_first = true, bidirectional}
  int64_t input_size = 0, hidden_size = 0;
  bool bidirectional = false;
  int64_t fold_axial_dim = 0;  // attn_hybrid_fold_axial_dim (required: without it the release has no hybrid_norms)
  bool learned_mix = false;    // attn_hybrid_learned_mix
  bool normed = true;          // hybrid_norms before the average: the history's hybrid-module-normed
};

class HybridBranch {
 public:
  // Registers the branch's modules and parameters on `owner` (the Attention).
  HybridBranch(torch::nn::Module& owner, const HybridOptions& o, int64_t dim, int64_t heads, int64_t dim_head);
  // attn_out: [b, h, n, d] before the heads merge; x: the attention's input [b, n, dim].
  Tensor forward(const Tensor& attn_out, const Tensor& x) const;

 private:
  HybridOptions options;
  int64_t heads, dim_head;
  std::shared_ptr<torch::nn::GRUImpl> gru;  // forward is not const in libtorch
  Tensor out_norm_gamma, hybrid_norm_gamma;
  std::shared_ptr<Linear> mix;
};

}  // namespace xcompat::native
