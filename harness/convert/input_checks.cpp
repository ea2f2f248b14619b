#include "harness/convert/input_checks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "harness/convert/published.hpp"
#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

void check_release(const ReleaseHistory& h, const Version& v, const std::string& role) {
  if (!is_published(v)) {
    auto [below, above] = published_neighbours(v);
    throw UnknownRelease(fmt::format("{} {}: x-transformers has no such release (published around it: {} and {}; "
                            "matrix/published.txt)",
                            role, v.str(), below ? below->str() : "none", above ? above->str() : "none"));
  }
  if (v < h.oldest || v > h.newest)
    throw UnknownRelease(fmt::format("{} {}: the release history covers {} to {}; changes outside that range are not "
                            "described, so nothing converts from or to {}",
                            role, v.str(), h.oldest.str(), h.newest.str(), v.str()));
}

namespace {

// Keys named as only releases before A name them: the last change (at or
// before A) whose ops mention the key retired it (a rename's `from`, a
// drop) rather than made it (a rename's `to`, an add).
std::vector<std::string> stale_keys(const ReleaseHistory& h, const ReleasePoint& a,
                                    const std::vector<TensorInfo>& tensors, const ModelFacts& facts) {
  std::vector<std::string> out;
  for (auto& t : tensors) {
    const HistoryChange* last = nullptr;
    bool retired = false;
    for (auto& c : h.changes) {
      if (!change_applies(c, a)) continue;
      // A change that holds only for some arguments counts only when the spec says it holds.
      const json view = spec_for_prefix(facts.spec, model_prefix(t.name));
      if (!spec_condition_holds(c, view).value_or(c.when_arg.empty())) continue;
      // Built with the arguments that keep the older way (a to_logits with a bias): its keys stay.
      if (spec_has_args(view, c.args)) continue;
      for (auto& op : c.ops) {
        const bool makes = (op.kind == OpKind::Rename || op.kind == OpKind::Add) &&
                           std::any_of(op.to.begin(), op.to.end(), [&](auto& p) { return p.match(t.name).has_value(); });
        const bool ends = (op.kind == OpKind::Rename || op.kind == OpKind::Drop) &&
                          std::any_of(op.from.begin(), op.from.end(), [&](auto& p) { return p.match(t.name).has_value(); });
        if (makes || ends) {
          last = &c;
          retired = ends && !makes;
        }
      }
    }
    if (last && retired)
      out.push_back(fmt::format("{} (named as before {}: {})", t.name, last->at.str(), last->id));
  }
  return out;
}

}  // namespace

LayoutCheck check_layout(const ReleaseHistory& h, const ReleasePoint& a, const std::vector<TensorInfo>& tensors,
                         const ModelFacts& facts) {
  LayoutCheck check;
  if (auto stale = stale_keys(h, a, tensors, facts); !stale.empty()) {
    check.mismatches = std::move(stale);
    return check;
  }
  const ReleasePoint newest{h.newest, 2, 13};
  const ConversionPlan up = plan_conversion(h, a, newest, tensors, facts);
  if (up.outcome == ConversionOutcome::Refused) return check;  // said by the conversion itself
  std::vector<TensorInfo> there;
  for (auto& o : up.outputs) there.push_back(o.info);
  const ConversionPlan down = plan_conversion(h, newest, a, there, facts);
  if (down.outcome == ConversionOutcome::Refused) return check;
  // Each output of the round trip names the input it was made from.
  std::map<std::string, std::string> back;  // input name -> name after the round trip
  std::map<std::string, std::string> via;   // newest name -> input name
  for (auto& o : up.outputs)
    if (o.sources.size() == 1) via[o.info.name] = o.sources.front();
  for (auto& o : down.outputs)
    if (o.sources.size() == 1)
      if (auto it = via.find(o.sources.front()); it != via.end()) back[it->second] = o.info.name;
  std::set<std::string> have;
  for (auto& t : tensors) {
    have.insert(t.name);
    if (auto it = back.find(t.name); it != back.end() && it->second != t.name)
      check.mismatches.push_back(fmt::format("{} (comes back as {})", t.name, it->second));
  }
  // What the way back adds from nothing (a bias the newer releases dropped,
  // filled back) is a tensor A holds and the file lacks.
  for (auto& o : down.outputs)
    if (o.sources.empty() && !have.count(o.info.name)) check.missing.push_back(o.info.name);
  return check;
}

