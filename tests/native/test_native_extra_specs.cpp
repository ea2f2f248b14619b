// Specs outside the catalogue (tests/data/native_extra_specs.toml), each a
// new combination of supported features, made by every pinned release
// through `xcompat fixtures --specs-file`.
#include "native_test_support.hpp"

using namespace native_test;

TEST_CASE("specs outside the catalogue built from supported features match every release that builds them", "[native]") {
  const std::string specs_file = std::string(XCOMPAT_TEST_DATA) + "/native_extra_specs.toml";
  const auto refs = make_fixtures({}, {}, specs_file);  // every pinned release
  std::map<std::string, int> checked;
  for (const auto& f : refs) {
    if (!f.ready()) continue;
    const PortCell c = evaluate_with_port(f.dir);
    INFO(describe(f, c));
    // A feature measured only from some release on is UNSUPPORTED before it,
    // saying so; anything else must pass.
    if (c.verdict == Verdict::Unsupported && describe(f, c).find("(measured from ") != std::string::npos) continue;
    CHECK(passes(c.verdict));
    ++checked[f.spec];
  }
  // every spec is exercised, the older ones by releases of several eras
  CHECK(checked.size() == 88);
  CHECK(checked["native-decoder-padded-alibi-postnorm"] >= 15);
  CHECK(checked["native-decoder-scalenorm-postnorm"] >= 15);
  CHECK(checked["native-xtransformer-mixed"] >= 15);
  CHECK(checked["native-encoder-rotary-memory"] >= 15);
  CHECK(checked["native-decoder-learned-value-residual"] >= 5);
  CHECK(checked["native-decoder-sandwich"] == 17);  // every pin: sandwich_norm is as old as the pins
  CHECK(checked["native-decoder-grouped-query"] >= 12);  // every pin from 1.19.1
  CHECK(checked["native-decoder-softclamp"] >= 7);       // every pin from 1.42.17
  CHECK(checked["native-decoder-only-attn"] >= 1);       // 2.31.10
  CHECK(checked["native-decoder-qk-norm"] == 16);        // every pin from 0.32.3, either side of qk-norm-scale-10
  CHECK(checked["native-decoder-qk-norm-groups"] >= 14);
  CHECK(checked["native-decoder-qk-norm-dim-scale"] >= 1);  // from 2.25.5
  CHECK(checked["native-decoder-gate-values"] == 17);    // every pin, the gate's bias until 2.26.0
  CHECK(checked["native-decoder-residual-attn-t5"] == 17);  // every pin, either side of residual-attn-carries-position-bias
  CHECK(checked["native-decoder-hybrid-gru"] >= 6);         // the pins from 1.44.8, either side of hybrid-module-normed
  CHECK(checked["native-decoder-hyper-connections"] >= 6);  // the pins from 1.44.8, either side of hyper-connections-sinkhorn
  CHECK(checked["native-decoder-swiglu-values"] >= 12);  // from 1.26.6
  CHECK(checked["native-decoder-value-rmsnorm"] >= 3);   // the pins from 2.11.24
  CHECK(checked["native-decoder-dynamic-tanh"] >= 4);    // the pins from 2.3.27
  CHECK(checked["native-decoder-derf"] >= 3);            // the pins from 2.11.24
  for (const char* pooled : {"native-encoder-average-pool", "native-encoder-cls-tokens", "native-encoder-cls-regression"})
    CHECK(checked[pooled] >= 7);  // the pins from 1.42.17
  CHECK(checked["native-decoder-post-emb-norm"] == 16);  // every pin from 0.32.3
  CHECK(checked["native-decoder-l2-distance"] >= 7);     // the pins from 1.42.17
  CHECK(checked["native-decoder-l2-distance-sink"] >= 3);  // the pins from 2.11.24
  CHECK(checked["native-decoder-laser"] >= 6);           // the pins from 1.44.8
  CHECK(checked["native-decoder-cog-signed"] >= 3);      // the pins from 2.11.24
  CHECK(checked["native-decoder-reinject-input"] >= 6);  // the pins with a learned reinjection gate
  CHECK(checked["native-decoder-low-rank-gates"] >= 1);  // 2.31.10 among the pins
  CHECK(checked["native-decoder-flash"] >= 13);          // every pin from 1.14.0
  CHECK(checked["native-encoder-flash-padded"] >= 12);   // every pin from 1.19.1
  // the features issue 16 names, each from its bisected release on
  CHECK(checked["native-decoder-macaron"] >= 13);                  // the pins from 1.18.0
  CHECK(checked["native-encoder-gate-residual"] == 17);            // every pin
  CHECK(checked["native-decoder-residual-attn-t5"] >= 14);         // the pins from 1.10.0
  CHECK(checked["native-decoder-memory-kv-t5"] >= 10);             // the pins from 1.28.0
  CHECK(checked["native-encoder-memory-kv-alibi"] >= 10);
  CHECK(checked["native-xtransformer-encoder-rotary-only"] >= 10);  // the pins whose XTransformer takes it
  CHECK(checked["native-decoder-one-kv-head-dropouts"] >= 7);  // every pin from 1.42.8 (to_logits given)
  CHECK(checked["native-decoder-custom-alibi-slopes"] >= 7);  // every pin from 1.42.17 (rel_pos_kwargs)
  CHECK(checked["native-decoder-custom-activation"] >= 4);  // every pin from 2.3.27
  CHECK(checked["native-decoder-hybrid-gru"] >= 5);         // every pin from 2.0.5
  CHECK(checked["native-encoder-hybrid-bigru-mix"] >= 5);
  CHECK(checked["native-decoder-cross-attend"] == 17);  // every pin: a context given as an input
  CHECK(checked["native-encoder-cross-attend-dim-context"] >= 12);  // every pin from 1.26.6
  CHECK(checked["native-decoder-adaptive-layernorm"] >= 9);  // every pin from 1.30.23
  CHECK(checked["native-encoder-adaptive-rmsnorm-mlp"] >= 9);
  // package hyper: residual streams and layer integration
  for (const char* streams : {"native-decoder-hyper-connections", "native-decoder-hyper-connections-qkv",
                              "native-xtransformer-hyper-connections"})
    CHECK(checked[streams] >= 6);  // the pins from 1.44.8, tanh and Sinkhorn eras
  for (const char* lime : {"native-decoder-lime", "native-encoder-lime-streams"})
    CHECK(checked[lime] >= 4);  // the pins from 2.3.27
  for (const char* gated : {"native-decoder-gated-multi-residual", "native-decoder-gated-multi-residual-qkv"})
    CHECK(checked[gated] >= 1);  // 2.31.10 among the pins (from 2.28.5)
  CHECK(checked["native-decoder-mla-rope-subheads"] >= 5);   // the pins from 2.0.5
  CHECK(checked["native-decoder-belief-attention"] >= 3);    // the pins from 2.11.24
  CHECK(checked["native-encoder-attn-dim-out"] >= 7);        // the pins from 1.42.17 (measured from 1.37.10)
  // package residual: the residual variants and the GLU's soft clamps
  CHECK(checked["native-encoder-unet-skips"] >= 7);  // the pins from 1.42.17 (unet_skips from 1.35.2)
  for (const char* residual : {"native-decoder-depth-scale-residual", "native-decoder-depth-scale-residual-flag",
                               "native-decoder-orthog-residual", "native-decoder-mv-split-residual",
                               "native-decoder-mv-split-residual-prenorm", "native-decoder-mv-split-residual-learned",
                               "native-decoder-attn-aggregated-residuals", "native-decoder-attn-aggregated-residuals-rotary",
                               "native-decoder-glu-gate-softclamp", "native-decoder-situ-glu", "native-decoder-situ-glu-swish"})
    CHECK(checked[residual] >= 1);  // 2.31.10 among the pins (measured from 2.20.0 / 2.30.5 on releases between pins)
  for (const char* newest : {"native-decoder-output-gate", "native-decoder-output-gate-headwise", "native-decoder-ff-softclamp"})
    CHECK(checked[newest] >= 1);  // 2.31.10 among the pins
  // package posattn
  CHECK(checked["native-decoder-rotary-xpos"] >= 12);  // every pin from 1.14.0 but 1.26.6 / 1.27.0, which cannot run xpos
  CHECK(checked["native-decoder-polar-pos-emb"] >= 2);  // the pins from 2.16.1
  CHECK(checked["native-decoder-cope"] >= 10);          // the pins from 1.30.23
  CHECK(checked["native-decoder-cope-talking-heads"] >= 10);
  for (const char* forgetting : {"native-decoder-data-dependent-alibi", "native-encoder-data-dependent-alibi",
                                 "native-decoder-data-dependent-alibi-per-row"})
    CHECK(checked[forgetting] >= 7);  // the pins from 1.42.17
  CHECK(checked["native-encoder-rel-proj-pos-bias"] >= 1);   // 2.31.10 among the pins (from 2.25.1)
  CHECK(checked["native-xtransformer-sigmoid-cross"] >= 7);  // the pins from 1.42.17 (from 1.37.10)
  CHECK(checked["native-xtransformer-inverted-cross"] >= 1);  // 2.31.10 among the pins (from 2.20.0)
  // package wrapper
  for (const char* pooled : {"native-encoder-attn-pool", "native-encoder-attn-pool-deep", "native-decoder-unused-heads"})
    CHECK(checked[pooled] >= 3);  // the pins from 2.11.24
  CHECK(checked["native-decoder-mixture-of-softmax"] >= 7);  // the pins from 1.42.17
  CHECK(checked["native-decoder-ff-deep-embed"] >= 4);       // the pins from 2.3.27
  CHECK(checked["native-decoder-looped"] >= 1);              // 2.31.10
  CHECK(checked["native-decoder-max-mem-len"] == 17);        // every pin: max_mem_len is as old as the pins
  CHECK(checked["native-decoder-train-max-recycle-steps"] >= 7);  // the pins from 1.42.17
  CHECK(checked["native-decoder-input-not-include-cache"] >= 2);  // the pins from 2.16.1
}
