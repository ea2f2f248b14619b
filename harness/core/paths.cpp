#include "harness/core/paths.hpp"

#include <cstdlib>

#include "harness/core/names.hpp"

namespace xcompat {

static fs::path env_or(const char* name, const fs::path& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? fs::path(v) : fallback;
}

fs::path project_root() { return env_or("XCOMPAT_ROOT", XCOMPAT_SOURCE_DIR); }
fs::path state_dir() { return env_or("XCOMPAT_STATE", project_root() / ".xcompat"); }
// Sandboxes are installed by scripts/setup under the checkout, whatever the
// state dir: tests point XCOMPAT_STATE at a temp dir and still find them.
fs::path release_sandboxes() { return env_or("XCOMPAT_RELEASES", project_root() / ".xcompat" / "releases"); }
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
  return fs::path(XCOMPAT_BUILD_DIR) / name;
}

}  // namespace xcompat
