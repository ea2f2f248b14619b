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
extern const char* const kConverterSourceHash;

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

std::string native_runner_identity() {
  // The deployment runner is built from the port's sources with its
  // libtorch, and reads no release history: an edited history is not
  // another runner.
  return std::string("runner-") + std::string(kPortSourceHash).substr(0, 16) + "/libtorch-" + kPortTorchVersion;
}

std::string judge_identity() { return std::string(kJudgeSourceHash).substr(0, 16); }

std::string converter_identity() { return std::string(kConverterSourceHash).substr(0, 16); }

namespace {
// SHA-256 of one of the driver's files; a missing one is an install error.
std::string driver_file_hash(const char* name, const char* what) {
  const fs::path file = python_driver_dir() / name;
  if (!fs::exists(file)) throw Error(std::string(what) + " " + file.string() + " is missing");
  return sha256_file(file);
}
}  // namespace

std::string driver_source_hash() {
  static const std::string h = driver_file_hash("xcompat_driver.py", "the release driver");
  return h;
}

std::string deploy_source_hash() {
  static const std::string h = driver_file_hash("xcompat_deploy.py", "the release driver's exporter");
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
