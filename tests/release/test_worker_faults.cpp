// Resource faults of a worker, injected on request (harness/worker/worker_loop.cpp,
// XCOMPAT_TEST_HOOKS=1): a partial or gigantic reply line, a reply to another
// request, a flood on stderr, memory exhausted under a limit, a start too
// slow. Each is one fault with its cause, and the next request gets a
// working worker. A sweep under a memory limit too small for the spec
// completes, its cells ERROR naming the allocation.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/pins.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Sets environment variables for the workers started while it lives.
struct Env {
  std::vector<std::string> names;
  Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto& [k, v] : vars) {
      setenv(k, v, 1);
      names.push_back(k);
    }
  }
  ~Env() {
    for (auto& n : names) unsetenv(n.c_str());
  }
};

WorkerReply fault(WorkerProcess& w, const char* action, std::chrono::milliseconds timeout = 60s) {
  return w.request({{"op", "fault"}, {"action", action}}, timeout);
}

// The worker answers again (an unknown injected fault is an ordinary exception reply).
void answers(WorkerProcess& w) {
  auto r = fault(w, "none-such");
  INFO(r.error);
  CHECK(r.fault == WorkerFault::Exception);
  CHECK(r.error.find("unknown injected fault") != std::string::npos);
}

}  // namespace

TEST_CASE("a worker's broken replies are protocol faults or crashes, each with its cause, then it restarts",
          "[release]") {
  Env hooks{{"XCOMPAT_TEST_HOOKS", "1"}};
  WorkerProcess w(worker_command(native_consumer()), "cpp-native");
  answers(w);
  {
    auto r = fault(w, "partial-reply");  // half a line, then exit 3
    INFO(r.error);
    CHECK(r.fault == WorkerFault::Crash);
    CHECK(r.error.find("died during 'fault'") != std::string::npos);
    answers(w);
  }
  {
    auto r = fault(w, "huge-reply");  // a 65 MiB line
    INFO(r.error.substr(0, 300));
    CHECK(r.fault == WorkerFault::Protocol);
    CHECK(r.error.find("over 64 MiB") != std::string::npos);
    answers(w);
  }
  {
    auto r = fault(w, "wrong-id");
    INFO(r.error);
    CHECK(r.fault == WorkerFault::Protocol);
    CHECK(r.error.find("with id") != std::string::npos);
    answers(w);
  }
  {
    auto r = fault(w, "stderr-flood", 120s);  // 200 MiB on stderr: drained, the reply still arrives
    INFO(r.error);
    CHECK(r.ok());
    CHECK(r.body.value("flooded", false));
  }
}

TEST_CASE("memory exhausted under the worker's limit is an error naming it; a slow start times out", "[release]") {
  {
    Env env{{"XCOMPAT_TEST_HOOKS", "1"}, {"XCOMPAT_WORKER_MEMORY_MB", "2048"}};
    WorkerProcess w(worker_command(native_consumer()), "cpp-native");
    auto r = fault(w, "oom", 120s);
    INFO(r.error);
    CHECK(r.fault == WorkerFault::Exception);
    CHECK(r.error.find("out of memory") != std::string::npos);
    CHECK(r.error.find("2048 MiB") != std::string::npos);
    answers(w);  // the allocation was given back: the same worker goes on
  }
  {
    Env env{{"XCOMPAT_TEST_HOOKS", "1"}, {"XCOMPAT_TEST_SLOW_START_MS", "4000"}, {"XCOMPAT_WORKER_START_TIMEOUT_S", "1"}};
    WorkerProcess w(worker_command(native_consumer()), "cpp-native");
    auto r = fault(w, "none-such");
    INFO(r.error);
    CHECK(r.fault == WorkerFault::Timeout);
    CHECK(r.error.find("did not become ready in time") != std::string::npos);
  }
}

TEST_CASE("a sweep whose workers run out of memory completes, each cell an ERROR with its cause", "[release]") {
  test::TempDir state;
  const std::string sweep = "sweep --no-progress --dtype float32 --release 2.31.10 --consumer 2.31.10,cpp-native "
                            "--spec decoder-absolute --db " + (state / "m.db").string();
  // 600 MiB of address space: enough to start, not to build and run a model under torch.
  auto starved = test::run_command("XCOMPAT_WORKER_MEMORY_MB=600 XCOMPAT_STATE='" + state.path.string() + "' '" XCOMPAT_BIN
                                   "' " + sweep + " 2>&1");
  INFO(starved.out);
  CHECK(starved.exit_code == 4);  // nothing was measured: CI must not read it as green
  CHECK(starved.out.find("nothing was measured") != std::string::npos);
  CHECK(starved.out.find("ERROR") != std::string::npos);
  CHECK(starved.out.find("memory limit of 600 MiB") != std::string::npos);  // the cause is named
  // With memory, the same sweep records real verdicts: nothing of the starved run stands in their way.
  auto fed = test::xcompat(state.path, sweep);
  INFO(fed.out);
  REQUIRE((fed.exit_code == 0 || fed.exit_code == 3));
  CHECK(fed.out.find("IDENTICAL") != std::string::npos);
}

