#include "harness/native/key_map.hpp"

namespace xcompat::native {

namespace {
// The port's layout: the newest release it follows, under a torch >= 2.1
// (the torch condition of 1.27.1 - 1.30.x layouts is then settled by the
// producer's side of the chain).
ReleasePoint port_layout() { return {kNewestRelease.version(), 2, 13}; }

bool renames(const HistoryChange& c) {
  for (auto& op : c.ops)
    if (op.kind == OpKind::Rename) return true;
  return false;
}
}  // namespace

KeyMap::KeyMap(const ReleaseContext& ctx, const nlohmann::json& spec, std::map<std::string, int64_t> last_layer)
    : context_{spec, std::move(last_layer)} {
  // An unknown producing torch counts as an old one (< 2.1): the layout that
  // did not depend on it.
  const ReleasePoint from{ctx.release.version(), ctx.torch_major < 0 ? 1 : ctx.torch_major,
                          ctx.torch_major < 0 ? 0 : ctx.torch_minor};
  chain_ = change_chain(release_history(), from, port_layout());
  // The port consults every switch it needs on its own; a chain refused for
  // an unbisected change still renames what is known.
  chain_.refused.clear();
}

void KeyMap::add_norm_paths(const std::vector<std::string>& paths, const ReleaseContext& ctx) {
  norm_paths_.insert(norm_paths_.end(), paths.begin(), paths.end());
  // nn.LayerNorm (up to 1.26.x; 1.27.1 - 1.30.x under a torch >= 2.1, without
  // a bias) saves weight / bias; x_transformers.LayerNorm gamma (+ beta).
  const bool torch_2_1 = ctx.torch_major > 2 || (ctx.torch_major == 2 && ctx.torch_minor >= 1);
  release_norm_names_weight_ = !ctx.is_new(kLayerNormCustomClass) ||
                               (ctx.is_new(kLayerNormTorchBiasless) && !ctx.is_new(kLayerNormGammaOnly) && torch_2_1);
}

namespace {
// `key` with `from` as its last segment under one of `paths` renamed to `to`.
std::string rename_norm_param(const std::string& key, const std::vector<std::string>& paths, const char* from, const char* to) {
  for (auto& p : paths)
    if (key == p + "." + from) return p + "." + to;
  return key;
}
}  // namespace

std::string KeyMap::to_port(const std::string& checkpoint_key) const {
  std::string key = checkpoint_key;
  if (!norm_paths_.empty())
    key = rename_norm_param(rename_norm_param(key, norm_paths_, "weight", "gamma"), norm_paths_, "bias", "beta");
  if (root_.empty()) return rename_key(chain_, key, context_);
  const std::string renamed = rename_key(chain_, root_ + key, context_);
  return renamed.rfind(root_, 0) == 0 ? renamed.substr(root_.size()) : renamed;
}

std::string KeyMap::to_release(const std::string& port_key) const {
  std::string key;
  if (root_.empty()) {
    key = rename_key_back(chain_, port_key, context_);
  } else {
    const std::string renamed = rename_key_back(chain_, root_ + port_key, context_);
    key = renamed.rfind(root_, 0) == 0 ? renamed.substr(root_.size()) : renamed;
  }
  if (release_norm_names_weight_)
    key = rename_norm_param(rename_norm_param(key, norm_paths_, "gamma", "weight"), norm_paths_, "beta", "bias");
  return key;
}

std::vector<std::string> KeyMap::descriptions() const {
  std::vector<std::string> out;
  for (auto* list : {&chain_.down, &chain_.up})
    for (auto* c : *list)
      if (renames(*c) && (spec_condition_holds(*c, spec_for_prefix(context_.spec, "")).value_or(true) ||
                          spec_condition_holds(*c, spec_for_prefix(context_.spec, "encoder.")).value_or(true) ||
                          spec_condition_holds(*c, spec_for_prefix(context_.spec, "decoder.net.")).value_or(true)))
        out.push_back(c->id + ": " + c->reason);
  return out;
}

}  // namespace xcompat::native
