#include "harness/convert/container_tree.hpp"

#include <algorithm>
#include <map>

namespace xcompat {

namespace {

bool has_object(const PtNode& n) {
  if (n.kind == PtNode::Kind::Object) return true;
  return std::any_of(n.children.begin(), n.children.end(), [](auto& c) { return has_object(c.second); });
}

// Every dict of the tree by its path ("" the root, else "a.b."), so a
// model's tensors can be told apart from the dict that holds them.
void dicts_by_path(PtNode& n, const std::string& path, std::map<std::string, PtNode*>& out) {
  if (n.kind == PtNode::Kind::Dict) out[path] = &n;
  for (auto& [key, child] : n.children) {
    if (child.kind == PtNode::Kind::Tensor) continue;
    dicts_by_path(child, path_join(path.empty() ? "" : path.substr(0, path.size() - 1), key) + ".", out);
  }
}

std::string key_text(const PtKey& k) {
  return std::holds_alternative<std::string>(k) ? std::get<std::string>(k) : std::to_string(std::get<int64_t>(k));
}

// The dict holding every one of `paths` as its own entry, and that dict's path.
std::pair<PtNode*, std::string> holder_of(const std::set<std::string>& paths, std::map<std::string, PtNode*>& dicts) {
  for (auto it = dicts.rbegin(); it != dicts.rend(); ++it) {
    const std::string& at = it->first;
    std::size_t held = 0;
    for (auto& [key, child] : it->second->children)
      if (child.kind == PtNode::Kind::Tensor && paths.count(child.s)) ++held;
    if (held == paths.size()) return {it->second, at};
  }
  return {nullptr, ""};
}

bool remove_place(PtNode& n, const std::string& path, const std::string& place) {
  for (auto it = n.children.begin(); it != n.children.end(); ++it) {
    const std::string child_path = path_join(path, it->first);
    if (child_path + "." == place || child_path == place) {
      n.children.erase(it);
      return true;
    }
    if (place.rfind(child_path + ".", 0) == 0 && remove_place(it->second, child_path, place)) return true;
  }
  return false;
}

}  // namespace

std::optional<PtNode> rewrite_container(const PtNode& root, const std::vector<ModelRewrite>& models,
                                        const std::vector<std::string>& removed_places) {
  if (has_object(root)) return std::nullopt;
  PtNode out = root;
  for (auto& place : removed_places)
    if (!place.empty() && !remove_place(out, "", place)) return std::nullopt;
  for (const ModelRewrite& m : models) {
    std::map<std::string, PtNode*> dicts;
    dicts_by_path(out, "", dicts);
    auto [holder, at] = holder_of(m.old_paths, dicts);
    if (!holder) return std::nullopt;
    std::vector<std::pair<PtKey, PtNode>> kept;
    std::size_t first_old = holder->children.size();
    for (std::size_t i = 0; i < holder->children.size(); ++i) {
      auto& entry = holder->children[i];
      if (entry.second.kind == PtNode::Kind::Tensor && m.old_paths.count(entry.second.s)) {
        first_old = std::min(first_old, kept.size());
        continue;
      }
      kept.push_back(std::move(entry));
    }
    std::vector<std::pair<PtKey, PtNode>> fresh;
    for (auto& p : m.new_paths) {
      if (p.rfind(at, 0) != 0) return std::nullopt;  // a new tensor outside the dict that held the model
      PtNode t;
      t.kind = PtNode::Kind::Tensor;
      t.s = p;
      fresh.emplace_back(PtKey{p.substr(at.size())}, std::move(t));
    }
    for (auto& [k, _] : kept)
      for (auto& [nk, __] : fresh)
        if (key_text(k) == key_text(nk)) return std::nullopt;  // would shadow an entry the model did not own
    kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(first_old), std::make_move_iterator(fresh.begin()),
                std::make_move_iterator(fresh.end()));
    holder->children = std::move(kept);
  }
  return out;
}

}  // namespace xcompat
