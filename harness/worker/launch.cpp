#include "harness/worker/launch.hpp"

#include "harness/core/runtime.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "harness/core/paths.hpp"
#include "harness/worker/zygote.hpp"

extern char** environ;

namespace xcompat {

namespace {

LaunchedProcess spawn_worker(const std::vector<std::string>& argv) {
  LaunchedProcess out;
  if (argv.empty()) {
    out.error = "worker argv is empty";
    return out;
  }
  int in[2], o[2], e[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
    out.error = fmt::format("pipe: {}", strerror(errno));
    return out;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, o[1], 1);
  posix_spawn_file_actions_adddup2(&actions, e[1], 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(o[1]);
  ::close(e[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(o[0]);
    ::close(e[0]);
    out.error = fmt::format("cannot start {}: {}", argv[0], strerror(rc));
    return out;
  }
  return {pid, in[1], o[0], e[0], {}};
}

}  // namespace

WorkerCommand worker_command(const Consumer& consumer) {
  if (consumer.kind == "python") {
    // A release under another torch runs its release's sandbox in that torch's venv.
    const std::string venv = venv_of(consumer.name).string(), release = release_of(consumer.name);
    return {{worker_executable("xcompat-python-worker").string(), "--release", release, "--venv", venv},
            venv,
            release,
            parse_runtime(consumer.name).torch};
  }
  return WorkerCommand::spawn({worker_executable("xcompat-native-worker").string(), "--consumer", consumer.name});
}

bool zygote_start_enabled() {
  const char* v = std::getenv("XCOMPAT_WORKER_START");
  return !(v && std::string(v) == "spawn");
}

LaunchedProcess launch_worker(const WorkerCommand& command, std::chrono::milliseconds timeout) {
  if (!command.zygote_venv.empty() && zygote_start_enabled())
    return Zygote::for_venv(command.zygote_venv).fork_worker(command.release, timeout);
  return spawn_worker(command.argv);
}

}  // namespace xcompat
