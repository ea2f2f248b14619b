// The command line never maps libtorch or libpython: only the worker
// executables do. Proven on the process's own /proc/self/maps, written at
// exit by a test hook, after each subcommand ran for real (a sweep that
// starts release and cpp-native workers included).
#include <fstream>

#include "catch.hpp"
#include "support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

namespace {
std::string maps_after(const test::TempDir& state, const std::string& args) {
  const auto maps = state / "maps.txt";
  fs::remove(maps);
  auto r = test::run_command("XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_MAPS_OUT='" + maps.string() + "' XCOMPAT_STATE='" +
                             state.path.string() + "' '" XCOMPAT_BIN "' " + args + " >/dev/null 2>&1");
  INFO(args);
  CHECK((r.exit_code == 0 || r.exit_code == 3));
  std::ifstream in(maps);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("no subcommand of the command line maps libtorch or libpython", "[release]") {
  test::TempDir state;
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  for (const std::string& args : std::vector<std::string>{"--version", "sweep --release 1.31.4,2.31.10 --spec decoder-absolute --no-progress" + db,
        "query --from 1.31.4 --to 2.31.10" + db, "runs" + db, "diff 1 1" + db,
        "report --out '" + (state / "report").string() + "'" + db, std::string("releases --no-import-check"),
        "inspect '" + std::string(XCOMPAT_TEST_DATA) + "/checkpoints/state_dict.safetensors'"}) {
    const std::string maps = maps_after(state, args);
    INFO(args);
    REQUIRE(maps.find("libc.so") != std::string::npos);  // the hook really wrote the maps
    CHECK(maps.find("libtorch") == std::string::npos);
    CHECK(maps.find("libc10") == std::string::npos);
    CHECK(maps.find("libpython") == std::string::npos);
  }
}
