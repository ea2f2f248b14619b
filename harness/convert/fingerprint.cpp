#include "harness/convert/fingerprint.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "harness/convert/input_checks.hpp"
#include "harness/convert/published.hpp"
#include "harness/core/error.hpp"
#include "harness/core/parse_index.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

// x-transformers' defaults where a tensor does not say otherwise.
constexpr int64_t kDefaultDimHead = 64, kDefaultFfMult = 4, kDefaultRelPosBuckets = 32;

bool changes_layout(const HistoryChange& c) {
  for (auto& op : c.ops)
    switch (op.kind) {
      case OpKind::Rename:
      case OpKind::Add:
      case OpKind::Drop:
      case OpKind::Split:
      case OpKind::Concatenate:
      case OpKind::Trim:
      case OpKind::Repeat:
      case OpKind::Reshape: return true;
      default: break;
    }
  return false;
}

// Published releases that name and shape tensors alike: consecutive ones on
// the same side of every layout change.
struct ReleaseGroup {
  Version first, last;
  bool torch_matters = false;  // a torch-dependent layout change applies here
};

std::vector<ReleaseGroup> layout_groups(const ReleaseHistory& h) {
  std::vector<const HistoryChange*> layout;
  for (auto& c : h.changes)
    if (changes_layout(c)) layout.push_back(&c);
  std::vector<ReleaseGroup> groups;
  std::vector<int> previous;
  for (const Version& v : published_releases()) {
    if (v < h.oldest || v > h.newest) continue;
    std::vector<int> sides;
    bool torch_matters = false;
    for (auto* c : layout) {
      sides.push_back(c->side(v));
      torch_matters |= !c->torch.empty() && c->side(v) > 0;
    }
    if (groups.empty() || sides != previous) groups.push_back({v, v, torch_matters});
    else groups.back().last = v;
    previous = std::move(sides);
  }
  return groups;
}

struct Match {
  ReleaseGroup group;
  std::string torch;  // "", "<2.1", ">=2.1"
  ReleasePoint point;  // where it was tried (the newest torch that matched)
};

// The file names its tensors as `a` does and holds every tensor `a` holds
// (one round trip through the newest release tells both).
bool has_layout(const ReleaseHistory& h, const ReleasePoint& a, const std::vector<TensorInfo>& tensors,
                const ModelFacts& facts) {
  const LayoutCheck c = check_layout(h, a, tensors, facts);
  return c.mismatches.empty() && c.missing.empty();
}

std::vector<Match> matching_groups(const ReleaseHistory& h, const std::vector<TensorInfo>& tensors,
                                   const ModelFacts& facts) {
  std::vector<Match> out;
  for (auto& g : layout_groups(h)) {
    const ReleasePoint now{g.first, 2, 13}, before{g.first, 2, 0};
    const bool under_now = has_layout(h, now, tensors, facts);
    const bool under_before = g.torch_matters && has_layout(h, before, tensors, facts);
    if (!g.torch_matters) {
      if (under_now) out.push_back({g, "", now});
    } else if (under_now || under_before) {
      out.push_back({g, under_now && under_before ? "" : under_now ? ">=2.1" : "<2.1", under_now ? now : before});
    }
  }
  return out;
}

std::vector<ReleaseRange> merge(const std::vector<Match>& matches) {
  std::vector<ReleaseRange> out;
  const auto& all = published_releases();
  for (auto& m : matches) {
    // Adjacent groups (no published release between them) with the same torch condition join.
    bool joined = false;
    if (!out.empty() && out.back().torch == m.torch) {
      auto it = std::upper_bound(all.begin(), all.end(), out.back().last);
      if (it != all.end() && *it == m.group.first) {
        out.back().last = m.group.last;
        joined = true;
      }
    }
    if (!joined) out.push_back({m.group.first, m.group.last, m.torch});
  }
  return out;
}

