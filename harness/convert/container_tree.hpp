#pragma once
// Writing a converted container back in the shape it was read: the tree of
// a torch.save'd object (harness/checkpoint/pt_tree.hpp) with each converted
// model's tensors replaced where they sat, everything else as it was.
//
// A model's tensors sit as entries of one dict of the tree (a state dict
// inside a training dict, a Lightning `state_dict`, the top level): its old
// entries are replaced, in place, by its new ones (the first new entry where
// the first old one was), named by their paths relative to that dict. A
// place to remove (an optimizer state dropped) is cut out of its parent.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness/checkpoint/pt_tree.hpp"

namespace xcompat {

struct ModelRewrite {
  std::set<std::string> old_paths;    // the model's tensors in the file
  std::vector<std::string> new_paths;  // its converted tensors, in the order they are written
};

// The tree for the converted file; nullopt when the tree cannot hold it as
// it is (a pickled module: an Object node anywhere; a model whose tensors
// are not the entries of one dict), and the file is then written flat.
std::optional<PtNode> rewrite_container(const PtNode& root, const std::vector<ModelRewrite>& models,
                                        const std::vector<std::string>& removed_places);

}  // namespace xcompat
