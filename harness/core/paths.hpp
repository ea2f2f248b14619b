#pragma once
// Where xcompat finds its inputs and keeps its state.
//   root   the project checkout (XCOMPAT_ROOT, else the source dir it was built from)
//   state  XCOMPAT_STATE, else <root>/.xcompat  (fixtures, matrix.db)
//   releases  XCOMPAT_RELEASES, else <root>/.xcompat/releases (sandboxes)
#include <filesystem>
#include <string>

namespace xcompat {

namespace fs = std::filesystem;

fs::path project_root();
fs::path state_dir();
fs::path release_sandbox(const std::string& version);
fs::path fixtures_dir();
fs::path default_db_path();  // XCOMPAT_DB, else <state>/matrix.db
fs::path default_pins_path();
fs::path default_specs_path();
fs::path venv_site_packages();
fs::path python_driver_dir();
// The running executable (for starting workers of the same binary).
fs::path self_executable();

}  // namespace xcompat