// The tensors of one model (a TransformerWrapper under `prefix`), by name
// without the prefix, in the newest release's layout.
using Names = std::map<std::string, TensorInfo>;

Names under(const std::vector<TensorInfo>& tensors, const std::string& prefix) {
  Names out;
  for (auto& t : tensors)
    if (t.name.rfind(prefix, 0) == 0) out[t.name.substr(prefix.size())] = t;
  return out;
}

const TensorInfo* find(const Names& n, const std::string& name) {
  auto it = n.find(name);
  return it == n.end() ? nullptr : &it->second;
}

int64_t dim_at(const TensorInfo* t, std::size_t axis) {
  return t && t->shape.size() > axis ? t->shape[axis] : -1;
}

// attn_layers.layers.<i>.<branch>.<rest>: what block layer i holds.
struct LayerBlocks {
  std::map<int64_t, char> kind;  // 'a' attention, 'f' feed-forward, '?' neither
  std::set<std::string> read;    // the names the rules below account for
};

LayerBlocks layer_blocks(const Names& n) {
  LayerBlocks b;
  const std::string head = "attn_layers.layers.";
  for (auto& [name, _] : n) {
    if (name.rfind(head, 0) != 0) continue;
    const std::size_t dot = name.find('.', head.size());
    if (dot == std::string::npos) continue;
    const auto index = parse_index(std::string_view(name).substr(head.size(), dot - head.size()));
    if (!index) continue;  // not a layer of the list: no rule reads it (listed as unrecognised)
    const int64_t i = *index;
    const std::string rest = name.substr(dot + 1);
    char& k = b.kind.try_emplace(i, '?').first->second;
    if (rest.rfind("1.to_q.", 0) == 0) k = 'a';
    else if (rest.rfind("1.ff.", 0) == 0) k = 'f';
  }
  return b;
}

class ModelReader {
 public:
  ModelReader(const Names& n, std::string section, std::string arg_prefix, std::string tensor_prefix,
              Fingerprint& fp, std::string wrapper_kind = "tokens")
      : n_(n), section_(std::move(section)), arg_(std::move(arg_prefix)), tp_(std::move(tensor_prefix)), fp_(fp),
        wrapper_kind_(std::move(wrapper_kind)), tokens_(wrapper_kind_ == "tokens") {}

  // ViTransformerWrapper: the patch embedding (a Linear over channels x patch^2
  // values, three channels assumed) and the positions (one per patch) give
  // patch_size and image_size.
  void read_vit() {
    const TensorInfo* pos = find(n_, "pos_embedding");
    const TensorInfo* patch = nullptr;
    std::string patch_name;
    for (auto& [name, info] : n_)
      if ((name.rfind("patch_to_embedding.", 0) == 0 || name.rfind("to_patch_embedding.", 0) == 0) &&
          name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && info.shape.size() == 2 &&
          (!patch || info.shape[1] > patch->shape[1])) {
        patch = &info;
        patch_name = name;
      }
    if (!pos || !patch || pos->shape.size() != 3) return;
    const auto side = [](int64_t v) { int64_t r = 0; while ((r + 1) * (r + 1) <= v) ++r; return r * r == v ? r : -1; };
    const int64_t per_patch = patch->shape[1] % 3 == 0 ? side(patch->shape[1] / 3) : -1;
    // Before 1.16.0 one more position than patches (the class token's).
    const int64_t grid = side(pos->shape[1]) > 0 ? side(pos->shape[1]) : side(pos->shape[1] - 1);
    if (const TensorInfo* head = find(n_, "mlp_head.weight"))
      set_wrapper("num_classes", dim_at(head, 0), t("mlp_head.weight") + " rows");
    if (per_patch <= 0 || grid <= 0) return;
    set_wrapper("patch_size", per_patch, t(patch_name) + " columns over 3 channels", false);
    set_wrapper("image_size", per_patch * grid, t("pos_embedding") + " (one position per patch)");
  }

