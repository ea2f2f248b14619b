// The bridge: real release workers (embedded CPython) over the line
// protocol, and what the main side does when one raises, crashes or hangs.
// Every case runs twice: a worker forked from the zygote (the default) and
// a spawned one (XCOMPAT_WORKER_START=spawn); the guarantees are the same.
#include <cstdlib>

#include "catch.hpp"
#include "support.hpp"
#include "harness/core/consumers.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"

using namespace xcompat;
using namespace std::chrono_literals;

namespace {
// The release worker command, forked or spawned as the generator says.
WorkerCommand worker_argv(const std::string& release) {
  const bool forked = GENERATE(true, false);
  WorkerCommand c = worker_command(Consumer{release, "python", ""});
  if (!forked) c.zygote_venv.clear();
  UNSCOPED_INFO((forked ? "forked from the zygote" : "spawned"));
  return c;
}
}  // namespace

TEST_CASE("a release worker answers info with the versions it imported", "[release]") {
  WorkerProcess w(worker_argv("1.31.4"), "release 1.31.4");
  auto reply = w.request({{"op", "info"}}, 60s);
  REQUIRE(reply.ok());
  CHECK(reply.body["info"]["x_transformers"] == "1.31.4");
  CHECK(reply.body["info"]["torch"].get<std::string>().rfind("2.13.0", 0) == 0);
  CHECK(w.hello()["x_transformers_path"].get<std::string>().find("/releases/1.31.4/") != std::string::npos);
  // Many requests, one process.
  for (int i = 0; i < 5; ++i) REQUIRE(w.request({{"op", "info"}}, 60s).ok());
  CHECK(w.starts() == 1);
}

TEST_CASE("an unknown op or a Python exception is a clear error and the worker lives on", "[release]") {
  setenv("XCOMPAT_TEST_HOOKS", "1", 1);
  WorkerProcess w(worker_argv("2.31.10"), "release 2.31.10");
  auto bad = w.request({{"op", "no-such-op"}}, 60s);
  CHECK(bad.fault == WorkerFault::Exception);
  CHECK_THAT(bad.error, Catch::Contains("unknown op 'no-such-op'"));

  auto raised = w.request({{"op", "debug"}, {"action", "raise"}}, 60s);
  CHECK(raised.fault == WorkerFault::Exception);
  CHECK_THAT(raised.error, Catch::Contains("ValueError: debug: raised on request"));
  CHECK(w.request({{"op", "info"}}, 60s).ok());
  CHECK(w.starts() == 1);  // an exception does not cost a restart
}

TEST_CASE("a spec describes a module only from the driver's allow-list; the module it builds is real", "[release]") {
  test::TempDir dir;
  WorkerProcess w(worker_command(Consumer{"2.31.10", "python", ""}), "release 2.31.10");
  auto spec = [](const json& activation) {
    return json{{"name", "module-spec"}, {"model", "decoder"}, {"seed", 3}, {"batch", 2}, {"seq_len", 8}, {"mask", "none"},
                {"wrapper", {{"num_tokens", 32}, {"max_seq_len", 8}}},
                {"layers", {{"dim", 16}, {"depth", 1}, {"heads", 2}, {"ff_custom_activation", activation}}}};
  };
  // A spec file is untrusted: a name outside the allow-list builds nothing.
  int n = 0;
  for (const char* hostile : {"Module", "Transformer", "../os", "__class__"}) {
    const auto out = dir / ("hostile-" + std::to_string(n++));
    std::filesystem::create_directories(out);
    auto r = w.request({{"op", "make_fixture"}, {"spec", spec({{"module", hostile}})}, {"out_dir", out.string()}}, 120s);
    REQUIRE(r.ok());
    CHECK(r.body["status"] == "unsupported");
    CHECK_THAT(r.body["reason"].get<std::string>(), Catch::Contains("a spec may describe"));
  }
  // An allowed one is built and changes the model: Sigmoid and Tanh fixtures differ.
  std::map<std::string, std::string> logits_sha;
  for (const char* allowed : {"Sigmoid", "Tanh"}) {
    std::filesystem::create_directories(dir / allowed);
    auto r = w.request({{"op", "make_fixture"}, {"spec", spec({{"module", allowed}})}, {"out_dir", (dir / allowed).string()}}, 120s);
    REQUIRE(r.ok());
    REQUIRE(r.body["status"] == "ok");
    logits_sha[allowed] = r.body["meta"]["files"]["outputs.safetensors"];
  }
  CHECK(logits_sha["Sigmoid"] != logits_sha["Tanh"]);
}

TEST_CASE("a worker killed by a signal gives the signal and its stderr, then restarts", "[release]") {
  setenv("XCOMPAT_TEST_HOOKS", "1", 1);
  WorkerProcess w(worker_argv("1.0.4"), "release 1.0.4");
  REQUIRE(w.request({{"op", "info"}}, 60s).ok());
  auto crashed = w.request({{"op", "debug"}, {"action", "signal"}}, 60s);
  CHECK(crashed.fault == WorkerFault::Crash);
  CHECK_THAT(crashed.error, Catch::Contains("signal 11"));
  CHECK_THAT(crashed.error, Catch::Contains("about to die by SIGSEGV"));  // the stderr tail
  auto after = w.request({{"op", "info"}}, 60s);
  CHECK(after.ok());
  CHECK(w.starts() == 2);
}

TEST_CASE("a worker that exits mid-request is a crash with its exit status", "[release]") {
  setenv("XCOMPAT_TEST_HOOKS", "1", 1);
  WorkerProcess w(worker_argv("1.0.4"), "release 1.0.4");
  auto gone = w.request({{"op", "debug"}, {"action", "exit"}}, 60s);
  CHECK(gone.fault == WorkerFault::Crash);
  CHECK_THAT(gone.error, Catch::Contains("exited with status 3"));
  CHECK(w.request({{"op", "info"}}, 60s).ok());
}

TEST_CASE("a hung worker is killed at its timeout and the next request gets a fresh one", "[release]") {
  setenv("XCOMPAT_TEST_HOOKS", "1", 1);
  WorkerProcess w(worker_argv("1.0.4"), "release 1.0.4");
  REQUIRE(w.request({{"op", "info"}}, 60s).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto hung = w.request({{"op", "debug"}, {"action", "hang"}}, 1500ms);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(hung.fault == WorkerFault::Timeout);
  CHECK_THAT(hung.error, Catch::Contains("timeout"));
  CHECK(waited < 30s);  // killed, not waited on
  CHECK(w.request({{"op", "info"}}, 60s).ok());
  CHECK(w.starts() == 2);
}

TEST_CASE("debug hooks are refused without XCOMPAT_TEST_HOOKS", "[release]") {
  unsetenv("XCOMPAT_TEST_HOOKS");
  WorkerProcess w(worker_argv("1.0.4"), "release 1.0.4");
  auto r = w.request({{"op", "debug"}, {"action", "signal"}}, 60s);
  CHECK(r.fault == WorkerFault::Exception);
  CHECK(w.starts() == 1);
}

TEST_CASE("an unknown release fails to start with a clear message", "[release]") {
  WorkerProcess w(worker_argv("9.9.9"), "release 9.9.9");
  auto r = w.request({{"op", "info"}}, 60s);
  CHECK(r.fault == WorkerFault::StartFailed);
  CHECK_THAT(r.error, Catch::Contains("not installed"));
}