TEST_CASE("a full disk: fixtures that cannot be written are ERROR cells saying so, the database refuses whole, "
          "and the next run recovers",
          "[release]") {
  const std::string plan = "sweep --no-progress --dtype float32 --release 1.19.1,2.31.10 --spec decoder-rmsnorm "
                           "--consumer 1.19.1,2.31.10,cpp-native";
  test::TempDir base;
  REQUIRE(test::xcompat(base.path, plan + " --db " + (base / "m.db").string()).exit_code == 0);
  const auto expected = test::matrix_of(base / "m.db");
  std::uintmax_t fixture_bytes = 0;
  for (auto& rel : fs::directory_iterator(base / "fixtures"))
    for (auto& dir : fs::directory_iterator(rel.path())) fixture_bytes = std::max(fixture_bytes, fs::file_size(dir.path() / "model.pt"));
  // RLIMIT_FSIZE (SIGXFSZ ignored, so a write past it fails with EFBIG), in KiB:
  // room for the database, not for a fixture's checkpoint.
  auto limited = [&](const test::TempDir& state, std::uintmax_t kib, const std::string& db) {
    return test::run_command("bash -c \"trap '' XFSZ; ulimit -f " + std::to_string(kib) + "; XCOMPAT_STATE='" +
                             state.path.string() + "' '" XCOMPAT_BIN "' " + plan + " --db '" + db + "'\" 2>&1");
  };
  {
    test::TempDir state;
    const std::string db = (state / "m.db").string();
    auto full = limited(state, fixture_bytes / 1024 - 8, db);
    INFO(full.out);
    CHECK(full.exit_code == 4);  // the sweep completes, and says that it measured nothing
    CHECK(full.out.find("is the disk full, or a file size limit reached?") != std::string::npos);
    for (auto& rel : fs::directory_iterator(state / "fixtures"))
      for (auto& dir : fs::directory_iterator(rel.path())) CHECK_FALSE(fs::exists(dir.path() / "meta.json"));  // none half-published
    auto again = test::xcompat(state.path, plan + " --db " + db);
    INFO(again.out);
    REQUIRE((again.exit_code == 0 || again.exit_code == 3));
    CHECK(test::matrix_of(state / "m.db") == expected);
  }
  {
    test::TempDir state;
    const std::string db = (state / "m.db").string();
    auto full = limited(state, 200, db);  // not even the database's first pages
    INFO(full.out);
    CHECK(full.exit_code == 2);
    CHECK(full.out.find("nothing of it is recorded") != std::string::npos);
    auto again = test::xcompat(state.path, plan + " --db " + db);
    INFO(again.out);
    REQUIRE((again.exit_code == 0 || again.exit_code == 3));
    CHECK(test::matrix_of(state / "m.db") == expected);
    Store s(db, false);
    CHECK(s.integrity_check() == "ok");
  }
}

TEST_CASE("a worker for a release under torch T that runs another torch is a failed start, named", "[release]") {
  // The default venv runs the pins' torch; asked for as if it were torch 9.9.9's.
  WorkerCommand cmd = worker_command(Consumer{"2.31.10", "python", ""});
  REQUIRE(cmd.expect_torch.empty());  // the default torch is whatever the default venv holds
  cmd.expect_torch = "9.9.9";
  WorkerProcess w(cmd, "release 2.31.10-torch9.9.9");
  const WorkerReply r = w.request({{"op", "info"}}, 120s);
  INFO(r.error);
  CHECK(r.fault == WorkerFault::StartFailed);
  CHECK_THAT(r.error, Catch::Contains("not torch 9.9.9"));
  const std::string pinned = load_pins(default_pins_path()).torch;
  CHECK_THAT(r.error, Catch::Contains("runs torch " + pinned));
  // Asked for the torch it runs, it starts.
  cmd.expect_torch = pinned;
  WorkerProcess right(cmd, "release 2.31.10");
  CHECK(right.request({{"op", "info"}}, 120s).ok());
}
