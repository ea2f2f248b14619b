// The zygote: release workers forked from one pre-warmed interpreter behave
// exactly like spawned ones (same bytes, same isolation), and the zygote
// itself is replaced when it dies.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "catch.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/paths.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"
#include "harness/worker/zygote.hpp"
#include "support.hpp"

using namespace xcompat;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {
WorkerCommand forked(const std::string& release) { return worker_command(Consumer{release, "python", ""}); }
WorkerCommand spawned(const std::string& release) {
  WorkerCommand c = forked(release);
  c.zygote_venv.clear();
  return c;
}

pid_t parent_of(int64_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
  std::istringstream rest(all.substr(all.rfind(')') + 1));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

json spec_decoder_glu() {
  return json::parse(R"({"name": "zygote-glu", "model": "decoder", "seed": 5, "batch": 2, "seq_len": 16,
    "mask": "none", "wrapper": {"num_tokens": 256, "max_seq_len": 32},
    "layers": {"dim": 32, "depth": 2, "heads": 4, "ff_glu": true}})");
}
}  // namespace

TEST_CASE("a forked release worker is our child, single-threaded zygote, its own sandbox", "[release]") {
  for (auto release : {"0.28.4", "1.31.4", "2.31.10"}) {
    WorkerProcess w(forked(release), std::string("release ") + release);
    auto reply = w.request({{"op", "info"}}, 120s);
    REQUIRE(reply.ok());
    CHECK(reply.body["info"]["x_transformers"] == release);
    CHECK(w.hello()["x_transformers_path"].get<std::string>().find(std::string("/releases/") + release + "/") !=
          std::string::npos);
    // Re-parented to this process (a child subreaper), so waitpid works.
    CHECK(parent_of(w.hello()["pid"].get<int64_t>()) == getpid());
  }
  const json hello = Zygote::for_venv(default_venv()).hello();
  CHECK(hello["ready"] == true);
  CHECK(hello["threads"] == 1);  // fork() copies one thread: the zygote must have only one
  CHECK_THAT(hello["preloaded"].dump(), Catch::Contains("torch._dynamo"));
}

TEST_CASE("forked and spawned workers make byte-identical fixtures and judge them alike", "[release]") {
  test::TempDir dir;
  std::map<std::string, std::string> hashes;
  for (auto [name, command] : {std::pair{"forked", forked("2.31.10")}, std::pair{"spawned", spawned("2.31.10")}}) {
    WorkerProcess w(command, name);
    const auto out = dir / name;
    fs::create_directories(out);
    auto made = w.request({{"op", "make_fixture"}, {"spec", spec_decoder_glu()}, {"out_dir", out.string()}}, 120s);
    REQUIRE(made.ok());
    std::string all;
    for (auto& [file, sha] : made.body["meta"]["files"].items()) all += file + ":" + sha.get<std::string>() + "\n";
    hashes[name] = all;
  }
  CHECK(hashes["forked"] == hashes["spawned"]);
  // Each start mode reads the other's fixture: bitwise equal outputs.
  for (auto [who, fixture] : {std::pair{forked("2.31.10"), "spawned"}, std::pair{spawned("2.31.10"), "forked"}}) {
    WorkerProcess w(who, "reader");
    auto r = w.request({{"op", "evaluate"}, {"spec", spec_decoder_glu()}, {"fixture_dir", (dir / fixture).string()},
                        {"checkpoint", "model.safetensors"}},
                       120s);
    REQUIRE(r.ok());
    CHECK(r.body["verdict"] == "IDENTICAL");
    CHECK(r.body["timing"]["forward_ms"].get<double>() > 0);
  }
}

TEST_CASE("a dead zygote is replaced on the next start", "[release]") {
  Zygote& z = Zygote::for_venv(default_venv());
  {
    WorkerProcess w(forked("1.0.4"), "release 1.0.4");
    REQUIRE(w.request({{"op", "info"}}, 120s).ok());
  }
  const int64_t old_pid = z.hello()["pid"];
  const int starts = z.starts();
  REQUIRE(kill(static_cast<pid_t>(old_pid), SIGKILL) == 0);
  usleep(100000);
  WorkerProcess w(forked("1.0.4"), "release 1.0.4");
  REQUIRE(w.request({{"op", "info"}}, 120s).ok());
  CHECK(z.starts() == starts + 1);
  CHECK(z.hello()["pid"].get<int64_t>() != old_pid);
}

TEST_CASE("a sandbox that ships a package the zygote preloaded is refused, not silently shadowed", "[release]") {
  test::TempDir releases;
  const fs::path sandbox = releases / "0.0.1";
  fs::create_directories(sandbox / "x_transformers");
  fs::create_directories(sandbox / "einops");
  std::ofstream(sandbox / "x_transformers" / "__init__.py") << "raise SystemExit('must not be imported')\n";
  std::ofstream(sandbox / "einops" / "__init__.py") << "\n";
  setenv("XCOMPAT_RELEASES", releases.path.c_str(), 1);
  WorkerProcess w(forked("0.0.1"), "release 0.0.1");
  auto r = w.request({{"op", "info"}}, 120s);
  unsetenv("XCOMPAT_RELEASES");
  CHECK(r.fault == WorkerFault::StartFailed);
  CHECK_THAT(r.error, Catch::Contains("ships einops"));
}
