#pragma once
// Where xcompat finds its inputs and keeps its state.
//   root   the project checkout (XCOMPAT_ROOT, else the source dir it was built from)
//   state  XCOMPAT_STATE, else <root>/.xcompat  (fixtures, matrix.db)
//   releases  XCOMPAT_RELEASES, else <root>/.xcompat/releases (sandboxes)
//   venv   XCOMPAT_VENV, else <root>/.venv (torch and the packages releases share)
#include <filesystem>
#include <string>

namespace xcompat {

namespace fs = std::filesystem;

fs::path project_root();
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
