#include "harness/core/package_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <sys/wait.h>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/shell.hpp"

namespace xcompat {

namespace fs = std::filesystem;

namespace {

// Seconds before a listing is given up: pip's per-request timeout is 10 s
// with no retries, so only something pathological reaches this.
constexpr int kListLimitSeconds = 60;

}  // namespace

std::string package_source() {
  const char* v = std::getenv("XCOMPAT_PACKAGE_SOURCE");
  return v ? v : "";
}

std::string package_source_label() { return package_source().empty() ? "PyPI" : package_source(); }

std::vector<std::string> pip_source_args() {
  const std::string s = package_source();
  if (s.empty()) return {};
  if (s.find("://") != std::string::npos) return {"--index-url", s};
  if (!fs::is_directory(s))
    throw Error("package source " + s + " is neither a directory of wheels nor an index URL");
  return {"--no-index", "--find-links", fs::absolute(s).string()};
}

std::vector<Version> list_published_releases() {
  std::string cmd = "timeout " + std::to_string(kListLimitSeconds) + " " +
                    shell_quote((default_venv() / "bin" / "python").string()) +
                    " -m pip index versions x-transformers --disable-pip-version-check --timeout 10 --retries 0";
  for (auto& a : pip_source_args()) cmd += " " + shell_quote(a);
  const ShellResult pip = run_shell(cmd + " 2>&1");
  const std::string& out = pip.out;
  const int rc = pip.status;
  const auto at = out.find("Available versions:");
  if (rc != 0 || at == std::string::npos) {
    std::string why;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("ERROR", 0) == 0 || line.find("Could not fetch") != std::string::npos ||
          line.find("Retrying") != std::string::npos)
        why += (why.empty() ? "" : "; ") + line;
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 124) why = fmt::format("no answer within {} s", kListLimitSeconds);
    throw Error(fmt::format("cannot list x-transformers releases from {}: {}. Offline? Pass --package-source DIR "
                            "(a directory of wheels) or an index URL",
                            package_source_label(), why.empty() ? "pip found none" : why));
  }
  std::vector<Version> out_versions;
  std::istringstream list(out.substr(at + 19, out.find('\n', at) - at - 19));
  for (std::string v; std::getline(list, v, ',');) {
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(" \r") + 1);
    if (auto parsed = Version::parse(v)) out_versions.push_back(*parsed);  // pre-releases are not X.Y.Z: skipped
  }
  std::sort(out_versions.begin(), out_versions.end());
  return out_versions;
}

}  // namespace xcompat
