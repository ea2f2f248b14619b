#include "harness/core/consumers.hpp"

#include "harness/core/error.hpp"
#include "harness/core/identity.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/runtime.hpp"

namespace xcompat {

Consumer release_consumer(const Release& r) {
  std::string extras;
  for (auto& e : r.extras) extras += "+" + e;
  // A release under another torch is its own consumer, identified by its venv.
  return {r.version, "python",
          "x-transformers==" + release_of(r.version) + extras + "/driver-" + driver_source_hash().substr(0, 16) +
              "/venv-" + venv_lock_hash(venv_of(r.version)).substr(0, 16)};
}

Consumer native_consumer() { return {"cpp-native", "cpp", port_identity()}; }

Consumer decode_consumer() { return {"decode-cache", "decode", "decode-v1/driver-" + driver_source_hash().substr(0, 16)}; }

std::vector<Consumer> default_consumers(const Pins& pins) {
  std::vector<Consumer> out;
  for (auto& r : pins.releases) out.push_back(release_consumer(r));
  out.push_back(native_consumer());
  return out;
}

std::vector<Consumer> select_consumers(const Pins& pins, const std::vector<std::string>& wanted) {
  auto all = default_consumers(pins);
  if (wanted.empty()) return all;
  for (auto& r : with_installed(pins, wanted))
    if (!pins.find(r.version)) all.push_back(release_consumer(r));
  all.push_back(decode_consumer());  // only when named: not one of the default consumers yet
  std::vector<Consumer> out;
  for (auto& w : wanted) {
    bool found = false;
    for (auto& c : all)
      if (c.name == w || c.kind == w) {
        out.push_back(c);
        found = true;
      }
    if (!found)
      throw Error("unknown consumer '" + w +
                  "' (a pinned or installed release, cpp-native, decode-cache, python or cpp)");
  }
  return out;
}

}  // namespace xcompat
