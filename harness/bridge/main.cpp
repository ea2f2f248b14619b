// xcompat-python-worker: the release worker executable. Started by xcompat
// (spawned, or as the zygote that forks release workers); not a user command.
#include <cstdio>
#include <cstring>
#include <string>

#include "harness/bridge/python_worker.hpp"
#include "harness/core/paths.hpp"

int main(int argc, char** argv) {
  std::string release;
  std::filesystem::path venv = xcompat::default_venv();
  bool zygote = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--zygote") zygote = true;
    else if (a == "--release" && i + 1 < argc) release = argv[++i];
    else if (a == "--venv" && i + 1 < argc) venv = argv[++i];
    else {
      std::fprintf(stderr, "usage: xcompat-python-worker (--release V | --zygote) [--venv DIR]\n");
      return 2;
    }
  }
  if (zygote) return xcompat::run_python_zygote(venv);
  if (release.empty()) {
    std::fprintf(stderr, "xcompat-python-worker: give --release V or --zygote\n");
    return 2;
  }
  return xcompat::run_python_worker(release, venv);
}
