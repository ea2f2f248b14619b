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

std::string KeyMap::to_port(const std::string& checkpoint_key) const {
  return rename_key(chain_, checkpoint_key, context_);
}

std::string KeyMap::to_release(const std::string& port_key) const {
  return rename_key_back(chain_, port_key, context_);
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
