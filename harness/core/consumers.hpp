#pragma once
// Consumers: everything that loads a fixture and runs forward. Every pinned
// release (Python, in its own worker) and the C++ implementations.
#include <string>
#include <vector>

#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"

namespace xcompat {

struct Consumer {
  std::string name;     // "1.31.4" or "cpp-native"
  std::string kind;     // "python" | "cpp"
  // Identity in every cell's cache key: for a release, its pin and extras,
  // the driver's source and the venv's distributions; for cpp-native, the
  // port's source and libtorch (harness/core/identity.hpp).
  std::string version;

  // How it is named in progress lines and errors: "release 1.31.4", "cpp-native".
  std::string label() const { return kind == "python" ? "release " + name : name; }
};

Consumer release_consumer(const Release& r);
Consumer native_consumer();
// "decode-cache": not a reader of other releases' checkpoints but a check of
// each producing release's own cached (incremental) decoding against its
// uncached forward, on its own fixture (cell kind decode-cache).
Consumer decode_consumer();
std::vector<Consumer> default_consumers(const Pins& pins);
// Names: release versions, "cpp-native", or "python" / "cpp" for a whole kind.
std::vector<Consumer> select_consumers(const Pins& pins, const std::vector<std::string>& wanted);

}  // namespace xcompat
