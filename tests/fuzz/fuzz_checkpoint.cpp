// libFuzzer target: the checkpoint readers on arbitrary bytes (the .pt zip
// container and its restricted pickle machine, and safetensors), through
// open_checkpoint as every command uses them. Anything the readers refuse
// must be a CheckpointError; every tensor they accept must read back with
// exactly its declared size.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"

namespace {
std::string scratch_file() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/xcompat-fuzz-" + std::to_string(getpid()) + FUZZ_SUFFIX;
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
  return 0;
}