  void set(const std::string& name, json value, const std::string& why, bool certain = true) {
    fp_.args.push_back({section_, arg_ + name, std::move(value), certain, why});
    if (!certain) fp_.ambiguous.push_back(fmt::format("{}{}: assumed {} ({})", arg_, name, fp_.args.back().value.dump(), why));
  }
  void set_wrapper(const std::string& name, json value, const std::string& why, bool certain = true) {
    // A TransformerWrapper's own arguments; XTransformer takes them with enc_ / dec_ like the layers'.
    if (section_ == "xtransformer") return set(name, std::move(value), why, certain);
    fp_.args.push_back({"wrapper", name, std::move(value), certain, why});
    if (!certain) fp_.ambiguous.push_back(fmt::format("{}: assumed {} ({})", name, fp_.args.back().value.dump(), why));
  }
  std::string t(const std::string& name) const { return tp_ + name; }

  // Reads everything one model's tensors determine; `cross` for the decoder
  // of an XTransformer (attention, cross-attention, feed-forward per layer).
  void read(bool cross, bool wrapper_logits) {
    const TensorInfo* emb = find(n_, "token_emb.emb.weight");
    int64_t dim = -1;
    if (tokens_) {
      if (!emb || emb->shape.size() != 2)
        throw Error(fmt::format("no token embedding ({}): not an x-transformers TransformerWrapper checkpoint",
                                t("token_emb.emb.weight")));
      dim = emb->shape[1];
      set_wrapper("num_tokens", emb->shape[0], t("token_emb.emb.weight") + " rows");
      if (section_ != "xtransformer" || arg_ == "enc_") {
        if (section_ == "xtransformer") fp_.args.push_back({"xtransformer", "dim", dim, true, t("token_emb.emb.weight") + " width"});
        else set("dim", dim, t("token_emb.emb.weight") + " width");
      }
    } else {
      // Continuous, ViT and bare attention layers: the width is the attention's input.
      for (auto& [name, info] : n_)
        if (name.rfind("attn_layers.layers.", 0) == 0 && name.size() > 14 &&
            name.compare(name.size() - 14, 14, ".1.to_q.weight") == 0 && info.shape.size() == 2) {
          dim = info.shape[1];
          set("dim", dim, t(name) + " columns");
          break;
        }
    }
    if (const TensorInfo* pos = find(n_, "pos_emb.emb.weight")) {
      if (tokens_ || wrapper_kind_ == "continuous") set_wrapper("max_seq_len", dim_at(pos, 0), t("pos_emb.emb.weight") + " rows");
    } else if (tokens_) {
      set_wrapper("use_abs_pos_emb", false, "no " + t("pos_emb.emb.weight"));
      set_wrapper("max_seq_len", 1024, "no absolute positions: the longest sequence leaves no tensor", false);
    }
    if (const TensorInfo* mem = find(n_, "memory_tokens")) set_wrapper("num_memory_tokens", dim_at(mem, 0), t("memory_tokens") + " rows");
    if (wrapper_kind_ == "continuous") {
      if (const TensorInfo* in = find(n_, "project_in.weight")) set_wrapper("dim_in", dim_at(in, 1), t("project_in.weight") + " columns");
      if (const TensorInfo* o = find(n_, "project_out.weight")) set_wrapper("dim_out", dim_at(o, 0), t("project_out.weight") + " rows");
    }
    if (wrapper_kind_ == "vit") read_vit();

    const LayerBlocks blocks = layer_blocks(n_);
    std::string pattern;
    for (auto& [_, k] : blocks.kind) pattern += k;
    const std::string unit = cross ? "aaf" : "af";
    int64_t attention = 0;
    for (char c : pattern) attention += c == 'a';
    bool standard = !pattern.empty() && pattern.size() % unit.size() == 0;
    for (std::size_t i = 0; standard && i < pattern.size(); ++i) standard = pattern[i] == unit[i % unit.size()];
    if (standard) {
      set("depth", static_cast<int64_t>(pattern.size() / unit.size()), fmt::format("{} layers under {}", pattern.size(), t("attn_layers")));
    } else {
      set("depth", attention, fmt::format("layer blocks '{}' are not the default attention / feed-forward pattern", pattern), false);
    }

    // The first self-attention layer tells the attention's shape.
    int64_t first_attn = -1, first_ff = -1;
    for (auto& [i, k] : blocks.kind) {
      if (k == 'a' && first_attn < 0) first_attn = i;
      if (k == 'f' && first_ff < 0) first_ff = i;
    }
    const std::string a = fmt::format("attn_layers.layers.{}.", first_attn);
    const int64_t inner = dim_at(find(n_, a + "1.to_q.weight"), 0);
    int64_t heads = -1;
    std::string heads_from;
    if (const TensorInfo* mk = find(n_, a + "1.mem_k")) {
      heads = dim_at(mk, 0);
      heads_from = t(a + "1.mem_k") + " [heads, n, dim_head]";
      set("attn_num_mem_kv", dim_at(mk, 1), t(a + "1.mem_k") + " [heads, n, dim_head]");
    } else if (const TensorInfo* rp = find(n_, "attn_layers.rel_pos.relative_attention_bias.weight")) {
      heads = dim_at(rp, 1);
      heads_from = t("attn_layers.rel_pos.relative_attention_bias.weight") + " [buckets, heads]";
    } else {
      for (auto& [i, k] : blocks.kind)
        if (const TensorInfo* mix = find(n_, fmt::format("attn_layers.layers.{}.1.to_value_residual_mix.0.weight", i))) {
          heads = dim_at(mix, 0);
          heads_from = t(fmt::format("attn_layers.layers.{}.1.to_value_residual_mix.0.weight", i)) + " [heads, dim]";
          break;
        }
    }
    if (inner > 0 && heads > 0 && inner % heads == 0) {
      set("heads", heads, heads_from);
      if (inner / heads != kDefaultDimHead) set("attn_dim_head", inner / heads, fmt::format("{} query rows over {} heads", inner, heads));
    } else if (inner > 0 && inner % kDefaultDimHead == 0) {
      set("heads", inner / kDefaultDimHead,
          fmt::format("{} query rows; only heads x dim_head shows, dim_head taken as the default 64", inner), false);
    } else if (inner > 0) {
      set("heads", 1, fmt::format("{} query rows, not a multiple of 64: one head of {} assumed", inner, inner), false);
      set("attn_dim_head", inner, "query rows");
    }

    if (first_ff >= 0) {
      const std::string f = fmt::format("attn_layers.layers.{}.1.ff.", first_ff);
      int64_t ff_inner = -1;
      if (const TensorInfo* glu = find(n_, f + "0.proj.weight")) {
        set("ff_glu", true, t(f + "0.proj.weight") + " (a GLU's projection)");
        ff_inner = dim_at(glu, 0) / 2;
      } else {
        ff_inner = dim_at(find(n_, f + "0.0.weight"), 0);
      }
      if (ff_inner > 0 && dim > 0 && ff_inner != dim * kDefaultFfMult) {
        if (ff_inner % dim == 0) set("ff_mult", ff_inner / dim, fmt::format("feed-forward inner width {}", ff_inner));
        else set("ff_mult", static_cast<double>(ff_inner) / static_cast<double>(dim), fmt::format("feed-forward inner width {}", ff_inner));
      }
    }

    // Norms: where (before the block: pre-norm; after: post-norm) and which.
    const std::string l0 = fmt::format("attn_layers.layers.{}.0.", blocks.kind.empty() ? 0 : blocks.kind.begin()->first);
    std::string norm_at;
    for (const char* slot : {"0.", "2."})
      for (const char* param : {"gamma", "g", "weight"})
        if (norm_at.empty() && find(n_, l0 + slot + param)) norm_at = std::string(slot) + param;
    if (norm_at.empty()) {
      fp_.ambiguous.push_back(fmt::format("{}norms: no norm parameter under {}: a parameterless norm (simple RMSNorm, "
                                          "or LayerNorm without affine) leaves no tensor; LayerNorm assumed",
                                          arg_, t(l0)));
    } else {
      if (norm_at[0] == '2') set("pre_norm", false, t(l0 + norm_at) + " (after the block)");
      const std::string param = norm_at.substr(2);
      const TensorInfo* g = find(n_, l0 + norm_at);
      if (param == "g" && dim_at(g, 0) == 1 && g->shape.size() == 1) set("use_scalenorm", true, t(l0 + norm_at) + " (one scale)");
      else if (param == "g") set("use_rmsnorm", true, t(l0 + norm_at) + " (a gain per feature, no shift)");
    }

    if (const TensorInfo* rot = find(n_, "attn_layers.rotary_pos_emb.inv_freq")) {
      set("rotary_pos_emb", true, t("attn_layers.rotary_pos_emb.inv_freq"));
      const int64_t dim_head = inner > 0 && heads > 0 ? inner / heads : kDefaultDimHead;
      const int64_t rot_dim = 2 * dim_at(rot, 0);
      if (rot_dim != std::max<int64_t>(dim_head / 2, 32)) set("rotary_emb_dim", rot_dim, t("attn_layers.rotary_pos_emb.inv_freq") + " length x 2");
    }
    if (const TensorInfo* rp = find(n_, "attn_layers.rel_pos.relative_attention_bias.weight")) {
      set("rel_pos_bias", true, t("attn_layers.rel_pos.relative_attention_bias.weight"));
      if (dim_at(rp, 0) != kDefaultRelPosBuckets) set("rel_pos_num_buckets", dim_at(rp, 0), "relative position buckets");
    }
    if (wrapper_kind_ != "vit" && !find(n_, "pos_emb.emb.weight") && !find(n_, "attn_layers.rotary_pos_emb.inv_freq") &&
        !find(n_, "attn_layers.rel_pos.relative_attention_bias.weight"))
      fp_.ambiguous.push_back(fmt::format("{}positions: none of absolute, rotary or T5 relative: ALiBi "
                                          "(alibi_pos_bias) or no positions at all; neither leaves a tensor; none assumed",
                                          arg_));

    bool mix = false;
    for (auto& [name, _] : n_) mix |= name.find(".to_value_residual_mix.") != std::string::npos;
    if (mix) set("add_value_residual", true, "to_value_residual_mix in the attention layers after the first");
    else if (attention > 1)
      fp_.ambiguous.push_back(fmt::format("{}add_value_residual: before 1.42.14 the value residual leaves no tensor; "
                                          "off assumed",
                                          arg_));

    if (wrapper_logits && !find(n_, "to_logits.weight")) {
      set_wrapper("tie_embedding", true, "no to_logits.weight: the logits reuse the token embedding");
      fp_.ambiguous.push_back("tie_embedding: a model built without logits (an encoder's return_only_embed) looks the "
                              "same; tied embeddings assumed");
    }
  }

