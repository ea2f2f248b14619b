#pragma once
// The main side of a zygote: one pre-warmed Python interpreter per venv that
// forks release workers on request.
//
// Why: `import torch` (and torch._dynamo, which einx pulls in) is most of a
// release worker's start. The zygote (`xcompat-python-worker --zygote`) pays
// it once; each release worker is a fork of it that only puts its sandbox
// first on sys.path and imports x_transformers.
//
// Lifecycle (each transition names the function that makes it):
//
//   stopped --fork_worker() starts it--> starting --(hello)--> ready
//   ready --fork_worker()--> ready           (one fork per request, serialised)
//   ready --(zygote dies)--> stopped --next fork_worker() restarts it
//   any --~Zygote (closes the socket; the zygote exits on EOF)--> stopped
//
// How a forked worker becomes our child: the zygote forks twice (zygote ->
// intermediate -> worker) and the intermediate exits at once, so the worker
// is re-parented to the nearest "child subreaper" above it, which is this
// process (prctl(PR_SET_CHILD_SUBREAPER) in start()). From then on the main
// side waitpid()s, signals and times out a forked worker exactly like a
// spawned one: a crash or hang still costs one cell and a restart.
//
// Fork safety: the zygote refuses to fork unless it is single-threaded at
// that moment (it reports its thread count in the hello; workers run torch
// with one thread and OpenBLAS is held to one thread before numpy loads).
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/worker/launch.hpp"

namespace xcompat {

class Zygote {
 public:
  // The zygote of `venv` in this process (one per venv and driver dir),
  // created on first use, never started until a fork is asked for.
  static Zygote& for_venv(const std::filesystem::path& venv);

  explicit Zygote(std::filesystem::path venv);
  ~Zygote();
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // A release worker forked from the zygote, with fresh pipes. Its hello
  // (on its stdout pipe) is the caller's to read. XCOMPAT_* variables of
  // this process's current environment are applied in the worker.
  LaunchedProcess fork_worker(const std::string& release, std::chrono::milliseconds timeout);

  // What the zygote said when it became ready ({} before it started).
  nlohmann::json hello();
  int starts() const { return starts_; }

 private:
  std::string start(std::chrono::milliseconds timeout);  // "" or why not
  void stop();
  std::string stderr_tail();

  std::filesystem::path venv_;
  std::mutex m_;
  pid_t pid_ = -1;
  int sock_ = -1, err_ = -1;
  std::string buffer_, err_tail_;
  nlohmann::json hello_;
  int starts_ = 0;
};

}  // namespace xcompat
