#include "harness/core/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/names.hpp"
#include "harness/core/select.hpp"
#include "harness/core/toml_file.hpp"

namespace xcompat {

std::vector<std::string> Spec::features() const {
  std::vector<std::string> out;
  for (auto& f : definition.value("features", json::array())) out.push_back(f.get<std::string>());
  return out;
}

std::string Spec::content_hash() const { return sha256_hex(definition.dump()); }

std::vector<std::string> Spec::dtypes(const std::vector<std::string>& wanted) const {
  if (!definition.contains("dtypes")) return wanted;
  std::vector<std::string> out;
  for (auto& d : wanted)
    for (auto& own : definition["dtypes"])
      if (own == d) out.push_back(d);
  return out;
}

Spec Spec::variant(const std::string& dtype) const {
  Spec v{name, definition};
  v.definition.erase("dtypes");
  v.definition["dtype"] = dtype;
  return v;
}

namespace {

// Bounds that keep a spec a test model: a spec file can come from a pull
// request, and a worker would otherwise try to allocate whatever it says.
constexpr int64_t kMaxBatch = 1024, kMaxSeqLen = 65536, kMaxTokensPerBatch = 1 << 20;
constexpr int64_t kMaxDepth = 256, kMaxWidth = 1 << 16, kMaxVocab = 1 << 22;
constexpr double kMaxParameters = 2e9;  // 8 GB in float32

// Every integer constructor argument bounded, and the model's size estimated
// (attention + feed-forward per layer, embeddings) before any worker builds it.
void check_arguments(const json& section, const std::string& where, int64_t& dim, int64_t& depth, int64_t& vocab) {
  if (!section.is_object()) throw Error(where + ": not a table of constructor arguments");
  for (auto& [k, v] : section.items()) {
    const std::string at = where + " argument '" + k.substr(0, 80) + "'";
    if (!(v.is_boolean() || v.is_number() || v.is_string() || v.is_object() || v.is_array()))
      throw Error(at + ": a constructor argument is a boolean, number, string or table");
    if (v.is_number_float() && !std::isfinite(v.get<double>())) throw Error(at + ": not a finite number");
    if (!v.is_number_integer()) continue;
    const int64_t n = v.get<int64_t>();
    const bool is_depth = k == "depth" || k.ends_with("_depth");
    const bool is_vocab = k.ends_with("num_tokens");
    const int64_t hi = is_depth ? kMaxDepth : is_vocab ? kMaxVocab : kMaxWidth;
    if (n < 0 || n > hi)
      throw Error(fmt::format("{} = {} is outside 0 .. {} (a spec is a test model)", at, n, hi));
    if (k == "dim") dim = n;
    if (is_depth) depth = std::max(depth, n);
    if (is_vocab) vocab = std::max(vocab, n);
  }
}

// `inputs`: forward arguments beside the tokens, drawn from the spec's seed
// (harness/python/xcompat_driver.py make_inputs): context = [len, dim]
// (model(x, context = ...), for cross_attend), context_mask = true (its
// padding mask), condition = [dim] (model(x, condition = ...), for the
// adaptive norms). An XTransformer makes its own context.
void check_extra_inputs(const json& in, const std::string& model, int64_t batch, const std::string& at) {
  const std::string where = at + " [inputs]";
  if (!in.is_object()) throw Error(where + ": not a table");
  if (model == "xtransformer") throw Error(where + ": an xtransformer's decoder takes its encoder's output as context");
  if (model == "vit") throw Error(where + ": a vit spec's forward takes the images only");
  require_known_fields(in, {"context", "context_mask", "condition"}, where);
  auto shape = [&](const char* key, std::size_t rank) {
    if (!in.contains(key)) return;
    const json& v = in[key];
    if (!v.is_array() || v.size() != rank)
      throw Error(fmt::format("{}: {} is a list of {} positive integers (the shape after the batch)", where, key, rank));
    for (auto& n : v)
      if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > kMaxWidth)
        throw Error(fmt::format("{}: {} holds {}: each size is 1 .. {}", where, key, n.dump(), kMaxWidth));
    if (rank == 2 && batch * v[0].get<int64_t>() * v[1].get<int64_t>() > kMaxTokensPerBatch * 64)
      throw Error(where + ": the context is too large for a test model");
  };
  shape("context", 2);
  shape("condition", 1);
  if (in.contains("context_mask") && (!in["context_mask"].is_boolean() || (in["context_mask"] == true && !in.contains("context"))))
    throw Error(where + ": context_mask is true or false, and true needs a context");
}

// A ViTransformerWrapper's image: wrapper.image_size (a multiple of
// patch_size) and channels; its batch of patches bounded like tokens.
void check_image(const json& s, int64_t batch, const std::string& at) {
  const json w = s.value("wrapper", json::object());
  if (!w.is_object()) return;  // check_arguments says so
  const std::string where = at + " [wrapper]";
  const int64_t side = require_int(w, "image_size", 1, kMaxWidth, where);
  const int64_t patch = require_int(w, "patch_size", 1, kMaxWidth, where);
  const int64_t channels = w.contains("channels") ? require_int(w, "channels", 1, 64, where) : 3;
  if (side % patch != 0) throw Error(fmt::format("{}: image_size {} is not a multiple of patch_size {}", where, side, patch));
  if (batch * channels * side * side > kMaxTokensPerBatch * 64)
    throw Error(where + ": the images are too large for a test model");
}

void check_spec(const json& s, const std::string& at) {
  require_known_fields(s, {"name", "model", "seed", "batch", "seq_len", "mask", "features", "dtypes", "dtype",
                           "description", "wrapper", "layers", "xtransformer", "inputs", "layers_class"},
                       at);
  const std::string model = require_string(s, "model", at);
  static const std::set<std::string> kinds = {"decoder", "encoder", "xtransformer", "continuous", "vit", "layers"};
  if (!kinds.count(model))
    throw Error(at + ": model must be decoder, encoder, xtransformer, continuous, vit or layers, not '" +
                model.substr(0, 80) + "'");
  // Decoder or Encoder: said by `model` for a TransformerWrapper, by
  // `layers_class` for a ContinuousTransformerWrapper and bare layers; a
  // ViTransformerWrapper takes an Encoder.
  if (model == "continuous" || model == "layers" || model == "vit") {
    const bool given = s.contains("layers_class");
    if (!given && model != "vit") throw Error(at + ": a " + model + " spec names its layers_class (\"decoder\" or \"encoder\")");
    if (given && !(s["layers_class"] == "encoder" || (model != "vit" && s["layers_class"] == "decoder")))
      throw Error(at + (model == "vit" ? ": a vit spec's layers_class is \"encoder\"" : ": layers_class must be \"decoder\" or \"encoder\""));
  } else if (s.contains("layers_class")) {
    throw Error(at + ": layers_class is for continuous, vit and layers specs (a " + model + " spec says it in `model`)");
  }
  require_int(s, "seed", 0, int64_t{1} << 40, at);
  const int64_t batch = require_int(s, "batch", 1, kMaxBatch, at);
  if (model == "vit") {
    // Images in, one output per image: no sequence length, no padding mask.
    if (s.contains("seq_len")) throw Error(at + ": a vit spec has no seq_len (its wrapper's image_size and patch_size say it)");
    if (s.value("mask", "none") != "none") throw Error(at + ": a vit spec takes no mask");
    check_image(s, batch, at);
  } else {
    const int64_t seq = require_int(s, "seq_len", 1, kMaxSeqLen, at);
    if (batch * seq > kMaxTokensPerBatch)
      throw Error(fmt::format("{}: batch {} x seq_len {} is over {} tokens", at, batch, seq, kMaxTokensPerBatch));
  }
  if (s.contains("mask") && !(s["mask"] == "none" || s["mask"] == "padding"))
    throw Error(at + ": mask must be \"none\" or \"padding\"");
  for (const char* list : {"features", "dtypes"})
    if (s.contains(list)) {
      if (!s[list].is_array()) throw Error(at + ": field '" + list + "' must be a list of strings");
      for (auto& x : s[list])
        if (!x.is_string()) throw Error(at + ": field '" + list + "' must be a list of strings");
    }
  for (const char* d : {"dtypes", "dtype"})
    if (s.contains(d))
      for (auto& x : s[d].is_array() ? s[d] : json::array({s[d]}))
        if (x != "float32" && x != "bfloat16") throw Error(at + ": " + d + " are float32 or bfloat16");
  if (s.contains("inputs")) check_extra_inputs(s["inputs"], model, batch, at);
  if (model == "xtransformer" ? !s.contains("xtransformer") : !s.contains("layers") || (model != "layers" && !s.contains("wrapper")))
    throw Error(at + ": missing constructor arguments (wrapper/layers, layers or xtransformer)");
  if (model == "layers" && s.contains("wrapper")) throw Error(at + ": bare attention layers take no wrapper arguments");
  if (model != "xtransformer" && s.contains("xtransformer")) throw Error(at + ": an xtransformer table in a " + model + " spec");
  int64_t dim = 512, depth = 0, vocab = 0;
  for (const char* section : {"wrapper", "layers", "xtransformer"})
    if (s.contains(section)) check_arguments(s[section], at + " [" + section + "]", dim, depth, vocab);
  // 12 dim^2 per layer (attention 4, feed-forward 8 at the default width), embeddings in and out.
  const double estimate = 12.0 * double(dim) * double(dim) * double(depth) * (model == "xtransformer" ? 2.5 : 1.0) +
                          2.0 * double(vocab) * double(dim);
  if (estimate > kMaxParameters)
    throw Error(fmt::format("{}: the model would hold about {:.2g} parameters (dim {}, depth {}, vocabulary {}); a "
                            "spec is a test model of at most {:.0e}",
                            at, estimate, dim, depth, vocab, kMaxParameters));
}

}  // namespace

