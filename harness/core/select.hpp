#pragma once
// Choosing pins and specs by name on the command line.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "harness/core/error.hpp"

namespace xcompat {

// Keeps the items whose name is in `wanted` (all when empty), in `wanted`'s
// order; an unknown name is an Error listing what is known.
template <class T, class NameOf>
std::vector<T> select_by_name(const std::vector<T>& all, const std::vector<std::string>& wanted, NameOf name_of,
                              const char* what) {
  if (wanted.empty()) return all;
  std::vector<T> out;
  for (auto& w : wanted) {
    bool found = false;
    for (auto& item : all)
      if (name_of(item) == w) {
        out.push_back(item);
        found = true;
      }
    if (!found) {
      std::string known;
      for (auto& item : all) known += (known.empty() ? "" : ", ") + name_of(item);
      throw Error(fmt::format("unknown {} '{}' (known: {})", what, w, known));
    }
  }
  return out;
}

}  // namespace xcompat
