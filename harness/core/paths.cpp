#include "harness/core/paths.hpp"

#include <cstdlib>

#include "harness/core/error.hpp"
#include "harness/core/names.hpp"

namespace xcompat {

static fs::path env_or(const char* name, const fs::path& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? fs::path(v) : fallback;
}

static fs::path& root_override() {
  static fs::path root;
  return root;
}

void set_data_root(const fs::path& root) { root_override() = root; }

static bool holds_data(const fs::path& dir) { return fs::exists(dir / "matrix" / "history.toml"); }

// An installed copy (the wheel: <package>/bin/xcompat beside <package>/data)
// finds its data from where it runs; a build from source falls back to the
// checkout it was built from.
static fs::path installed_data_root() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const fs::path data = exe.parent_path().parent_path() / "data";
  return holds_data(data) ? data : fs::path();
}

bool is_installed_copy() {
  if (!root_override().empty()) return true;
  return std::getenv("XCOMPAT_ROOT") == nullptr && !installed_data_root().empty();
}

fs::path project_root() {
  if (!root_override().empty()) return root_override();
  if (const char* v = std::getenv("XCOMPAT_ROOT"); v && *v) return v;
  if (fs::path installed = installed_data_root(); !installed.empty()) return installed;
  const fs::path source = XCOMPAT_SOURCE_DIR;
  if (source.empty())
    throw Error("xcompat cannot find its data files (matrix/history.toml): set XCOMPAT_ROOT to a checkout of xcompat");
  return source;
}

// An installed copy keeps its state in the user's cache (it may be installed
// read-only); a checkout keeps it in <root>/.xcompat.
fs::path state_dir() {
  if (const char* v = std::getenv("XCOMPAT_STATE"); v && *v) return v;
  if (!is_installed_copy()) return project_root() / ".xcompat";
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) return fs::path(cache) / "xcompat";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "xcompat";
  return fs::temp_directory_path() / "xcompat";
}
// Sandboxes are installed by scripts/setup under the checkout, whatever the
// state dir: tests point XCOMPAT_STATE at a temp dir and still find them. An
// installed copy keeps them in its state.
fs::path release_sandboxes() {
  return env_or("XCOMPAT_RELEASES", (is_installed_copy() ? state_dir() : project_root() / ".xcompat") / "releases");
}
fs::path release_sandbox(const std::string& version) {
  require_release_name(version, "sandbox");
  return child_path(release_sandboxes(), version);
}
fs::path fixtures_dir() { return state_dir() / "fixtures"; }
fs::path default_db_path() { return env_or("XCOMPAT_DB", state_dir() / "matrix.db"); }
fs::path default_pins_path() { return project_root() / "matrix" / "pins.toml"; }
fs::path default_known_breaks_path() { return project_root() / "matrix" / "known_breaks.toml"; }
fs::path default_specs_path() { return project_root() / "fixtures" / "specs.toml"; }
fs::path default_venv() { return env_or("XCOMPAT_VENV", project_root() / ".venv"); }
fs::path venv_site_packages(const fs::path& venv) { return venv / "lib" / XCOMPAT_PYTHON_LIBDIR / "site-packages"; }
fs::path python_driver_dir() { return project_root() / "harness" / "python"; }
fs::path self_executable() { return fs::read_symlink("/proc/self/exe"); }
fs::path worker_executable(const std::string& name) {
  if (const char* dir = std::getenv("XCOMPAT_LIBEXEC"); dir && *dir) return fs::path(dir) / name;
  const fs::path beside = self_executable().parent_path() / name;
  if (fs::exists(beside)) return beside;
  const fs::path build = XCOMPAT_BUILD_DIR;
  if (build.empty())
    throw Error(name + " is not part of this install: the pip package reads, converts and fingerprints "
                "checkpoints; fixtures, sweeps and check run their releases through workers that only a build "
                "from source has (README: \"From source\")");
  return build / name;
}

}  // namespace xcompat
