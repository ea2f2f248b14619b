// cmake/source_hashes.cmake: the port's identity (and the judge's) is the
// hash of its sources, so editing any one file changes it, and nothing else
// does. Run on copies, as the build runs it.
#include <fstream>

#include "catch.hpp"
#include "support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

namespace {
std::string port_hash(const fs::path& root, const std::vector<std::string>& files) {
  std::string list;
  for (auto& f : files) list += (list.empty() ? "" : ";") + (root / f).string();
  const fs::path out = root / "hashes.cpp";
  auto r = test::run_command("cmake -DROOT='" + root.string() + "' -DOUT='" + out.string() + "' '-DPORT=" + list +
                             "' '-DJUDGE=" + list + "' -DTORCH=0 -P '" XCOMPAT_SOURCE_DIR "/cmake/source_hashes.cmake'");
  REQUIRE(r.exit_code == 0);
  const std::string text = test::slurp(out);
  const auto at = text.find("kPortSourceHash = \"");
  REQUIRE(at != std::string::npos);
  return text.substr(at + 19, 64);
}
}  // namespace

TEST_CASE("the port's identity changes with any one of its sources, and only then", "[unit]") {
  test::TempDir root;
  fs::create_directories(root / "native");
  std::ofstream(root / "native" / "attention.cpp") << "// attention\nint a = 1;\n";
  std::ofstream(root / "native" / "norms.cpp") << "// norms\nint n = 2;\n";
  const std::vector<std::string> files = {"native/attention.cpp", "native/norms.cpp"};
  const std::string before = port_hash(root.path, files);
  CHECK(before.size() == 64);
  CHECK(port_hash(root.path, files) == before);  // the same sources, the same identity
  std::ofstream(root / "native" / "norms.cpp", std::ios::app) << "// an edit\n";
  CHECK(port_hash(root.path, files) != before);
}
