#include "harness/convert/locate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "harness/core/error.hpp"
#include "harness/core/parse_index.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {


bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The prefixes P of names `P + suffix` that sit at a module boundary (P empty
// or ending with '.').
std::set<std::string> prefixes_before(const std::set<std::string>& names, const std::string& suffix) {
  std::set<std::string> out;
  for (auto& n : names)
    if (ends_with(n, suffix)) {
      const std::string p = n.substr(0, n.size() - suffix.size());
      if (p.empty() || p.back() == '.') out.insert(p);
    }
  return out;
}

bool any_under(const std::set<std::string>& names, const std::string& prefix) {
  auto it = names.lower_bound(prefix);
  return it != names.end() && starts_with(*it, prefix);
}

// What layer i of the AttentionLayers under `root` (ending with "layers.")
// holds: 'a' attention, 'f' feed-forward, '?' neither; by layer index.
std::string block_pattern(const std::set<std::string>& names, const std::string& root) {
  std::map<long long, char> kind;
  for (auto it = names.lower_bound(root); it != names.end() && starts_with(*it, root); ++it) {
    const std::string rest = it->substr(root.size());
    const auto dot = rest.find('.');
    if (dot == std::string::npos) continue;
    const auto index = parse_index(std::string_view(rest).substr(0, dot));
    if (!index) continue;
    char& k = kind.try_emplace(*index, '?').first->second;
    const std::string block = rest.substr(dot + 1);
    if (starts_with(block, "1.to_q.")) k = 'a';
    else if (starts_with(block, "1.ff.") || starts_with(block, "1.net.")) k = 'f';
  }
  std::string pattern;
  for (auto& [_, k] : kind) pattern += k;
  return pattern;
}

// A decoder with cross-attention: attention, cross-attention, feed-forward, repeated.
bool has_cross_attention(const std::set<std::string>& names, const std::string& wrapper) {
  const std::string p = block_pattern(names, wrapper + "attn_layers.layers.");
  if (p.empty() || p.size() % 3 != 0) return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != "aaf"[i % 3]) return false;
  return true;
}

// AttentionLayers roots: R such that some `R layers.<i>.1.to_q.weight` exists.
std::set<std::string> layer_roots(const std::set<std::string>& names) {
  std::set<std::string> out;
  for (auto& n : names) {
    if (!ends_with(n, ".1.to_q.weight")) continue;
    const std::string head = n.substr(0, n.size() - std::string(".1.to_q.weight").size());  // R layers.<i>
    const auto dot = head.rfind('.');
    if (dot == std::string::npos) continue;
    const std::string index = head.substr(dot + 1);
    if (index.empty() || !std::all_of(index.begin(), index.end(), ::isdigit)) continue;
    const std::string layers = head.substr(0, dot + 1);  // R layers.
    if (!ends_with(layers, "layers.")) continue;
    const std::string root = layers.substr(0, layers.size() - std::string("layers.").size());
    if (root.empty() || root.back() == '.') out.insert(root);
  }
  return out;
}

std::string describe_holder(const std::string& prefix) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at < prefix.size()) {
    const auto dot = prefix.find('.', at);
    parts.push_back(prefix.substr(at, dot - at));
    at = dot + 1;
  }
  std::vector<std::string> said;
  for (auto& p : parts) {
    if (p == "module") said.push_back("module (DistributedDataParallel / DataParallel)");
    else if (p == "_orig_mod") said.push_back("_orig_mod (torch.compile)");
    else if (p == "net") said.push_back("net (AutoregressiveWrapper or a wrapper alike)");
    else if (p == "ema_model" || p == "ema") said.push_back(p + " (an EMA copy)");
    else if (p == "state_dict") said.push_back("state_dict (a Lightning checkpoint, or alike)");
    else said.push_back(p);
  }
  std::string s;
  for (auto& p : said) s += (s.empty() ? "" : " > ") + p;
  return s;
}

}  // namespace

const char* model_kind_name(ModelKind k) {
  switch (k) {
    case ModelKind::TransformerWrapper: return "TransformerWrapper";
    case ModelKind::XTransformer: return "XTransformer";
    case ModelKind::ContinuousTransformerWrapper: return "ContinuousTransformerWrapper";
    case ModelKind::ViTransformerWrapper: return "ViTransformerWrapper";
    case ModelKind::AttentionLayers: return "AttentionLayers";
  }
  return "?";
}

std::string place_name(const std::string& prefix) {
  return prefix.empty() ? "the top level" : "'" + prefix + "'";
}

std::string LocatedModel::in_file(const std::string& canonical_name) const {
  if (auto it = file_name_of.find(canonical_name); it != file_name_of.end()) return it->second;
  if (kind == ModelKind::AttentionLayers) {
    try {
      return prefix + unroot_bare_layers_name(canonical_name);
    } catch (const Error&) {
      throw Error(fmt::format("'{}' has no place in the bare AttentionLayers at {}", canonical_name, place_name(prefix)));
    }
  }
  return prefix + canonical_name;
}

