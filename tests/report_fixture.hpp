#pragma once
// A small hand-made matrix store for the report tests (renderer tests: the
// rows are invented, nothing is checked against x-transformers). Every
// string a page shows comes from here, hostile ones included.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix/store.hpp"

namespace xcompat::test {

inline const std::string kEvil = "<script>alert(1)</script>";
inline const std::string kEvilError = "boom <img src=x onerror=alert(2)> & \"quotes\"";
inline const std::string kEvilSpec = "\"><svg onload=alert(3)>";

inline CellResult cell(const std::string& spec, const std::string& p, const std::string& c, Verdict v) {
  CellResult r;
  r.key = {spec, p, c};
  r.verdict = v;
  r.cache_key = spec + "|" + p + "|" + c;
  r.latency_ms = 12.5;
  if (v == Verdict::Identical || v == Verdict::Close || v == Verdict::Drift) {
    Metrics m;
    m.bitwise = v == Verdict::Identical;
    m.nmse = v == Verdict::Identical ? 0 : v == Verdict::Close ? 3e-8 : 0.4;
    m.max_abs = v == Verdict::Identical ? 0 : 1e-3;
    m.cosine = v == Verdict::Drift ? 0.7 : 1;
    m.top1 = v == Verdict::Drift ? 0.25 : 1;
    r.metrics = m;
  }
  if (v == Verdict::LoadFail) {
    r.load_report.missing = {"attn_layers.layers.1.1.net.0.0.weight"};
    r.load_report.unexpected = {"attn_layers.layers.1.1.ff.0.0.weight", "<b>k</b>"};
    r.error = "Error(s) in loading state_dict for TransformerWrapper";
  }
  return r;
}

// Releases 0.28.4, 1.0.4, 2.3.27, 2.11.24 and the hostile one; consumers:
// those plus cpp-native. Four runs:
//   run 1: everything; decoder-absolute 0.28.4 -> 1.0.4 IDENTICAL
//   run 2: that cell IDENTICAL again (no transition), 1.0.4 -> 0.28.4 LOAD_FAIL -> CLOSE (fixed)
//   run 3: that cell IDENTICAL again
//   run 4: that cell LOAD_FAIL (regressed), hostile error text, flaky
inline void fill(Store& s) {
  const std::vector<std::string> rel = {"2.11.24", "0.28.4", "2.3.27", "1.0.4", kEvil};
  for (auto& v : rel) {
    s.register_release({v, {}, v == "0.28.4" ? "the version users pin most <i>" : ""});
    s.register_consumer({v, "python", v + "-id"});
  }
  s.register_consumer({"cpp-native", "cpp", "native-1"});
  s.register_spec({"decoder-absolute", nlohmann::json{{"name", "decoder-absolute"}, {"dim", 8}}});
  s.register_spec({kEvilSpec, nlohmann::json{{"note", "<script>alert(4)</script>"}}});
  std::vector<std::string> cons = rel;
  cons.push_back("cpp-native");

  auto base = [&](int run) {
    std::vector<CellResult> out;
    for (auto& spec : {std::string("decoder-absolute"), kEvilSpec})
      for (auto& p : rel)
        for (auto& c : cons) {
          Verdict v = p == c ? Verdict::Identical : Verdict::LoadFail;
          if (c == "cpp-native") v = spec == kEvilSpec ? Verdict::Unsupported : Verdict::Close;
          if (spec == "decoder-absolute" && p == "0.28.4" && c == "1.0.4") v = Verdict::Identical;
          if (spec == "decoder-absolute" && p == "1.0.4" && c == "0.28.4") v = run >= 2 ? Verdict::Close : Verdict::LoadFail;
          if (spec == "decoder-absolute" && p == "0.28.4" && c == "2.3.27") v = Verdict::Drift;
          out.push_back(cell(spec, p, c, v));
        }
    return out;
  };
  for (int run = 1; run <= 3; ++run) {
    const int64_t id = s.begin_run({{"run", run}});
    s.record(id, base(run));
    s.finish_run(id, "complete");
  }
  const int64_t id = s.begin_run({{"note", kEvil}});
  auto cells = base(4);
  for (auto& c : cells)
    if (c.key.spec == "decoder-absolute" && c.key.producer == "0.28.4" && c.key.consumer == "1.0.4") {
      c.verdict = Verdict::LoadFail;
      c.metrics.reset();
      c.error = kEvilError;
      c.flaky = true;
    } else if (c.key.spec == "decoder-absolute" && c.key.producer == "0.28.4" && c.key.consumer == "cpp-native") {
      c.tolerance_override = "ALiBi slopes <u>in float64</u>";
    } else if (c.key.spec == "decoder-absolute" && c.key.producer == "0.28.4" && c.key.consumer == "2.11.24") {
      // Fails to load as it is, passes converted.
      c.direct_verdict = Verdict::LoadFail;
      c.verdict = Verdict::Converted;
      c.conversion = {{"outcome", "lossless with arguments"},
                      {"changes", {"ff-net-renamed-ff", "logits-without-bias"}},
                      {"args", {{"wrapper", {{"to_logits", {{"module", "Linear"}, {"bias", true}}}}}}},
                      {"verdict", "IDENTICAL"},
                      {"metrics", {{"max_abs", 0.0}, {"nmse", 0.0}}},
                      {"command", "xcompat convert model.pt --from 0.28.4 --to 2.11.24 --spec decoder-absolute "
                                  "--out model-2.11.24.pt"}};
      c.causes = {{{"kind", "renamed"}, {"change", "ff-net-renamed-ff"}, {"detail", "net <b>renamed</b> ff"}}};
    } else if (c.key.spec == "decoder-absolute" && c.key.producer == "1.0.4" && c.key.consumer == "2.3.27") {
      // Converted, and something is lost.
      c.direct_verdict = Verdict::LoadFail;
      c.conversion = {{"outcome", "lossy"},
                      {"changes", {"final-norm-in-attention-layers"}},
                      {"lost", {"to_logits.bias dropped (largest |x| 0.175) <script>"}},
                      {"dropped", {{{"name", "to_logits.bias"}, {"change", "logits-without-bias"}}}},
                      {"verdict", "DRIFT"},
                      {"command", "xcompat convert model.pt --from 1.0.4 --to 2.3.27 --out m.pt"}};
      c.causes = {{{"kind", "removed"}, {"change", "logits-without-bias"}, {"detail", "to_logits has no bias"}}};
    } else if (c.key.spec == "decoder-absolute" && c.key.producer == "1.0.4" && c.key.consumer == "2.11.24") {
      // Lossy converted, carried by an adapter of B's model.
      c.direct_verdict = Verdict::LoadFail;
      c.verdict = Verdict::Adapted;
      c.conversion = {{"outcome", "lossy"},
                      {"changes", {"layernorm-torch-biasless"}},
                      {"lost", {"attn_layers.final_norm.bias dropped (largest |x| 0.2) <i>"}},
                      {"verdict", "DRIFT"},
                      {"command", "xcompat convert model.pt --from 1.0.4 --to 2.11.24 --out m.pt"},
                      {"adapted", {{"outcome", "lossless with an adapter"},
                                   {"adapters", {{"attn_layers.final_norm", "output_bias", {32}, "layernorm-torch-biasless"}}},
                                   {"verdict", "ADAPTED"},
                                   {"metrics", {{"max_abs", 1e-6}, {"nmse", 1e-14}}},
                                   {"command", "xcompat convert model.pt --from 1.0.4 --to 2.11.24 --adapter adapter.py "
                                               "--out m.pt"}}}};
      c.causes = {{{"kind", "removed"}, {"change", "layernorm-torch-biasless"}, {"detail", "LayerNorm has no bias"}}};
    }
  s.record(id, cells);
  s.finish_run(id, "complete");
}

}  // namespace xcompat::test
