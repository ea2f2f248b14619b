#include "harness/native/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "harness/native/positional.hpp"

namespace xcompat::native {

namespace {
// max_neg_value(t) = -torch.finfo(float32).max
constexpr double kMaskValue = -static_cast<double>(std::numeric_limits<float>::max());

// rearrange(t, 'b n (h d) -> b h n d', h = h)
Tensor split_heads(const Tensor& t, int64_t h) {
  return t.reshape({t.size(0), t.size(1), h, t.size(2) / h}).permute({0, 2, 1, 3});
}

// rearrange(t, 'b h n d -> b n (h d)')
Tensor merge_heads(const Tensor& t) {
  return t.permute({0, 2, 1, 3}).reshape({t.size(0), t.size(2), t.size(1) * t.size(3)});
}

// orthog_project(x, y) (2.11.24 - 2.31.10): x and y packed to 'b *' (the whole
// sequence of a batch row is one vector), in float64, x minus its projection
// on y's direction
Tensor orthog_project(const Tensor& x, const Tensor& y) {
  const Tensor xd = x.reshape({x.size(0), -1}).to(torch::kDouble);
  const Tensor yd = y.reshape({y.size(0), -1}).to(torch::kDouble);
  const Tensor unit = torch::nn::functional::normalize(yd, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1));
  const Tensor parallel = (xd * unit).sum(-1, true) * unit;
  return (xd - parallel).reshape(x.sizes()).to(x.scalar_type());
}
}  // namespace

