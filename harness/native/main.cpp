// xcompat-native-worker: the C++ consumers' worker executable (the only one
// that links libtorch). Started by xcompat; not a user command.
#include <cstdio>
#include <string>

#include "harness/native/native_worker.hpp"

int main(int argc, char** argv) {
  std::string consumer;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--consumer" && i + 1 < argc) consumer = argv[++i];
    else {
      std::fprintf(stderr, "usage: xcompat-native-worker --consumer cpp-native\n");
      return 2;
    }
  }
  if (consumer == "cpp-native") return xcompat::run_native_worker();
  std::fprintf(stderr, "xcompat-native-worker: unknown consumer '%s' (known: cpp-native)\n", consumer.c_str());
  return 2;
}
