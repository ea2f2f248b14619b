// `xcompat worker`: the one user-facing command stays `xcompat`; the workers
// are separate executables so that only they load torch and Python.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/core/paths.hpp"
#include "harness/worker/launch.hpp"

namespace xcompat::cli {

int exec_worker(const std::string& release, const std::string& consumer) {
  if (release.empty() == consumer.empty()) {
    fmt::print(stderr, "xcompat worker: give --release V or --consumer cpp-native\n");
    return 2;
  }
  const Consumer c = release.empty() ? Consumer{consumer, "cpp", ""} : Consumer{release, "python", ""};
  const std::vector<std::string> argv = worker_command(c).argv;
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  fmt::print(stderr, "xcompat worker: cannot run {}: {}\n", argv[0], std::strerror(errno));
  return 2;
}

}  // namespace xcompat::cli
