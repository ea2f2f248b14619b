#pragma once
// Where xcompat finds its inputs and keeps its state.
//   root   the data files (matrix/, fixtures/specs.toml, harness/python/):
//          set_data_root() (the Python module), else XCOMPAT_ROOT, else an
//          installed copy's <exe>/../data (the wheel), else the source dir
//          it was built from
//   state  XCOMPAT_STATE (`--state`), else for an installed copy
//          $XDG_CACHE_HOME/xcompat (~/.cache/xcompat), else <root>/.xcompat
//   releases  XCOMPAT_RELEASES, else <state>/releases for an installed copy,
//          <root>/.xcompat/releases for a checkout (sandboxes)
//   venv   XCOMPAT_VENV, else <root>/.venv (torch and the packages releases share)
#include <filesystem>
#include <string>

namespace xcompat {

namespace fs = std::filesystem;

fs::path project_root();
// The Python module's data (it runs inside python, so /proc/self/exe says nothing).
void set_data_root(const fs::path& root);
// Installed (the wheel, or a set data root) rather than a checkout's build.
bool is_installed_copy();
fs::path state_dir();
fs::path release_sandboxes();  // the directory of every release's sandbox
// One release's sandbox; throws Error unless `version` is X.Y.Z.
fs::path release_sandbox(const std::string& version);
fs::path fixtures_dir();
fs::path default_db_path();  // XCOMPAT_DB, else <state>/matrix.db
fs::path default_pins_path();
// matrix/known_breaks.toml: what --junit expects to fail (reports/known_breaks.hpp).
fs::path default_known_breaks_path();
fs::path default_specs_path();
fs::path venv_site_packages(const fs::path& venv);
fs::path python_driver_dir();
// The running executable.
fs::path self_executable();
// A helper executable built beside `xcompat` (xcompat-python-worker,
// xcompat-native-worker): XCOMPAT_LIBEXEC, else the running executable's
// directory when it holds `name`, else the build directory.
fs::path worker_executable(const std::string& name);
// The venv the release workers import torch from: XCOMPAT_VENV, else <root>/.venv.
fs::path default_venv();

}  // namespace xcompat
