#pragma once
// Release sandboxes: one directory per x-transformers release
// (.xcompat/releases/<version>, `pip install --target --no-deps` over the
// one venv's torch). scripts/setup installs the pinned ones; releases that
// are not pinned (`xcompat install`, `bisect`, `check --install`) are
// installed on demand here, the same way, with their era's extras.
#include <functional>
#include <string>
#include <vector>

#include "harness/core/pins.hpp"

namespace xcompat {

struct SandboxInfo {
  std::string version;
  bool pinned = false;
  std::string installed;  // the stamp's contents ("x-transformers==V extras"), empty when absent
};

// Whether release `version` has a complete sandbox (its stamp written last).
bool sandbox_installed(const std::string& version);

// Installs x-transformers==version and pins.extras_for(version) into the
// sandbox, atomically (a .partial directory renamed into place), unless the
// sandbox already holds exactly that. Throws Error with pip's own message.
// `log` hears one line per install actually done.
void install_release(const Pins& pins, const std::string& version,
                     const std::function<void(const std::string&)>& log = {});

// Every sandbox present, pinned or not, by version.
std::vector<SandboxInfo> installed_sandboxes(const Pins& pins);

}  // namespace xcompat
