#pragma once
// How a worker process comes to life. Two ways, one result:
//
//   spawn   posix_spawn(argv): a fresh process (the C++ consumers, and any
//           worker when XCOMPAT_WORKER_START=spawn).
//   zygote  a Python release worker forked from its venv's pre-warmed
//           interpreter, which has already imported torch and the packages
//           every release shares (harness/worker/zygote.hpp). It pays
//           `import torch` once per sweep instead of once per release.
//
// Either way the caller gets the pid of a process it can waitpid() and
// signal, and the parent ends of its stdin, stdout and stderr pipes.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "harness/core/consumers.hpp"

namespace xcompat {

struct WorkerCommand {
  std::vector<std::string> argv;  // what spawn runs; also how the worker is named in errors
  std::string zygote_venv;        // non-empty: fork from this venv's zygote instead
  std::string release;            // the release a forked worker imports
  // Non-empty: the torch the worker must report in its hello ("2.14.1" for
  // a runtime "R-torch2.14.1"); a worker that runs another is a failed start.
  std::string expect_torch;

  static WorkerCommand spawn(std::vector<std::string> argv) { return {std::move(argv), {}, {}, {}}; }
};

struct LaunchedProcess {
  pid_t pid = -1;
  int to_child = -1, from_child = -1, err_child = -1;
  std::string error;  // set when no process was started
  bool ok() const { return pid > 0; }
};

// The worker that serves `consumer`: a release worker
// (xcompat-python-worker --release V, forked from the default venv's zygote)
// or a C++ consumer (xcompat-native-worker --consumer NAME, spawned).
WorkerCommand worker_command(const Consumer& consumer);

// "spawn" or "zygote": XCOMPAT_WORKER_START, default zygote.
bool zygote_start_enabled();

// Starts the worker. Never throws for a failure to start: `error` says why.
LaunchedProcess launch_worker(const WorkerCommand& command, std::chrono::milliseconds timeout);

}  // namespace xcompat
