#include "harness/core/consumers.hpp"

#include <algorithm>

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

Consumer native_decode_consumer() { return {"cpp-native-decode", "cpp-decode", "decode-v1/" + port_identity()}; }

Consumer deploy_consumer(const std::string& name) {
  // The exporter (in the release's worker) and the C++ runner (the port's
  // build, its libtorch included) decide the cell besides the fixture.
  return {name, "deploy",
          "deploy-v1/exporter-" + deploy_source_hash().substr(0, 16) + "/driver-" + driver_source_hash().substr(0, 16) +
              "/" + native_runner_identity()};
}

bool Consumer::takes(const std::string& spec, const std::string& dtype) const {
  auto in = [](const std::vector<std::string>& list, const std::string& x) {
    return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
  };
  return in(only_specs, spec) && in(only_dtypes, dtype);
}

std::vector<Consumer> default_consumers(const Pins& pins) {
  std::vector<Consumer> out;
  for (auto& r : pins.releases) out.push_back(release_consumer(r));
  out.push_back(native_consumer());
  for (auto& c : own_model_consumers(pins)) out.push_back(std::move(c));
  return out;
}

std::vector<Consumer> own_model_consumers(const Pins& pins) {
  std::vector<Consumer> out;
  out.push_back(decode_consumer());
  out.push_back(native_decode_consumer());
  for (auto& name : kDeployConsumers) {
    Consumer c = deploy_consumer(name);
    if (auto it = pins.deploy.find(name); it != pins.deploy.end()) {
      c.only_specs = it->second.specs;
      c.only_dtypes = it->second.dtypes;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<Consumer> select_consumers(const Pins& pins, const std::vector<std::string>& wanted) {
  auto all = default_consumers(pins);
  if (wanted.empty()) return all;
  for (auto& r : with_installed(pins, wanted))
    if (!pins.find(r.version)) all.push_back(release_consumer(r));
  std::vector<Consumer> out;
  for (auto& w : wanted) {
    bool found = false;
    for (auto& c : all)
      if (c.name == w || c.kind == w) {
        out.push_back(c);
        // Named, it sweeps everything; only a default sweep takes the subset.
        if (c.name == w) out.back().only_specs.clear(), out.back().only_dtypes.clear();
        found = true;
      }
    if (!found)
      throw Error("unknown consumer '" + w +
                  "' (a pinned or installed release, cpp-native, decode-cache, cpp-native-decode, cpp-torchscript, cpp-export, "
                  "or a kind: python, cpp, deploy)");
  }
  return out;
}

}  // namespace xcompat
