// xcompat-native-worker: the C++ consumers' worker executable (the only one
// that links libtorch). Started by xcompat; not a user command.
#include <cstdio>
#include <string>

#include "harness/native/deployed_worker.hpp"
#include "harness/native/native_worker.hpp"
#include "harness/native/spec_options.hpp"

int main(int argc, char** argv) {
  std::string consumer;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--consumer" && i + 1 < argc) consumer = argv[++i];
    else if (a == "--list-arguments") {
      // For scripts/port_coverage: what the port takes, and why not the rest.
      std::printf("%s\n", xcompat::native::argument_table().dump(1).c_str());
      return 0;
    }
    else {
      std::fprintf(stderr, "usage: xcompat-native-worker --consumer cpp-native|cpp-native-decode|cpp-torchscript|cpp-export | --list-arguments\n");
      return 2;
    }
  }
  if (consumer == "cpp-native" || consumer == "cpp-native-decode") return xcompat::run_native_worker();
  if (consumer == "cpp-torchscript" || consumer == "cpp-export") return xcompat::run_deploy_worker(consumer.c_str());
  std::fprintf(stderr, "xcompat-native-worker: unknown consumer '%s' (known: cpp-native, cpp-native-decode, cpp-torchscript, cpp-export)\n",
               consumer.c_str());
  return 2;
}
