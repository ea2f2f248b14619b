#include "harness/checkpoint/pt_tree.hpp"

#include <set>

#include "harness/checkpoint/checkpoint_error.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

// A user-built tree may be deeper than the reader allows; walking it
// recursively is fine to this depth and refused beyond.
constexpr int kMaxDepth = 1000;


// A Python subscript for `key`, to spell the re-save line: ["net"] or [0].
std::string subscript(const PtKey& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) return "[" + std::to_string(*i) + "]";
  std::string out = "[\"";
  for (char c : printable(std::get<std::string>(key))) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"]";
}

template <class Node>  // PtNode or const PtNode
Node* attribute(Node& object, const char* name) {
  for (auto& [key, value] : object.children)
    if (const auto* s = std::get_if<std::string>(&key); s && *s == name) return &value;
  return nullptr;
}

// nn.Module keeps its state in these three attributes (torch writes all
// three for every module since torch 1.0).
bool is_module(const PtNode& n) {
  return n.kind == PtNode::Kind::Object &&
         (attribute(n, "_parameters") || attribute(n, "_buffers") || attribute(n, "_modules"));
}

bool holds_tensor(const PtNode& n) {
  if (n.kind == PtNode::Kind::Tensor) return true;
  for (const auto& [key, child] : n.children)
    if (holds_tensor(child)) return true;
  return false;
}

class Namer {
 public:
  explicit Namer(const fs::path& file) : file_(file) {}

  void walk(PtNode& n, const std::string& path, const std::string& expr, int depth) {
    if (depth > kMaxDepth) fail("nested more than " + std::to_string(kMaxDepth) + " levels deep");
    switch (n.kind) {
      case PtNode::Kind::Tensor: tensor(n, path); break;
      case PtNode::Kind::None: scalar(path, std::monostate{}); break;
      case PtNode::Kind::Bool: scalar(path, n.b); break;
      case PtNode::Kind::Int: scalar(path, n.i); break;
      case PtNode::Kind::Float: scalar(path, n.f); break;
      case PtNode::Kind::Str: scalar(path, n.s); break;
      case PtNode::Kind::Bytes: claim(path); break;
      case PtNode::Kind::List:
      case PtNode::Kind::Tuple:
      case PtNode::Kind::Dict:
        for (auto& [key, child] : n.children) walk(child, path_join(path, key), expr + subscript(key), depth + 1);
        break;
      case PtNode::Kind::Object:
        // A pickled nn.Module lends its state; any other object's attributes
        // are not state (its tensors keep an empty name).
        if (is_module(n)) module(n, path, expr, depth);
        break;
    }
  }

  PtLeaves out;

 private:
  [[noreturn]] void fail(const std::string& what) const { throw CheckpointError(file_, what); }

  void claim(const std::string& path) {
    if (!taken_.insert(path).second)
      fail("two entries reach the path '" + printable(path) +
           "' (a key with a dot in it, or an int key beside its decimal string); nothing can name both");
  }
  void tensor(PtNode& n, const std::string& path) {
    claim(path);
    n.s = path;
    out.tensors.push_back(&n);
  }
  void scalar(const std::string& path, PtScalar value) {
    claim(path);
    out.scalars.emplace(path, std::move(value));
  }

  // What module.state_dict() lists, in its order: the module's parameters
  // (None ones skipped), its persistent buffers, then each child module's.
  // `expr` says how to reach the outermost module from the loaded object.
  // (A module class that overrides get_extra_state() adds an "_extra_state"
  // entry that only running its code could produce; it is not listed.)
  void module(PtNode& m, const std::string& path, const std::string& expr, int depth) {
    if (depth > kMaxDepth) fail("modules nested more than " + std::to_string(kMaxDepth) + " levels deep");
    std::set<std::string> non_persistent;
    if (const PtNode* set = attribute(m, "_non_persistent_buffers_set")) {
      const PtNode* items = set->kind == PtNode::Kind::Object ? attribute(*set, "__items__") : nullptr;
      if (!items || (set->s != "builtins.set" && set->s != "builtins.frozenset"))
        unreadable(m, path, expr, "its _non_persistent_buffers_set is not a set");
      for (const auto& [k, name] : items->children) {
        if (name.kind != PtNode::Kind::Str) unreadable(m, path, expr, "its _non_persistent_buffers_set holds a non-string");
        non_persistent.insert(name.s);
      }
    }
    for (const std::string attr : {"_parameters", "_buffers", "_modules"}) {
      PtNode* entries = attribute(m, attr.c_str());
      if (!entries) continue;
      if (entries->kind != PtNode::Kind::Dict) unreadable(m, path, expr, "its " + attr + " is not a dict");
      for (auto& [key, value] : entries->children) {
        if (value.kind == PtNode::Kind::None) continue;  // a None parameter, buffer or module: not state
        const std::string child = path_join(path, key);
        if (attr == "_modules") {
          // A module class with its own __getstate__ (einops' Rearrange
          // keeps only its pattern) pickles no _parameters / _buffers /
          // _modules. Without tensors in its state it saved none; with
          // some, only its code knows their names.
          if (is_module(value)) module(value, child, expr, depth + 1);
          else if (value.kind != PtNode::Kind::Object || holds_tensor(value))
            unreadable(m, path, expr, "its submodule '" + printable(child) + "' is not a pickled nn.Module");
        } else if (value.kind != PtNode::Kind::Tensor) {
          unreadable(m, path, expr, "'" + printable(child) + "' is not a plain tensor");
        } else if (attr == "_parameters" || !std::holds_alternative<std::string>(key) ||
                   !non_persistent.count(std::get<std::string>(key))) {
          tensor(value, child);  // non-persistent buffers are left out, as state_dict() leaves them
        }
      }
    }
  }

  [[noreturn]] void unreadable(const PtNode& m, const std::string& path, const std::string& expr,
                               const std::string& why) const {
    const std::string stem = (file_.parent_path() / file_.stem()).string();
    fail("a pickled module (torch.save(model)), " + printable(m.s) +
         (path.empty() ? "" : " at '" + printable(path) + "'") + ", whose tensors cannot be read safely: " + why +
         ". Re-save its state dict in the environment that wrote it: torch.save(torch.load(\"" +
         printable(file_.string()) + "\", weights_only=False)" + expr + ".state_dict(), \"" + printable(stem) +
         "-state_dict.pt\")");
  }

  fs::path file_;
  std::set<std::string> taken_;  // every leaf's path, tensors and scalars alike
};

}  // namespace

PtNode::PtNode() = default;
PtNode::~PtNode() = default;
PtNode::PtNode(const PtNode&) = default;
PtNode::PtNode(PtNode&&) noexcept = default;
PtNode& PtNode::operator=(const PtNode&) = default;
PtNode& PtNode::operator=(PtNode&&) noexcept = default;

std::string path_join(const std::string& prefix, const PtKey& key) {
  const std::string k = std::holds_alternative<int64_t>(key) ? std::to_string(std::get<int64_t>(key))
                                                             : std::get<std::string>(key);
  return prefix.empty() ? k : prefix + "." + k;
}

PtLeaves name_leaves(PtNode& root, const fs::path& file) {
  Namer namer(file);
  namer.walk(root, "", "", 0);
  return std::move(namer.out);
}

std::string printable(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
    else out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

}  // namespace xcompat
