// libFuzzer target: the checkpoint readers on arbitrary bytes (the .pt zip
// container and its restricted pickle machine, and safetensors), through
// open_checkpoint as every command uses them. Anything the readers refuse
// must be a CheckpointError; every tensor they accept must read back with
// exactly its declared size. For .pt the reader is also asked for the whole
// tree (nested containers, module records): every listed tensor is a Tensor
// node of root() under its name, and a tree without module records pickles
// back (the writer's pickler) without complaint.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/checkpoint/pt_pickler.hpp"
#include "harness/checkpoint/pt_reader.hpp"

namespace {
std::string scratch_file() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/xcompat-fuzz-" + std::to_string(getpid()) + FUZZ_SUFFIX;
}

// Tensor node names, and whether any Object (module record) is in the tree.
void walk(const xcompat::PtNode& n, std::multiset<std::string>& names, bool& objects) {
  if (n.kind == xcompat::PtNode::Kind::Tensor && !n.s.empty()) names.insert(n.s);
  if (n.kind == xcompat::PtNode::Kind::Object) objects = true;
  for (const auto& [key, child] : n.children) walk(child, names, objects);
}

void check_tree(const std::string& path) {
  xcompat::PtReader reader(path);
  std::multiset<std::string> names;
  bool objects = false;
  walk(reader.root(), names, objects);
  for (const auto& t : reader.tensors()) {
    if (names.count(t.name) == 0) std::abort();  // a listed tensor the tree does not hold
    (void)reader.read(t.name);
  }
  for (const auto& [name, scalar] : reader.scalars())
    if (names.count(name)) std::abort();  // one path, two leaves
  if (!objects) (void)xcompat::pickle_tree(reader.root(), reader.tensors(), path);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = scratch_file();
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    auto reader = xcompat::open_checkpoint(path);
    (void)reader->xcompat_record();
    for (auto& t : reader->tensors()) {
      const auto d = reader->read(t.name);
      const auto numel = xcompat::checked_numel(t.shape);
      if (!numel || d.bytes.size() != static_cast<uint64_t>(*numel) * xcompat::dtype_size(t.dtype)) std::abort();
    }
  } catch (const xcompat::CheckpointError&) {
  }
  if (std::strcmp(FUZZ_SUFFIX, ".pt") == 0) {
    try {
      check_tree(path);
    } catch (const xcompat::CheckpointError&) {
    }
  }
  return 0;
}