Attention::Attention(AttentionOptions o) : options(o) {
  const int64_t inner = o.dim_head * o.heads;
  // k_dim = v_dim = dim_head * kv_heads (kv_heads = default(kv_heads, heads))
  const int64_t kv_heads = o.kv_heads > 0 ? o.kv_heads : o.heads;
  const int64_t kv_inner = o.dim_head * kv_heads;
  const int64_t dim_kv = o.dim_context > 0 ? o.dim_context : o.dim;  // dim_kv = default(dim_context, dim)
  // multi-latent attention (2.0.5 - 2.31.10): the projections read the latents,
  // and with rope sub-heads to_k gives k_dim = dim_head * (kv_heads - latent_rope_subheads)
  if (o.dim_latent_q > 0) to_latent_q = register_module("to_latent_q", std::make_shared<Linear>(o.dim, o.dim_latent_q, false));
  if (o.dim_latent_kv > 0) to_latent_kv = register_module("to_latent_kv", std::make_shared<Linear>(o.dim, o.dim_latent_kv, false));
  if (o.latent_rope_subheads > 0)
    to_rotateable_k = register_module("to_rotateable_k",
                                      std::make_shared<Linear>(o.dim, o.dim_head * o.latent_rope_subheads, false));
  const int64_t q_input_dim = o.dim_latent_q > 0 ? o.dim_latent_q : o.dim;
  const int64_t kv_input_dim = o.dim_latent_kv > 0 ? o.dim_latent_kv : dim_kv;
  to_q = register_module("to_q", std::make_shared<Linear>(q_input_dim, inner, false));
  to_k = register_module("to_k", std::make_shared<Linear>(kv_input_dim, o.dim_head * (kv_heads - o.latent_rope_subheads), false));
  to_v = register_module("to_v", std::make_shared<Linear>(kv_input_dim, kv_inner, false));
  if (o.num_mem_kv > 0) {
    mem_k = register_parameter("mem_k", torch::zeros({o.heads, o.num_mem_kv, o.dim_head}));
    mem_v = register_parameter("mem_v", torch::zeros({o.heads, o.num_mem_kv, o.dim_head}));
  }
  if (o.qk_norm && o.qk_norm_dim_scale) {
    const double init = std::pow(static_cast<double>(o.dim_head), 0.25);  // replaced by the checkpoint's
    qk_norm_q_scale = register_parameter("qk_norm_q_scale", torch::ones({o.heads, 1, o.dim_head}) * init);
    qk_norm_k_scale = register_parameter("qk_norm_k_scale",
                                         torch::ones({o.kv_heads > 0 ? o.kv_heads : o.heads, 1, o.dim_head}) * init);
  }
  if (o.learned_value_residual_mix) {
    // nn.Sequential(nn.Linear(dim, heads), nn.Sigmoid(), Rearrange('b n h -> b h n 1'));
    // before per-head mixes nn.Linear(dim, 1), Rearrange('b n 1 -> b 1 n 1')
    to_value_residual_mix = register_module("to_value_residual_mix", std::make_shared<Container>());
    const int64_t mixes = o.value_residual_mix_per_head ? o.heads : 1;
    value_residual_mix_proj = to_value_residual_mix->add("0", std::make_shared<Linear>(o.dim, mixes, true));
  }
  // LoRALinear(dim_in, dim_out, dim = rank): a LinearNoBias without a rank, else down and up.
  auto gate = [&](const char* name, int64_t in, int64_t out, int64_t rank, bool bias, std::shared_ptr<Linear>& up) {
    if (rank <= 0) return register_module(name, std::make_shared<Linear>(in, out, bias));
    auto lora = register_module(name, std::make_shared<Container>());
    up = lora->add("up", std::make_shared<Linear>(rank, out, false));
    return lora->add("down", std::make_shared<Linear>(in, rank, false));
  };
  if (o.gate_values)
    to_v_gate = gate("to_v_gate", o.dim, o.gate_values_headwise ? o.heads : inner, o.gate_values_rank, o.gate_values_bias,
                     to_v_gate_up);
  if (o.output_gate)
    to_output_gate = gate("to_output_gate", inner, o.output_gate_headwise ? o.heads : inner, o.output_gate_rank, false,
                          to_output_gate_up);
  if (o.head_learned_sink || o.cope_max_pos > 0) {
    auto attend = register_module("attend", std::make_shared<Container>());
    if (o.head_learned_sink) head_attn_sink = attend->register_parameter("head_attn_sink", torch::zeros({o.heads}));
    if (o.cope_max_pos > 0) cope = attend->add("cope", std::make_shared<CoPE>(o.dim_head, o.heads, o.cope_max_pos, o.cope_talking_heads));
  }
  if (o.data_dependent_alibi)
    data_dependent_alibi = register_module("data_dependent_alibi", std::make_shared<DataDependentAlibi>(
                                                                       o.dim, o.heads, o.causal, o.data_dependent_alibi_per_row_dim_head));
  if (o.rel_proj_pos_bias)
    rel_proj_pos_bias = register_module("rel_proj_pos_bias", std::make_shared<RelativeProjPositionalBias>(
                                                                 o.dim, o.heads, o.rel_proj_num_distance_basis, o.rel_proj_max_dist));
  if (o.k_rmsnorm) {
    auto norm = register_module("k_rmsnorm", std::make_shared<Container>());
    k_rmsnorm_gamma = norm->register_parameter("gamma", torch::zeros({o.heads, 1, o.dim_head}));
  }
  if (o.value_rmsnorm) {
    auto norm = register_module("value_rmsnorm", std::make_shared<Container>());
    value_rmsnorm_gamma = norm->register_parameter("gamma", torch::zeros({o.heads, 1, o.dim_head}));
  }
  if (o.hybrid) hybrid.emplace(*this, *o.hybrid, o.dim, o.heads, o.dim_head);
  // out_dim *= max(1, int(orthog_projected_values) + int(orthog_projected_values_per_head)); dim_out = default(dim_out, dim)
  const int64_t projections = std::max(1, int(o.orthog_projected_values) + int(o.orthog_projected_values_per_head));
  to_out = register_module("to_out", std::make_shared<Linear>(inner * projections, o.dim_out > 0 ? o.dim_out : o.dim, false));
}