std::vector<std::string> layout_mismatches(const ReleaseHistory& h, const ReleasePoint& a,
                                           const std::vector<TensorInfo>& tensors, const ModelFacts& facts) {
  return check_layout(h, a, tensors, facts).mismatches;
}

namespace {

const TensorInfo* find(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

int64_t count_layers(const std::vector<TensorInfo>& tensors, const std::string& prefix) {
  std::set<std::string> layers;
  const std::string head = prefix + "attn_layers.layers.";
  for (auto& t : tensors)
    if (t.name.rfind(head, 0) == 0) layers.insert(t.name.substr(head.size(), t.name.find('.', head.size()) - head.size()));
  return static_cast<int64_t>(layers.size());
}

// One model (a TransformerWrapper under `prefix`) against its arguments.
void check_model(const std::vector<TensorInfo>& tensors, const std::string& prefix, const json& wrapper,
                 const json& layers, bool cross_attend, std::vector<std::string>& out) {
  auto arg = [](const json& section, const char* key) -> std::optional<int64_t> {
    if (section.contains(key) && section[key].is_number_integer()) return section[key].get<int64_t>();
    return std::nullopt;
  };
  if (const TensorInfo* emb = find(tensors, prefix + "token_emb.emb.weight"); emb && emb->shape.size() == 2) {
    if (auto n = arg(wrapper, "num_tokens"); n && *n != emb->shape[0])
      out.push_back(fmt::format("num_tokens {} in the spec, {}token_emb.emb.weight has {} rows", *n, prefix,
                                emb->shape[0]));
    if (auto d = arg(layers, "dim"); d && *d != emb->shape[1])
      out.push_back(fmt::format("dim {} in the spec, {}token_emb.emb.weight is {} wide", *d, prefix, emb->shape[1]));
  }
  // The default layer structure only: attention (+ cross-attention) + feed-forward per depth.
  static const char* kCustom[] = {"custom_layers", "par_ratio", "sandwich_coef", "macaron", "layers_execute_order"};
  bool custom = false;
  for (auto* k : kCustom) custom |= layers.contains(k);
  if (auto depth = arg(layers, "depth"); depth && !custom) {
    const int64_t want = *depth * (cross_attend ? 3 : 2), have = count_layers(tensors, prefix);
    if (have != want)
      out.push_back(fmt::format("depth {} in the spec makes {} layers, the checkpoint has {} under {}attn_layers",
                                *depth, want, have, prefix));
  }
  if (const TensorInfo* q = find(tensors, prefix + "attn_layers.layers.0.1.to_q.weight"); q && !q->shape.empty()) {
    const int64_t heads = arg(layers, "heads").value_or(8), dim_head = arg(layers, "attn_dim_head").value_or(64);
    if (heads * dim_head != q->shape[0])
      out.push_back(fmt::format("{} heads of {} in the spec make {} query rows, {}attn_layers.layers.0.1.to_q.weight "
                                "has {}",
                                heads, dim_head, heads * dim_head, prefix, q->shape[0]));
  }
}

}  // namespace

std::vector<std::string> spec_misfits(const json& spec, const std::vector<TensorInfo>& tensors) {
  std::vector<std::string> out;
  if (!spec.is_object() || spec.empty()) return out;
  if (spec.value("model", "") == "xtransformer") {
    const json x = spec.value("xtransformer", json::object());
    for (auto [side, prefix, cross] : {std::tuple{"enc_", "encoder.", false}, {"dec_", "decoder.net.", true}}) {
      json wrapper = json::object(), layers = json::object();
      for (auto& [k, v] : x.items())
        if (k.rfind(side, 0) == 0)
          (k == std::string(side) + "num_tokens" ? wrapper : layers)[k.substr(std::string(side).size())] = v;
      if (x.contains("dim")) layers["dim"] = x["dim"];
      check_model(tensors, prefix, wrapper, layers, cross, out);
    }
  } else {
    const json layers = spec.value("layers", json::object());
    check_model(tensors, "", spec.value("wrapper", json::object()), layers, layers.value("cross_attend", false), out);
  }
  return out;
}

}  // namespace xcompat