static std::vector<Spec> load_specs_checked(const std::filesystem::path& path);

std::vector<Spec> load_specs(const std::filesystem::path& path) {
  try {
    return load_specs_checked(path);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": a field of the wrong type: " + e.what());
  }
}

static std::vector<Spec> load_specs_checked(const std::filesystem::path& path) {
  json j = parse_toml_file(path);
  const std::string where = path.string();
  require_known_fields(j, {"format", "spec"}, where);
  if (j.contains("format") && j["format"] != 1) throw Error(where + ": format " + j["format"].dump() + " is not 1");
  if (j.contains("spec") && !j["spec"].is_array()) throw Error(where + ": 'spec' must be [[spec]] tables");
  std::vector<Spec> specs;
  std::set<std::string> seen;
  const json spec_list = j.value("spec", json::array());
  for (std::size_t i = 0; i < spec_list.size(); ++i) {
    const json& s = spec_list[i];
    const std::string entry = fmt::format("{} [[spec]] #{}", where, i + 1);
    if (!s.is_object()) throw Error(entry + ": not a table");
    Spec spec;
    spec.name = require_string(s, "name", entry);
    require_spec_name(spec.name, entry);
    const std::string at = where + " spec '" + spec.name + "'";
    check_spec(s, at);
    if (!seen.insert(spec.name).second) throw Error(where + ": spec " + spec.name + " defined twice");
    spec.definition = s;
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) throw Error(where + ": no [[spec]] entries");
  return specs;
}

std::vector<Spec> select_specs(const std::vector<Spec>& specs, const std::vector<std::string>& wanted) {
  return select_by_name(specs, wanted, [](const Spec& s) { return s.name; }, "spec");
}

}  // namespace xcompat