// The additive attention bias, [heads or b, heads, i, j + num_mem_kv] (undefined
// without one): the layers' relative position bias (T5, ALiBi), or this
// block's data-dependent ALiBi in its place, plus the projected relative
// bias; as Attention.forward in 2.31.10.
Tensor Attention::attention_bias(const Tensor& x, const AttentionInputs& in, int64_t i, int64_t j, int64_t seq_len_k) const {
  Tensor bias;
  // pad_at_dim(attn_bias, (num_mem_kv, 0)): memory keys unbiased (the releases
  // before kMemoryKeysUnbiasedFrom are refused in spec_checks.cpp)
  if (in.rel_pos) bias = at::constant_pad_nd(in.rel_pos(i, j), {options.num_mem_kv, 0}, 0.0);
  if (data_dependent_alibi)                 // pad_at_dim(attn_bias, (num_mem_kv, 0)): memory keys unbiased
    bias = at::constant_pad_nd(data_dependent_alibi->forward(x), {options.num_mem_kv, 0}, 0.0);
  if (rel_proj_pos_bias) {  // seq_len_k = k.shape[-2]: with memory key / values included (refused in check_layers)
    Tensor rp = rel_proj_pos_bias->forward(x, seq_len_k);
    bias = bias.defined() ? bias + rp : rp;
  }
  return bias;
}

