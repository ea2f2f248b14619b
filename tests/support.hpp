#pragma once
// Helpers shared by the tests: temp dirs, running the real xcompat binary.
#include <unistd.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace xcompat::test {

namespace fs = std::filesystem;

// A fresh directory removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("xcompat-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& s) const { return path / s; }
};

// A whole file as a string ("" when it cannot be read).
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout (stderr goes to the test log unless merged)
};

// Runs a shell command line; captures stdout.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// `xcompat ARGS` with XCOMPAT_STATE pointing at `state` (fresh fixtures and
// database per test; the release sandboxes stay where scripts/setup put them).
inline CommandResult xcompat(const fs::path& state, const std::string& args, bool merge_stderr = false) {
  std::string cmd = "XCOMPAT_STATE='" + state.string() + "' '" XCOMPAT_BIN "' " + args;
  if (merge_stderr) cmd += " 2>&1";
  return run_command(cmd);
}

}  // namespace xcompat::test
