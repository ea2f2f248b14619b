// libFuzzer target: the policy files (pins and spec catalogue) on arbitrary
// TOML. A file they refuse must be an Error (naming the file); one they
// accept must hold only names of the documented forms.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "harness/core/error.hpp"
#include "harness/core/names.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/xcompat-fuzz-" + std::to_string(getpid()) + ".toml";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    for (auto& s : xcompat::load_specs(path))
      if (!xcompat::is_spec_name(s.name)) std::abort();
  } catch (const xcompat::Error&) {
  }
  try {
    auto pins = xcompat::load_pins(path);
    for (auto& r : pins.releases)
      if (!xcompat::is_release_name(r.version)) std::abort();
  } catch (const xcompat::Error&) {
  }
  return 0;
}