AttentionOutput Attention::forward(const Tensor& x, const AttentionInputs& in, Trace* t, const std::string& path) const {
  const auto& o = options;
  const int64_t b = x.size(0), n = x.size(1), h = o.heads;
  const bool has_context = in.context.defined();
  const Tensor& kv_input = has_context ? in.context : x;

  const int64_t kvh = o.kv_heads > 0 ? o.kv_heads : h;
  // multi-latent attention: queries from to_latent_q(x), keys and values
  // from to_latent_kv(x); the rope sub-heads of the keys come from x itself.
  // qkv_receive_diff_residuals: keys and values from their own views of the streams.
  const Tensor q_input = to_latent_q ? to_latent_q->forward(x) : x;
  const Tensor k_input = in.k_input.defined() ? in.k_input : kv_input;
  const Tensor v_input = in.v_input.defined() ? in.v_input : kv_input;
  const Tensor latent_kv = to_latent_kv ? to_latent_kv->forward(kv_input) : Tensor();
  Tensor q = split_heads(to_q->forward(q_input), h);
  Tensor k = split_heads(to_k->forward(latent_kv.defined() ? latent_kv : k_input), kvh - o.latent_rope_subheads);
  if (to_rotateable_k && to_latent_kv)  // k = cat((k, k_sub_heads), dim = 1)
    k = torch::cat({k, split_heads(to_rotateable_k->forward(kv_input), o.latent_rope_subheads)}, 1);
  Tensor v = split_heads(to_v->forward(latent_kv.defined() ? latent_kv : v_input), kvh);
  const Tensor projected_values = v;  // orig_values of the belief attention: before any norm or mix

  if (o.qk_norm) {
    // l2norm(t, groups): rearrange '... (g d) -> ... g d', F.normalize over d, back
    auto l2norm = [&](const Tensor& t) {
      auto shape = t.sizes().vec();
      Tensor g = t.reshape({t.size(0), t.size(1), t.size(2), o.qk_norm_groups, t.size(3) / o.qk_norm_groups});
      return torch::nn::functional::normalize(g, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1)).reshape(shape);
    };
    q = l2norm(q);
    k = l2norm(k);
    if (o.qk_norm_scaled_twice) {
      q = q * o.qk_norm_scale;
      k = k * o.qk_norm_scale;
    } else if (qk_norm_q_scale.defined()) {
      q = q * qk_norm_q_scale;
      k = k * qk_norm_k_scale;
    }
  }

  if (k_rmsnorm_gamma.defined()) {  // MultiheadRMSNorm, as on the values below
    k = torch::nn::functional::normalize(k, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1)) *
        std::pow(static_cast<double>(o.dim_head), 0.5) * (k_rmsnorm_gamma + 1.0);
  }
  if (value_rmsnorm_gamma.defined()) {
    // MultiheadRMSNorm: F.normalize(v, dim = -1) * dim_head ** 0.5 * (gamma + 1)
    v = torch::nn::functional::normalize(v, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1)) *
        std::pow(static_cast<double>(o.dim_head), 0.5) * (value_rmsnorm_gamma + 1.0);
  }

  // value residual (add_value_residual): mix in the first self-attention's values
  Tensor orig_values = v;
  if (in.value_residual.defined() && !o.value_residual_halved) {
    v = v + in.value_residual;  // v = v + value_residual
  } else if (in.value_residual.defined()) {
    // 0.5 * (v + value_residual) equals v * 0.5 + value_residual * 0.5 bit for bit
    if (value_residual_mix_proj) {
      // to_value_residual_mix(q_input): the latent queries with use_latent_q (2.0.5 - 2.31.10), else x
      Tensor mix = at::sigmoid(value_residual_mix_proj->forward(q_input)).permute({0, 2, 1}).unsqueeze(-1);  // b h n 1
      v = o.value_residual_lerp ? at::lerp(in.value_residual, v, mix) : v * mix + in.value_residual * (1.0 - mix);
    } else {  // always(0.5)
      v = o.value_residual_lerp ? at::lerp(in.value_residual, v, 0.5) : v * 0.5 + in.value_residual * (1.0 - 0.5);
    }
  }

  if (in.rotary_freqs.defined() && has_context) {
    // the queries rotate with rotary_pos_emb (its last rows), the keys with context_rotary_pos_emb
    q = apply_rotary_pos_emb(q, in.rotary_freqs, o.rotary_interleaved);
    k = apply_rotary_pos_emb(k, in.context_rotary_freqs, o.rotary_interleaved);
  }
  if (in.rotary_freqs.defined() && !has_context) {
    // xpos: q_xpos_scale, k_xpos_scale = (xpos_scale, xpos_scale ** -1.); the values take the keys'
    const Tensor& q_scale = in.rotary_xpos_scale;
    Tensor k_scale = q_scale.defined() ? q_scale.pow(-1.0) : Tensor();
    // rotate_num_heads = latent_rope_subheads: only the last heads of q and k
    // turn (q_rest, q = q[:, :-r], q[:, -r:]; cat((q_rest, q), dim = 1) after)
    const int64_t r = o.latent_rope_subheads > 0 ? o.latent_rope_subheads : h;
    auto rotate_heads = [&](const Tensor& t, const Tensor& scale) {
      if (r >= h) return apply_rotary_pos_emb(t, in.rotary_freqs, o.rotary_interleaved, scale);
      const int64_t keep = t.size(1) - r;
      return torch::cat(
          {t.slice(1, 0, keep), apply_rotary_pos_emb(t.slice(1, keep), in.rotary_freqs, o.rotary_interleaved, scale)}, 1);
    };
    q = rotate_heads(q, q_scale);
    k = rotate_heads(k, k_scale);
    if (o.rotate_values) v = apply_rotary_pos_emb(v, in.rotary_freqs, o.rotary_interleaved, k_scale);
  }
  if (in.polar_freqs.defined() && !has_context) {  // PoPE: the keys' angles shifted by the learned bias
    q = apply_polar_pos_emb(q, in.polar_freqs);
    k = apply_polar_pos_emb(k, in.polar_freqs + in.polar_bias);
  }
  if (in.cache_k && (o.orthog_projected_values || o.orthog_projected_values_per_head))
    throw NativeUnsupported("attn_orthog_projected_values (its projection spans the whole sequence: one position per call projects onto other values)");
  if (in.cache_k) {
    if (in.cache_k->defined()) {
      k = torch::cat({*in.cache_k, k}, -2);
      v = torch::cat({*in.cache_v, v}, -2);
    }
    *in.cache_k = k;
    *in.cache_v = v;
  }
  if (kvh < h) {
    // Attend: repeat(t, 'b kvh n d -> b (r kvh) n d', r = heads // kv_heads): the groups tile
    k = k.repeat({1, h / kvh, 1, 1});
    v = v.repeat({1, h / kvh, 1, 1});
  }
  trace(t, path + ".q", q);
  trace(t, path + ".k", k);
  trace(t, path + ".v", v);

  // Without a padding mask of its own (cross-attention) both eras of
  // kKeyPaddingMaskOnly compute the same thing.
  if (o.key_padding_mask_only == Era::Unknown && in.mask.defined())
    throw NativeUnsupported("release " + o.release.str() + " with a padding mask: it is not known whether it has '" +
                            kKeyPaddingMaskOnly.name() + "' (changed somewhere " + kKeyPaddingMaskOnly.range() + ")");
  const bool key_only = o.key_padding_mask_only != Era::Old;

  // which keys each query may attend to (true = keep), before memory key / values
  Tensor keep;  // key-only: [b, j]; query-and-key: [b, 1, i, j]
  if (key_only) {
    keep = has_context ? in.context_mask : in.mask;
  } else if (in.mask.defined() || in.context_mask.defined()) {
    Tensor q_mask = in.mask.defined() ? in.mask : torch::ones({b, n}, torch::kBool);
    Tensor k_mask = has_context ? in.context_mask : q_mask;
    if (!k_mask.defined()) k_mask = torch::ones({b, k.size(-2)}, torch::kBool);
    keep = q_mask.view({b, 1, n, 1}) * k_mask.view({b, 1, 1, -1});
  }

  const int64_t i = q.size(-2), j = k.size(-2);
  if (o.num_mem_kv > 0) {
    Tensor mk = mem_k.unsqueeze(0).expand({b, -1, -1, -1});  // repeat(mem_k, 'h n d -> b h n d', b = b)
    Tensor mv = mem_v.unsqueeze(0).expand({b, -1, -1, -1});
    k = torch::cat({mk, k}, -2);
    v = torch::cat({mv, v}, -2);
    if (keep.defined()) keep = at::constant_pad_nd(keep, {o.num_mem_kv, 0}, true);
  }
  if (keep.defined() && keep.dim() == 2) keep = keep.view({b, 1, 1, -1});

  // Attend
  const double scale = o.qk_norm && !o.qk_norm_dim_scale ? o.qk_norm_scale : std::pow(static_cast<double>(o.dim_head), -0.5);
  // sim = einsum(q, k), or -qk_l2_dist_squared(q, k) = -cdist(q, k) ** 2; then * scale
  Tensor sim = o.l2_distance ? -torch::cdist(q.reshape({-1, q.size(-2), q.size(-1)}), k.reshape({-1, k.size(-2), k.size(-1)}))
                                      .pow(2)
                                      .reshape({b, h, q.size(-2), k.size(-2)})
                             : torch::einsum("b h i d, b h j d -> b h i j", {q, k});
  sim = sim * scale;
  if (in.prev_attn.defined()) sim = sim + in.prev_attn;  // residual attention: sim = sim + prev_attn
  const Tensor logits_before_bias = sim;                  // pre_softmax_attn = dots.clone() (until 1.9.2)
  Tensor attn_bias = attention_bias(x, in, i, j, k.size(-2));
  if (attn_bias.defined()) sim = sim + attn_bias;
  if (o.softclamp_logits) sim = (sim / o.logit_softclamp_value).tanh() * o.logit_softclamp_value;  // softclamp(sim, value)
  Tensor sim_sign;
  if (o.cog_signed) {  // pre-masking: keep the sign, attend over the magnitude
    sim_sign = sim.sign();
    sim = sim.abs();
  }
  // Inverted attention masks the rows (the layers' own padding mask) before
  // the softmax over the queries, and the keys after it.
  if (o.inverted_attention) {
    if (in.mask.defined()) sim = sim.masked_fill(in.mask.view({b, 1, n, 1}).logical_not(), kMaskValue);
  } else if (keep.defined()) {
    sim = sim.masked_fill(keep.logical_not(), kMaskValue);
  }
  if (o.causal) {
    const int64_t si = sim.size(-2), sj = sim.size(-1);
    Tensor causal_mask = torch::ones({si, sj}, torch::kBool).triu(sj - si + 1);
    sim = sim.masked_fill(causal_mask, kMaskValue);
  }
  if (cope) sim = sim + cope->forward(q, sim);  // after the masks, before the sink
  trace(t, path + ".sim", sim);
  // pre_softmax_attn = sim (residual_attn with a sink is refused)
  const Tensor pre_softmax_attn = o.residual_logits_before_bias ? logits_before_bias : sim;
  if (head_attn_sink.defined())  // attn_sink = repeat(head_attn_sink, 'h -> b h i 1'); sim = cat((attn_sink, sim))
    sim = torch::cat({head_attn_sink.view({1, h, 1, 1}).expand({b, h, sim.size(2), 1}).to(sim.scalar_type()), sim}, -1);
  Tensor attn = o.sigmoid ? at::sigmoid(sim) : at::softmax(sim, o.inverted_attention ? -2 : -1, torch::kFloat);
  if (o.inverted_attention) {
    if (keep.defined()) attn = attn.masked_fill(keep.logical_not(), 0.0);
    // l1norm(attn) = F.normalize(attn, p = 1, dim = -1, eps = 1e-8)
    attn = torch::nn::functional::normalize(attn, torch::nn::functional::NormalizeFuncOptions().p(1).dim(-1).eps(1e-8));
  }
  if (sim_sign.defined()) attn = attn * sim_sign;           // add back the sign
  if (head_attn_sink.defined()) attn = attn.slice(-1, 1);  // remove the attention sink
  if (o.laser) v = (v / o.laser_softclamp_value).tanh().mul(o.laser_softclamp_value).exp();
  Tensor out = torch::einsum("b h i j, b h j d -> b h i d", {attn, v});

  if (keep.defined()) {
    Tensor fully_masked = keep.any(-1).logical_not();  // [b, 1, i or 1]
    if (fully_masked.any().item<bool>()) {
      if (o.zero_fully_masked_rows == Era::Unknown)
        throw NativeUnsupported("release " + o.release.str() + ": it is not known whether it has '" +
                                kZeroFullyMaskedRows.name() + "' (changed somewhere " +
                                kZeroFullyMaskedRows.range() + ") and this input has such a query");
      if (o.zero_fully_masked_rows == Era::New) out = out.masked_fill(fully_masked.unsqueeze(-1), 0.0);
    }
  }

  if (o.laser) out = out.clamp_min(1e-20).log();  // log(out), eps 1e-20
  if (hybrid) out = hybrid->forward(out, x);
  out = merge_heads(out);
  if (to_v_gate || to_output_gate) {
    // gate_logits = to_v_gate(x) + to_output_gate(out), each per dimension or
    // per head (broadcast over the head's dimensions); out * act(gate_logits)
    const int64_t d = o.dim_head;
    auto dimwise = [&](const Tensor& g, bool headwise) {
      return headwise ? g.unsqueeze(-1).expand({b, n, h, d}).reshape({b, n, h * d}) : g;
    };
    // LoRALinear.forward: up(maybe_activation(down(x)))
    auto project = [&](const std::shared_ptr<Linear>& down, const std::shared_ptr<Linear>& up, const Tensor& in) {
      if (!up) return down->forward(in);
      Tensor mid = down->forward(in);
      return up->forward(o.low_rank_silu_gates ? at::silu(mid) : mid);
    };
    Tensor gate_logits;
    if (to_v_gate) gate_logits = dimwise(project(to_v_gate, to_v_gate_up, x), o.gate_values_headwise);
    if (to_output_gate) {
      Tensor og = dimwise(project(to_output_gate, to_output_gate_up, out), o.output_gate_headwise);
      gate_logits = gate_logits.defined() ? gate_logits + og : og;
    }
    out = out * (o.swiglu_values ? at::silu(gate_logits) : at::sigmoid(gate_logits));
  }
  if (o.orthog_projected_values || o.orthog_projected_values_per_head) {
    // v_for_proj = repeat(orig_values, 'b h n d -> b n (g h d)', g = heads // kv_heads)
    const Tensor v_for_proj = merge_heads(projected_values.repeat({1, h / kvh, 1, 1}));
    std::vector<Tensor> projected;
    if (o.orthog_projected_values) projected.push_back(orthog_project(out, v_for_proj));
    // the per-head form rearranges to 'b n h d' first, but orthog_project packs
    // 'b *' all the same: the same numbers, in the same order
    if (o.orthog_projected_values_per_head) projected.push_back(orthog_project(out, v_for_proj));
    out = torch::cat(projected, -1);
  }
  out = to_out->forward(out);
  if (key_only && in.mask.defined()) out = out.masked_fill(in.mask.unsqueeze(-1).logical_not(), 0.0);
  trace(t, path + ".out", out);
  return {out, orig_values, pre_softmax_attn};
}

}  // namespace xcompat::native
