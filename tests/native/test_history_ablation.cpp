// The port and the converter read one description of x-transformers'
// history (matrix/history.toml). This tier proves it the hard way: every
// entry is deleted in turn, and both a port test and a conversion test must
// fail without it.
//
//   port        every catalogue checkpoint of every era release, and every
//               spec of tests/data/native_extra_specs.toml (features outside
//               the catalogue, such as qk_norm), evaluated by the port: some
//               verdict must change, or the port must refuse to run, when
//               the entry is gone. An entry about a
//               feature the port does not model must be one the port
//               refuses (UNSUPPORTED), checked with the full history.
//   conversion  the entry effects of tests/conversion_effects.hpp: some
//               check must fail.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>

#include "conversion_effects.hpp"
#include "harness/convert/published.hpp"
#include "native_test_support.hpp"

using namespace native_test;

namespace {

// Every catalogue fixture of the era releases, as the port judges it: a
// verdict, or the error that stopped it.
std::map<std::string, std::string> port_verdicts() {
  static const std::vector<FixtureRef> extra =
      make_fixtures(era_releases(), {}, std::string(XCOMPAT_TEST_DATA) + "/native_extra_specs.toml");
  std::vector<FixtureRef> all = catalogue_fixtures();
  all.insert(all.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> out;
  for (const auto& f : all) {
    if (!f.ready()) continue;
    std::string v;
    try {
      v = verdict_name(evaluate_with_port(f.dir).verdict);
    } catch (const std::exception& e) {
      v = std::string("error: ") + e.what();
    }
    out[f.spec + " " + f.release] = v;
  }
  return out;
}

std::vector<std::string> effect_failures() {
  std::vector<std::string> out;
  for (auto& e : test::entry_effects()) {
    std::string r;
    try {
      r = e.check();
    } catch (const std::exception& ex) {
      r = std::string("error: ") + ex.what();
    }
    if (!r.empty()) out.push_back(e.entry + ": " + r);
  }
  return out;
}

// Entries about features the port does not model: it must refuse them.
struct Refusal {
  const char* entry;
  json layers;  // the feature, as decoder layer arguments
  const char* dtype = "float32";
  const char* release = "2.31.10";  // where the port must refuse it
};
const std::vector<Refusal>& port_refusals() {
  static const std::vector<Refusal> r = {
      {"attention-softmax-float32", json::object(), "bfloat16"},  // the port computes float32 only
      {"attention-cast-back", json::object(), "bfloat16"},
      // The port follows memory key / values with a bias from mem-kv-unbiased (1.28.0) on only.
      {"mem-kv-query-positions", {{"attn_num_mem_kv", 2}, {"rel_pos_bias", true}}, "float32", "1.0.4"},
      {"entmax-removed", {{"attn_use_entmax15", true}}},
      {"layerscale-unit-offset", {{"use_layerscale", true}}},
      // qk_norm is measured from 0.32.3: the learned temperature before it is not modelled.
      {"qk-norm-learned-temperature-removed", {{"attn_qk_norm", true}}, "float32", "0.28.4"},
      // The per-dimension scales are measured from qk-norm-learned-scales (2.25.5) on.
      {"qk-norm-scales-per-head", {{"attn_qk_norm", true}, {"attn_qk_norm_dim_scale", true}}, "float32", "1.19.1"},
      // A recipe of the conversion: the port rotates values interleaved by rotary-interleaved.
      {"rotary-interleaved-values", {{"rotary_pos_emb", true}, {"attn_rotary_embed_values", true}}, "float32"},
  };
  return r;
}

}  // namespace

TEST_CASE("deleting any entry of the release history fails a port test and a conversion test", "[ablation]") {
  const ReleaseHistory full = release_history();
  const auto baseline = port_verdicts();
  REQUIRE(baseline.size() >= 100);
  for (auto& [k, v] : baseline) {
    INFO(k);
    CHECK(v.rfind("error", 0) != 0);
  }
  REQUIRE(effect_failures().empty());

  // Features the port does not model are refused, with the full history.
  std::set<std::string> refused;
  for (auto& r : port_refusals()) {
    json spec = {{"name", "t"}, {"model", "decoder"}, {"dtype", r.dtype},
                 {"wrapper", {{"num_tokens", 64}, {"max_seq_len", 16}}}, {"layers", {{"dim", 32}, {"depth", 1}, {"heads", 4}}}};
    for (auto& [k, v] : r.layers.items()) spec["layers"][k] = v;
    if (std::string(r.entry) == "rotary-interleaved-values") {
      refused.insert(r.entry);  // not a feature: listed so the table names every entry the port does not read
      continue;
    }
    INFO(r.entry << ": " << spec.dump());
    native::ReleaseContext ctx;
    ctx.release = native::ReleaseVersion::parse(r.release);
    ctx.set_torch_version("2.13.0");
    bool refuses = false;
    try {
      native::NativePort port(spec, ctx);
    } catch (const native::NativeUnsupported&) {
      refuses = true;
    }
    CHECK(refuses);
    refused.insert(r.entry);
  }

  std::vector<std::string> report;
  for (auto& gone : full.changes) {
    ReleaseHistory without = full;
    std::erase_if(without.changes, [&](const HistoryChange& c) { return c.id == gone.id; });
    const ScopedReleaseHistory scoped(std::move(without));

    const auto verdicts = port_verdicts();
    std::vector<std::string> port_changes;
    for (auto& [k, v] : verdicts)
      if (baseline.at(k) != v) port_changes.push_back(k + ": " + baseline.at(k) + " -> " + v.substr(0, 80));
    const auto conversion = effect_failures();

    INFO("without " << gone.id);
    if (refused.count(gone.id)) {
      CHECK(port_changes.empty());  // listed as not read by the port: it must not be
    } else {
      CHECK(!port_changes.empty());
    }
    CHECK(!conversion.empty());
    report.push_back(fmt::format("{:<32} port: {:>3} cells change{}  conversion: {} checks fail", gone.id,
                                 port_changes.size(), refused.count(gone.id) ? " (refused feature)" : "",
                                 conversion.size()));
  }
  for (auto& line : report) fmt::print("{}\n", line);
}

namespace {

// The history with one entry changed, in boundary order again.
ReleaseHistory with_entry(const ReleaseHistory& full, const std::string& id,
                          const std::function<void(HistoryChange&)>& edit) {
  ReleaseHistory h = full;
  for (auto& c : h.changes)
    if (c.id == id) edit(c);
  std::stable_sort(h.changes.begin(), h.changes.end(),
                   [](const HistoryChange& a, const HistoryChange& b) { return a.at < b.at; });
  return h;
}

// when_arg negated where the syntax can say it: "a" -> "!a", "a,b" ->
// "!a|!b", "a|b" -> "!a,!b"; "" when it cannot ("a,b|c").
std::string negated(const std::string& when_arg) {
  const bool ands = when_arg.find(',') != std::string::npos, ors = when_arg.find('|') != std::string::npos;
  if (ands && ors) return "";
  const char sep = ands ? ',' : '|', joined = ands ? '|' : ',';
  std::string out, part;
  auto flush = [&] {
    if (!out.empty()) out += joined;
    out += part[0] == '!' ? part.substr(1) : "!" + part;
    part.clear();
  };
  for (char ch : when_arg) {
    if (ch == sep) flush();
    else part += ch;
  }
  flush();
  return out;
}

}  // namespace

TEST_CASE("moving any entry's boundary by one published release, or flipping its condition, changes a verdict",
          "[ablation]") {
  // The data drives behaviour, not an id that is looked up: each entry moved
  // one published release later and one earlier (and its when_arg negated)
  // must change a port verdict or fail one of its conversion effects.
  const ReleaseHistory full = release_history();
  const auto baseline = port_verdicts();
  REQUIRE(effect_failures().empty());
  std::vector<std::string> report;
  int unmoved = 0;
  for (auto& entry : full.changes) {
    const auto [below, above] = published_neighbours(entry.at);
    std::vector<std::pair<std::string, ReleaseHistory>> variants;
    if (above) variants.push_back({"at " + above->str(), with_entry(full, entry.id, [&](HistoryChange& c) { c.at = *above; })});
    if (below) variants.push_back({"at " + below->str(), with_entry(full, entry.id, [&](HistoryChange& c) { c.at = *below; })});
    if (const std::string flipped = negated(entry.when_arg); !entry.when_arg.empty() && !flipped.empty())
      variants.push_back({"when_arg " + flipped,
                          with_entry(full, entry.id, [&](HistoryChange& c) { c.when_arg = flipped; })});
    for (auto& [what, h] : variants) {
      const ScopedReleaseHistory scoped(std::move(h));
      int port_changes = 0;
      for (auto& [k, v] : port_verdicts()) port_changes += baseline.at(k) != v;
      const auto conversion = effect_failures();
      INFO(entry.id << " moved to " << what << " (from " << entry.at.str() << ")");
      const bool seen = port_changes > 0 || !conversion.empty();
      CHECK(seen);
      unmoved += !seen;
      report.push_back(fmt::format("{:<32} {:<22} port: {:>3} cells change  conversion: {} checks fail", entry.id, what,
                                   port_changes, conversion.size()));
    }
  }
  for (auto& line : report) fmt::print("{}\n", line);
  fmt::print("{} of {} moves changed nothing\n", unmoved, report.size());
}