 private:
  const Names& n_;
  std::string section_, arg_, tp_;
  Fingerprint& fp_;
  std::string wrapper_kind_;  // "tokens" (TransformerWrapper), "continuous", "vit", "layers"
  bool tokens_;
};

// Which of the (newest-layout) tensors the rules above read: the rest are
// features the fingerprint does not know, said rather than ignored.
bool known_tensor(const std::string& name) {
  static const char* kSuffixes[] = {
      "token_emb.emb.weight", "pos_emb.emb.weight", "memory_tokens", "to_logits.weight", "to_logits.bias",
      "rotary_pos_emb.inv_freq", "relative_attention_bias.weight", "to_q.weight", "to_k.weight", "to_v.weight",
      "to_out.weight", "to_out.bias", "mem_k", "mem_v", ".gamma", ".g", ".weight", ".bias", "pos_embedding"};
  for (auto* s : kSuffixes) {
    const std::string suffix = s;
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

json build_spec(const Fingerprint& fp) {
  json spec = {{"name", "fingerprint"}, {"model", fp.model}, {"seed", 0}, {"batch", 2}, {"mask", "none"}};
  for (auto& a : fp.args) spec[a.section][a.name] = a.value;
  // The kinds without tokens take their attention layers' class apart (a
  // ViTransformerWrapper's are an Encoder); causal masking leaves no tensor.
  if (fp.model == "continuous" || fp.model == "layers") spec["layers_class"] = "decoder";
  if (fp.model == "vit") spec["wrapper"]["channels"] = 3;
  int64_t max_len = 1024;
  if (fp.model == "xtransformer") {
    const json& x = spec["xtransformer"];
    max_len = std::min(x.value("enc_max_seq_len", int64_t{1024}), x.value("dec_max_seq_len", int64_t{1024}));
  } else if (spec.contains("wrapper") && spec["wrapper"].is_object()) {
    max_len = spec["wrapper"].value("max_seq_len", int64_t{1024});
  }
  spec["seq_len"] = std::max<int64_t>(1, std::min<int64_t>(16, max_len));
  if (fp.dtype == "bfloat16") spec["dtype"] = "bfloat16";
  return spec;
}

std::map<std::string, int64_t> guess_heads(const std::vector<TensorInfo>& tensors) {
  std::map<std::string, int64_t> heads;
  for (auto& t : tensors) {
    const std::string p = model_prefix(t.name);
    if (t.name == p + "attn_layers.layers.0.1.to_q.weight" && !t.shape.empty())
      heads[p] = t.shape[0] % kDefaultDimHead == 0 ? t.shape[0] / kDefaultDimHead : 1;
  }
  return heads;
}

}  // namespace

static Fingerprint fingerprint_of(const ReleaseHistory& h, const std::vector<TensorInfo>& tensors, const json& record,
                                  ModelKind kind);

std::string ReleaseRange::str() const {
  std::string s = first == last ? first.str() : first.str() + " - " + last.str();
  if (torch == "<2.1") s += " (saved under torch < 2.1)";
  if (torch == ">=2.1") s += " (saved under torch >= 2.1)";
  return s;
}

bool Fingerprint::matches(const Version& v) const {
  return std::any_of(ranges.begin(), ranges.end(), [&](auto& r) { return r.contains(v); });
}

json Fingerprint::to_json() const {
  json args_j = json::array(), ranges_j = json::array();
  for (auto& a : args)
    args_j.push_back({{"section", a.section}, {"name", a.name}, {"value", a.value}, {"certain", a.certain}, {"why", a.why}});
  for (auto& r : ranges) ranges_j.push_back({{"first", r.first.str()}, {"last", r.last.str()}, {"torch", r.torch}});
  json j = {{"model", model}, {"kind", kind}, {"prefix", prefix}, {"held_as", held_as}, {"dtype", dtype}, {"args", args_j}, {"ambiguous", ambiguous},
            {"unrecognised", unrecognised}, {"ranges", ranges_j}, {"newest_args", newest_args}, {"spec", spec}};
  j["stamped"] = stamped ? json(stamped->str()) : json(nullptr);
  return j;
}

Fingerprint fingerprint_tensors(const ReleaseHistory& h, const std::vector<TensorInfo>& tensors, const json& record,
                                const std::string& file) {
  bool x = false;
  for (auto& t : tensors) x |= t.name.rfind("encoder.", 0) == 0 || t.name.rfind("decoder.net.", 0) == 0;
  try {
    return fingerprint_of(h, tensors, record, x ? ModelKind::XTransformer : ModelKind::TransformerWrapper);
  } catch (const Error& e) {
    if (file.empty()) throw;
    throw Error(file + ": " + e.what());
  }
}

Fingerprint fingerprint_model(const ReleaseHistory& h, const LocatedModel& model, const json& xcompat_record,
                              const std::string& file) {
  try {
    Fingerprint fp = fingerprint_of(h, model.tensors, xcompat_record, model.kind);
    fp.prefix = model.prefix;
    fp.kind = model_kind_name(model.kind);
    fp.held_as = model.held_as;
    return fp;
  } catch (const Error& e) {
    throw Error(fmt::format("{}{}: {}", file.empty() ? "" : file + ", ", place_name(model.prefix), e.what()));
  }
}

static Fingerprint fingerprint_of(const ReleaseHistory& h, const std::vector<TensorInfo>& tensors, const json& record,
                                  ModelKind kind) {
  Fingerprint fp;
  fp.kind = model_kind_name(kind);
  if (record.is_object())
    for (auto key : {"x_transformers", "release"})
      if (!fp.stamped && record.contains(key) && record[key].is_string()) fp.stamped = Version::parse(record[key].get<std::string>());
  for (auto& t : tensors)
    if (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16 || t.dtype == DType::F64) {
      fp.dtype = t.dtype == DType::BF16 ? "bfloat16" : t.dtype == DType::F16 ? "float16" : t.dtype == DType::F64 ? "float64" : "float32";
      break;
    }

  // First pass: the layout alone (no spec), then the arguments read in the
  // newest layout, then the layout again with them (changes that hold only
  // for some arguments are then decided).
  ModelFacts facts;
  facts.heads = guess_heads(tensors);
  std::vector<Match> matches = matching_groups(h, tensors, facts);
  if (matches.empty()) {
    fp.model = "unknown";
    return fp;
  }
  const ReleasePoint newest{h.newest, 2, 13};
  const ConversionPlan up = plan_conversion(h, matches.back().point, newest, tensors, facts);
  std::vector<TensorInfo> there;
  if (up.outcome == ConversionOutcome::Refused) there = tensors;  // read as they are
  else
    for (auto& o : up.outputs) there.push_back(o.info);

  if (kind == ModelKind::XTransformer) {
    fp.model = "xtransformer";
    ModelReader(under(there, "encoder."), "xtransformer", "enc_", "encoder.", fp).read(false, false);
    ModelReader(under(there, "decoder.net."), "xtransformer", "dec_", "decoder.net.", fp).read(true, false);
  } else if (kind != ModelKind::TransformerWrapper) {
    // The kinds without tokens: their layers are read as a TransformerWrapper's;
    // the catalogue builds them as the driver's kinds of the same names.
    const char* wrapper = kind == ModelKind::ContinuousTransformerWrapper ? "continuous"
                          : kind == ModelKind::ViTransformerWrapper      ? "vit"
                                                                          : "layers";
    fp.model = wrapper;
    if (kind != ModelKind::ViTransformerWrapper)
      fp.ambiguous.insert(fp.ambiguous.begin(), "model: Decoder or Encoder: causal masking leaves no tensor; Decoder assumed");
    ModelReader(under(there, ""), "layers", "", "", fp, wrapper).read(false, false);
  } else {
    fp.model = "decoder";
    fp.ambiguous.insert(fp.ambiguous.begin(),
                        "model: Decoder or Encoder: causal masking leaves no tensor; Decoder assumed");
    ModelReader(under(there, ""), "layers", "", "", fp).read(false, true);
  }
  for (auto& t : there)
    if (!known_tensor(t.name)) fp.unrecognised.push_back(t.name);
  fp.spec = build_spec(fp);

  const std::vector<Match> refined = matching_groups(h, tensors, facts_from_spec(fp.spec));
  if (!refined.empty()) matches = refined;
  fp.ranges = merge(matches);
  const ConversionPlan last = plan_conversion(h, matches.back().point, newest, tensors, facts_from_spec(fp.spec));
  if (last.outcome != ConversionOutcome::Refused) fp.newest_args = last.args;
  return fp;
}

}  // namespace xcompat
