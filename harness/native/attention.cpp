#include "harness/native/attention.hpp"

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
}  // namespace

Attention::Attention(AttentionOptions o) : options(o) {
  const int64_t inner = o.dim_head * o.heads;
  // k_dim = v_dim = dim_head * kv_heads (kv_heads = default(kv_heads, heads))
  const int64_t kv_inner = o.dim_head * (o.kv_heads > 0 ? o.kv_heads : o.heads);
  to_q = register_module("to_q", std::make_shared<Linear>(o.dim, inner, false));
  to_k = register_module("to_k", std::make_shared<Linear>(o.dim, kv_inner, false));
  to_v = register_module("to_v", std::make_shared<Linear>(o.dim, kv_inner, false));
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
  if (o.head_learned_sink) {
    auto attend = register_module("attend", std::make_shared<Container>());
    head_attn_sink = attend->register_parameter("head_attn_sink", torch::zeros({o.heads}));
  }
  if (o.k_rmsnorm) {
    auto norm = register_module("k_rmsnorm", std::make_shared<Container>());
    k_rmsnorm_gamma = norm->register_parameter("gamma", torch::zeros({o.heads, 1, o.dim_head}));
  }
  if (o.value_rmsnorm) {
    auto norm = register_module("value_rmsnorm", std::make_shared<Container>());
    value_rmsnorm_gamma = norm->register_parameter("gamma", torch::zeros({o.heads, 1, o.dim_head}));
  }
  to_out = register_module("to_out", std::make_shared<Linear>(inner, o.dim, false));
}

AttentionOutput Attention::forward(const Tensor& x, const AttentionInputs& in, Trace* t, const std::string& path) const {
  const auto& o = options;
  const int64_t b = x.size(0), n = x.size(1), h = o.heads;
  const bool has_context = in.context.defined();
  const Tensor& kv_input = has_context ? in.context : x;

  const int64_t kvh = o.kv_heads > 0 ? o.kv_heads : h;
  Tensor q = split_heads(to_q->forward(x), h);
  Tensor k = split_heads(to_k->forward(kv_input), kvh);
  Tensor v = split_heads(to_v->forward(kv_input), kvh);

  if (o.qk_norm) {
    // l2norm(t, groups): rearrange '... (g d) -> ... g d', F.normalize over d, back
    auto l2norm = [&](const Tensor& t) {
      auto shape = t.sizes().vec();
      Tensor g = t.reshape({t.size(0), t.size(1), t.size(2), o.qk_norm_groups, t.size(3) / o.qk_norm_groups});
      return torch::nn::functional::normalize(g, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1)).reshape(shape);
    };
    q = l2norm(q);
    k = l2norm(k);
    if (qk_norm_q_scale.defined()) {
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
      Tensor mix = at::sigmoid(value_residual_mix_proj->forward(x)).permute({0, 2, 1}).unsqueeze(-1);  // b h n 1
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
    q = apply_rotary_pos_emb(q, in.rotary_freqs, o.rotary_interleaved);
    k = apply_rotary_pos_emb(k, in.rotary_freqs, o.rotary_interleaved);
    if (o.rotate_values) v = apply_rotary_pos_emb(v, in.rotary_freqs, o.rotary_interleaved);
  }
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
  if (in.rel_pos) sim = sim + in.rel_pos(i, j);
  if (o.softclamp_logits) sim = (sim / o.logit_softclamp_value).tanh() * o.logit_softclamp_value;  // softclamp(sim, value)
  Tensor sim_sign;
  if (o.cog_signed) {  // pre-masking: keep the sign, attend over the magnitude
    sim_sign = sim.sign();
    sim = sim.abs();
  }
  if (keep.defined()) sim = sim.masked_fill(keep.logical_not(), kMaskValue);
  if (o.causal) {
    const int64_t si = sim.size(-2), sj = sim.size(-1);
    Tensor causal_mask = torch::ones({si, sj}, torch::kBool).triu(sj - si + 1);
    sim = sim.masked_fill(causal_mask, kMaskValue);
  }
  trace(t, path + ".sim", sim);
  if (head_attn_sink.defined())  // attn_sink = repeat(head_attn_sink, 'h -> b h i 1'); sim = cat((attn_sink, sim))
    sim = torch::cat({head_attn_sink.view({1, h, 1, 1}).expand({b, h, sim.size(2), 1}).to(sim.scalar_type()), sim}, -1);
  Tensor attn = at::softmax(sim, -1, torch::kFloat);
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
  out = to_out->forward(out);
  if (key_only && in.mask.defined()) out = out.masked_fill(in.mask.unsqueeze(-1).logical_not(), 0.0);
  trace(t, path + ".out", out);
  return {out, orig_values};
}

}  // namespace xcompat::native