std::string root_bare_layers_name(const std::string& name) { return kBareLayersRoot + name; }

std::string unroot_bare_layers_name(const std::string& name) {
  if (!starts_with(name, kBareLayersRoot)) throw Error("'" + name + "' is not under " + kBareLayersRoot);
  return name.substr(std::string(kBareLayersRoot).size());
}

json LocatedModel::to_json() const {
  return {{"prefix", prefix}, {"kind", model_kind_name(kind)}, {"held_as", held_as}, {"tensors", tensors.size()}};
}

Located locate_models(const std::vector<TensorInfo>& tensors) {
  std::set<std::string> names;
  for (auto& t : tensors) names.insert(t.name);

  // Model roots by kind, then the tensors each owns (the longest prefix wins).
  std::map<std::string, ModelKind> roots;
  std::set<std::string> wrappers;
  for (const char* emb : {"token_emb.emb.weight", "token_emb.weight"})
    for (auto& p : prefixes_before(names, emb))
      if (any_under(names, p + "attn_layers.layers.")) wrappers.insert(p);
  std::set<std::string> in_xtransformer;
  for (auto& w : wrappers) {
    if (!ends_with(w, "encoder.")) continue;
    const std::string q = w.substr(0, w.size() - std::string("encoder.").size());
    if (wrappers.count(q + "decoder.net.") && has_cross_attention(names, q + "decoder.net.")) {
      roots[q] = ModelKind::XTransformer;
      in_xtransformer.insert(w);
      in_xtransformer.insert(q + "decoder.net.");
    }
  }
  for (auto& w : wrappers)
    if (!in_xtransformer.count(w)) roots[w] = ModelKind::TransformerWrapper;

  // Attention layers that no wrapper above holds: a Continuous or ViT
  // wrapper around them, or bare AttentionLayers. Shortest root first, so
  // layers nested inside a model found already (an attention pool's) stay its.
  const auto std_roots = layer_roots(names);
  std::vector<std::string> ordered(std_roots.begin(), std_roots.end());
  std::sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) { return a.size() < b.size(); });
  auto inside_known = [&](const std::string& r) {
    return std::any_of(roots.begin(), roots.end(), [&](auto& kv) { return starts_with(r, kv.first); });
  };
  for (auto& r : ordered) {
    if (inside_known(r)) continue;
    if (ends_with(r, "attn_layers.")) {
      const std::string h = r.substr(0, r.size() - std::string("attn_layers.").size());
      if (names.count(h + "project_in.weight") || names.count(h + "project_out.weight")) {
        roots[h] = ModelKind::ContinuousTransformerWrapper;
        continue;
      }
      if ((any_under(names, h + "patch_to_embedding.") || any_under(names, h + "to_patch_embedding.")) &&
          names.count(h + "pos_embedding")) {
        roots[h] = ModelKind::ViTransformerWrapper;
        continue;
      }
    }
    roots[r] = ModelKind::AttentionLayers;
  }

  Located out;
  std::map<std::string, LocatedModel> models;
  for (auto& [p, k] : roots) {
    LocatedModel m;
    m.prefix = p;
    m.kind = k;
    m.held_as = describe_holder(p);
    models.emplace(p, std::move(m));
  }
  for (auto& t : tensors) {
    LocatedModel* owner = nullptr;
    for (auto& [p, m] : models)
      if (starts_with(t.name, p) && (!owner || p.size() > owner->prefix.size())) owner = &m;
    if (!owner) {
      out.others.push_back(t.name);
      continue;
    }
    std::string canonical = t.name.substr(owner->prefix.size());
    if (owner->kind == ModelKind::AttentionLayers) canonical = root_bare_layers_name(canonical);
    owner->file_name_of[canonical] = t.name;
    owner->canonical_of[t.name] = canonical;
    TensorInfo info = t;
    info.name = canonical;
    owner->tensors.push_back(std::move(info));
  }
  for (auto& [_, m] : models) out.models.push_back(std::move(m));
  return out;
}

std::vector<const LocatedModel*> models_under(const Located& located, const std::string& key) {
  std::vector<const LocatedModel*> out;
  std::string k = key;
  if (!k.empty() && k.back() != '.') k += '.';
  for (auto& m : located.models)
    if (k.empty() || starts_with(m.prefix, k)) out.push_back(&m);
  if (out.empty()) {
    std::string where;
    for (auto& m : located.models) where += (where.empty() ? "" : ", ") + place_name(m.prefix);
    throw Error(fmt::format("--key {}: no x-transformers model under it (the models are at: {})", key,
                            where.empty() ? "none found" : where));
  }
  return out;
}

}  // namespace xcompat
