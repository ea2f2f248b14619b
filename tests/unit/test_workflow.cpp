// The nightly workflow (.github/workflows/nightly.yml) against the project it
// drives: tests/workflow_check.py, and proof that the check sees a broken one.
#include <fstream>

#include "catch.hpp"
#include "support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

namespace {
test::CommandResult check(const fs::path& workflow) {
  const fs::path root = XCOMPAT_SOURCE_DIR;
  return test::run_command("'" + (root / ".venv" / "bin" / "python").string() + "' '" +
                           (root / "tests" / "workflow_check.py").string() + "' '" + workflow.string() +
                           "' '" XCOMPAT_BIN "' 2>&1");
}
}  // namespace

TEST_CASE("the nightly workflow runs xcompat's own commands and scripts, sharded 1..N, pinned actions", "[unit]") {
  const fs::path workflow = fs::path(XCOMPAT_SOURCE_DIR) / ".github" / "workflows" / "nightly.yml";
  auto ok = check(workflow);
  INFO(ok.out);
  CHECK(ok.exit_code == 0);

  // The same workflow, broken four ways: each is named.
  std::string text = test::slurp(workflow);
  auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
  };
  replace("--shard \"", "--shards \"");
  replace("needs: sweep", "needs: sweeps");
  replace("actions/checkout@v4", "actions/checkout@main");
  replace("shard: [1, 2, 3]", "shard: [1, 2]");
  test::TempDir dir;
  std::ofstream(dir / "nightly.yml") << text;
  auto bad = check(dir / "nightly.yml");
  INFO(bad.out);
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.find("xcompat sweep has no option --shards") != std::string::npos);
  CHECK(bad.out.find("needs unknown job sweeps") != std::string::npos);
  CHECK(bad.out.find("not pinned to a version: actions/checkout@main") != std::string::npos);
  CHECK(bad.out.find("is not 1..SHARDS") != std::string::npos);
}
