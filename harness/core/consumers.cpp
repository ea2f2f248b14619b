#include "harness/core/consumers.hpp"

#include "harness/core/error.hpp"

namespace xcompat {

Consumer release_consumer(const Release& r) {
  std::string extras;
  for (auto& e : r.extras) extras += "+" + e;
  return {r.version, "python", "x-transformers==" + r.version + extras};
}

Consumer native_consumer() {
  return {"cpp-native", "cpp", std::string("xcompat-") + XCOMPAT_VERSION + "/port-" + kNativePortVersion};
}

std::vector<Consumer> default_consumers(const Pins& pins) {
  std::vector<Consumer> out;
  for (auto& r : pins.releases) out.push_back(release_consumer(r));
  out.push_back(native_consumer());
  return out;
}

std::vector<Consumer> select_consumers(const Pins& pins, const std::vector<std::string>& wanted) {
  auto all = default_consumers(pins);
  if (wanted.empty()) return all;
  std::vector<Consumer> out;
  for (auto& w : wanted) {
    bool found = false;
    for (auto& c : all)
      if (c.name == w || c.kind == w) {
        out.push_back(c);
        found = true;
      }
    if (!found) throw Error("unknown consumer '" + w + "' (a pinned release, cpp-native, python or cpp)");
  }
  return out;
}

}  // namespace xcompat
