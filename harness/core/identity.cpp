#include "harness/core/identity.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "harness/convert/history.hpp"
#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/paths.hpp"

namespace xcompat {

extern const char* const kPortSourceHash;  // generated: source_hashes.cpp
extern const char* const kJudgeSourceHash;
extern const char* const kPortTorchVersion;

std::string port_identity() {
  // Test hook: a port built from other sources, without rebuilding.
  const char* hooks = std::getenv("XCOMPAT_TEST_HOOKS");
  if (const char* fake = std::getenv("XCOMPAT_TEST_PORT_IDENTITY"); fake && hooks && std::string(hooks) == "1")
    return fake;
  // The port reads its release switches and key maps from the release
  // history: an edited history is another port.
  return std::string("port-") + std::string(kPortSourceHash).substr(0, 16) + "/history-" +
         release_history().source_hash.substr(0, 12) + "/libtorch-" + kPortTorchVersion;
}

std::string judge_identity() { return std::string(kJudgeSourceHash).substr(0, 16); }

std::string driver_source_hash() {
  static const std::string h = [] {
    const fs::path driver = python_driver_dir() / "xcompat_driver.py";
    if (!fs::exists(driver)) throw Error("the release driver " + driver.string() + " is missing");
    return sha256_file(driver);
  }();
  return h;
}

std::string deploy_source_hash() {
  static const std::string h = [] {
    const fs::path deploy = python_driver_dir() / "xcompat_deploy.py";
    if (!fs::exists(deploy)) throw Error("the release driver's exporter " + deploy.string() + " is missing");
    return sha256_file(deploy);
  }();
  return h;
}

std::string venv_lock_hash(const fs::path& venv) {
  static std::mutex m;
  static std::map<std::string, std::string> cache;
  std::lock_guard lock(m);
  auto& h = cache[venv.string()];
  if (h.empty()) {
    std::vector<std::string> dists;
    const fs::path site = venv_site_packages(venv);
    std::error_code ec;
    for (auto& e : fs::directory_iterator(site, ec))
      if (e.path().extension() == ".dist-info") dists.push_back(e.path().filename().string());
    std::sort(dists.begin(), dists.end());
    std::string all;
    for (auto& d : dists) all += d + "\n";
    h = sha256_hex(all);
  }
  return h;
}

}  // namespace xcompat
