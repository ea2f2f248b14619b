#pragma once
// Consumers: everything that loads a fixture and runs forward. Every pinned
// release (Python, in its own worker) and the C++ implementations.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"

namespace xcompat {

struct Consumer {
  Consumer() = default;
  Consumer(std::string name_, std::string kind_, std::string version_)
      : name(std::move(name_)), kind(std::move(kind_)), version(std::move(version_)) {}

  std::string name;     // "1.31.4" or "cpp-native"
  std::string kind;     // "python" | "cpp" (the port) | "decode" | "deploy"
  // Identity in every cell's cache key: for a release, its pin and extras,
  // the driver's source and the venv's distributions; for cpp-native, the
  // port's source and libtorch (harness/core/identity.hpp).
  std::string version;
  // A default sweep's subset for this consumer (pins.toml [deploy.NAME]):
  // empty means every spec / dtype. A consumer named on the command line has none.
  std::vector<std::string> only_specs, only_dtypes;

  // Whether a default sweep gives it this spec in this dtype.
  bool takes(const std::string& spec, const std::string& dtype) const;

  // How it is named in progress lines and errors: "release 1.31.4", "cpp-native".
  std::string label() const { return kind == "python" ? "release " + name : name; }
};

Consumer release_consumer(const Release& r);
Consumer native_consumer();
// "decode-cache": not a reader of other releases' checkpoints but a check of
// each producing release's own cached (incremental) decoding against its
// uncached forward, on its own fixture (cell kind decode-cache).
Consumer decode_consumer();
// "cpp-native-decode": the port's own cached decoding on each release's
// fixture, against that release's eager logits (kind "cpp-decode").
Consumer native_decode_consumer();
// Checks of the producer's own model rather than readers of other
// releases' checkpoints, by name (docs/DEPLOYMENT.md).
inline const std::vector<std::string> kOwnModelChecks = {"decode-cache", "cpp-native-decode", "cpp-torchscript",
                                                         "cpp-export"};
inline bool is_own_model_check(const std::string& name) {
  return std::find(kOwnModelChecks.begin(), kOwnModelChecks.end(), name) != kOwnModelChecks.end();
}
// The same by consumer kind.
inline bool checks_own_model(const std::string& kind) {
  return kind == "decode" || kind == "cpp-decode" || kind == "deploy";
}
// "cpp-torchscript", "cpp-export": the deployment artifacts a release exports
// of its own fixture model (torch.jit.trace; torch.export + AOTInductor), run
// by the C++ worker against the release's eager outputs (kind "deploy").
Consumer deploy_consumer(const std::string& name);
inline const std::vector<std::string> kDeployConsumers = {"cpp-torchscript", "cpp-export"};
// decode-cache, cpp-native-decode and the deployment consumers (with their
// pins.toml subsets): what a default sweep adds to its readers.
std::vector<Consumer> own_model_consumers(const Pins& pins);
// Every pinned release, cpp-native, and own_model_consumers().
std::vector<Consumer> default_consumers(const Pins& pins);
// Names: release versions, "cpp-native", "decode-cache", "cpp-native-decode", "cpp-torchscript",
// "cpp-export", or "python" / "cpp" / "deploy" for a whole kind.
std::vector<Consumer> select_consumers(const Pins& pins, const std::vector<std::string>& wanted);

}  // namespace xcompat
