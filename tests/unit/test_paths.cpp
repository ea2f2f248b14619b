// Where xcompat finds its data and keeps its state: a checkout's build, and
// an installed copy (the wheel's module sets its data root; its state goes
// to the user's cache, never into the install).
#include <cstdlib>
#include <optional>
#include <string>

#include "catch.hpp"
#include "harness/core/paths.hpp"
#include "support.hpp"

using namespace xcompat;
using namespace xcompat::test;
namespace fs = std::filesystem;

namespace {
// Sets (or unsets) an environment variable for one scope.
struct EnvVar {
  std::string name;
  std::optional<std::string> old;
  EnvVar(const char* n, const char* value) : name(n) {
    if (const char* v = std::getenv(n)) old = v;
    value ? setenv(n, value, 1) : unsetenv(n);
  }
  ~EnvVar() { old ? setenv(name.c_str(), old->c_str(), 1) : unsetenv(name.c_str()); }
};
// The data root an installed copy was given, undone at the end of the scope.
struct DataRoot {
  explicit DataRoot(const fs::path& root) { set_data_root(root); }
  ~DataRoot() { set_data_root({}); }
};
}  // namespace

TEST_CASE("a checkout keeps its state in .xcompat unless XCOMPAT_STATE says", "[unit]") {
  EnvVar state("XCOMPAT_STATE", nullptr);
  CHECK_FALSE(is_installed_copy());
  CHECK(state_dir() == project_root() / ".xcompat");
  EnvVar given("XCOMPAT_STATE", "/tmp/elsewhere");
  CHECK(state_dir() == fs::path("/tmp/elsewhere"));
  CHECK(default_db_path() == fs::path("/tmp/elsewhere/matrix.db"));
}

TEST_CASE("an installed copy reads its data where it was told and keeps state in the user's cache", "[unit]") {
  TempDir dir;
  DataRoot root(dir.path / "data");
  EnvVar state("XCOMPAT_STATE", nullptr), releases("XCOMPAT_RELEASES", nullptr);
  CHECK(is_installed_copy());
  CHECK(project_root() == dir.path / "data");
  CHECK(default_pins_path() == dir.path / "data" / "matrix" / "pins.toml");
  {
    EnvVar cache("XDG_CACHE_HOME", (dir.path / "cache").c_str());
    CHECK(state_dir() == dir.path / "cache" / "xcompat");
    CHECK(release_sandboxes() == dir.path / "cache" / "xcompat" / "releases");
  }
  {
    EnvVar cache("XDG_CACHE_HOME", nullptr), home("HOME", (dir.path / "home").c_str());
    CHECK(state_dir() == dir.path / "home" / ".cache" / "xcompat");
  }
  EnvVar given("XCOMPAT_STATE", (dir.path / "state").c_str());
  CHECK(state_dir() == dir.path / "state");
}

TEST_CASE("--state puts the state directory where the user says", "[unit]") {
  TempDir dir;
  // A fresh state has no matrix yet: the command names the database it looked for there.
  for (const std::string flag : {" --state ", " runs --state="}) {
    const std::string where = (dir.path / "s").string();
    const std::string cmd = flag == " --state " ? "'" XCOMPAT_BIN "' --state '" + where + "' runs 2>&1"
                                                : "'" XCOMPAT_BIN "' runs --state='" + where + "' 2>&1";
    const auto r = run_command("env -u XCOMPAT_STATE " + cmd);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find(where + "/matrix.db") != std::string::npos);
  }
}
