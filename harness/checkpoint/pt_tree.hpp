#pragma once
// A torch.save'd object as an inert tree: what PtReader::root() returns and
// what PtWriter pickles back. Nothing in it can run: a class instance the
// file named (an nn.Module, a user's config object) is an Object record that
// only holds its class name and its attributes.
//
// Paths: a tensor or scalar is named by the dict keys and list/tuple indices
// that lead to it, joined with "." (int keys and indices in decimal), so a
// flat state dict's names are its keys and {"model": {"w": T}} names T
// "model.w". Inside an Object (a pickled nn.Module), only the attributes
// `_parameters`, `_buffers` and `_modules` lead to tensors, and they add
// nothing to the path: `model._modules["net"]._parameters["weight"]` is
// "net.weight", as module.state_dict() names it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace xcompat {

// A non-tensor leaf as PtReader::scalars() lists it: None, bool, int, float
// or str (bytes leaves are in root() only).
using PtScalar = std::variant<std::monostate, bool, int64_t, double, std::string>;

using PtKey = std::variant<std::string, int64_t>;  // a dict key

struct PtNode {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tensor, List, Tuple, Dict, Object };
  // Declared here, defaulted in pt_tree.cpp: where PtNode is complete. With
  // the implicit ones, clang (libFuzzer builds) rejects a vector of pairs
  // holding PtNode inside PtNode.
  PtNode();
  ~PtNode();
  PtNode(const PtNode&);
  PtNode(PtNode&&) noexcept;
  PtNode& operator=(const PtNode&);
  PtNode& operator=(PtNode&&) noexcept;

  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;   // Int; Tensor: PtReader's own handle (ignored by PtWriter)
  double f = 0;
  // Str/Bytes: the value (Str as UTF-8). Tensor: its path, the name in
  // PtReader::tensors() ("" for a tensor that is not state: one held in a
  // plain attribute of an Object). Object: its class (or, for a bare global
  // such as torch.float32, the global), "module.Name". Dict/List: the class
  // of a dict/list subclass instance (a Lightning AttributeDict,
  // collections.defaultdict), else empty; PtWriter ignores it.
  std::string s;
  bool ordered_dict = false;  // a Dict that was a collections.OrderedDict
  // Dict: entries in order. List/Tuple: items keyed 0, 1, ... Object: its
  // state's attributes (a non-dict state is one entry "__state__", the
  // arguments it was created with, when there are any, "__args__"); a set is
  // an Object "builtins.set" (or "builtins.frozenset") with its items as a List
  // under "__items__".
  std::vector<std::pair<PtKey, PtNode>> children;
};

// `s` with control bytes and non-ASCII escaped (\xNN): a hostile key or
// global named in an error message cannot smuggle terminal escapes.
std::string printable(std::string_view s);

// The path rule above: `key` in decimal or as is, after "prefix." (no dot
// when prefix is empty).
std::string path_join(const std::string& prefix, const PtKey& key);

// What PtReader lists from a tree: every state tensor (by the rule above,
// in tree order) with its path written into its node's `s`, and every scalar
// leaf reachable through dicts, lists and tuples (not through Objects).
// Throws CheckpointError naming `file` when two leaves reach the same path,
// and, for a pickled nn.Module whose `_parameters`, `_buffers`, `_modules` or
// `_non_persistent_buffers_set` is not what torch writes, with the line to
// run in the old environment to re-save a state dict instead.
struct PtLeaves {
  std::vector<const PtNode*> tensors;
  std::map<std::string, PtScalar> scalars;
};
PtLeaves name_leaves(PtNode& root, const std::filesystem::path& file);

}  // namespace xcompat
