#include "harness/core/sandbox.hpp"

#include "harness/core/package_source.hpp"
#include "harness/core/shell.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

std::string read_stamp(const fs::path& sandbox) {
  std::ifstream in(sandbox / ".xcompat-stamp");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string wanted(const Pins& pins, const std::string& version) {
  std::string w = "x-transformers==" + version;
  for (auto& e : pins.extras_for(version)) w += " " + e;
  return w;
}


}  // namespace

bool sandbox_installed(const std::string& version) {
  const fs::path s = release_sandbox(version);
  return fs::exists(s / ".xcompat-stamp") && fs::exists(s / "x_transformers");
}

void install_release(const Pins& pins, const std::string& version,
                     const std::function<void(const std::string&)>& log) {
  if (!Version::parse(version)) throw Error("'" + version + "' is not a release (X.Y.Z)");
  const fs::path target = release_sandbox(version);
  const std::string want = wanted(pins, version);
  if (sandbox_installed(version) && read_stamp(target) == want) return;
  if (log) log("installing " + want);
  fs::create_directories(target.parent_path());
  const fs::path tmp = target.string() + ".partial-" + std::to_string(std::random_device{}());
  std::string cmd = shell_quote((default_venv() / "bin" / "python").string()) +
                    " -m pip install -q --disable-pip-version-check --no-deps --target " + shell_quote(tmp.string());
  for (auto& word : pip_source_args()) cmd += " " + shell_quote(word);
  for (auto& word : pins.extras_for(version)) cmd += " " + shell_quote(word);
  cmd += " " + shell_quote("x-transformers==" + version) + " 2>&1";
  const ShellResult pip = run_shell(cmd);
  std::string out = pip.out;
  std::error_code ec;
  if (!pip.ok()) {
    fs::remove_all(tmp, ec);
    if (out.size() > 2000) out = "..." + out.substr(out.size() - 2000);
    throw Error(fmt::format("pip could not install {}:\n{}", want, out));
  }
  std::ofstream(tmp / ".xcompat-stamp") << want;
  fs::remove_all(target, ec);
  fs::rename(tmp, target, ec);
  if (ec) {
    // Another process installed it meanwhile: theirs stands.
    fs::remove_all(tmp, ec);
    if (!sandbox_installed(version)) throw Error("cannot place the sandbox " + target.string());
  }
}

std::vector<SandboxInfo> installed_sandboxes(const Pins& pins) {
  std::vector<SandboxInfo> out;
  const fs::path root = release_sandboxes();
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root, ec)) {
    const std::string v = e.path().filename().string();
    if (!Version::parse(v) || !sandbox_installed(v)) continue;
    out.push_back({v, pins.find(v) != nullptr, read_stamp(e.path())});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return *Version::parse(a.version) < *Version::parse(b.version); });
  return out;
}

}  // namespace xcompat
