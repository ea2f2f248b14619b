#pragma once
// Running a shell command line and reading what it prints: pip (sandboxes,
// the package source) and diff (bisect's source changes).
#include <string>

namespace xcompat {

// Single quotes for the shell.
std::string shell_quote(const std::string& s);

struct ShellResult {
  int status = -1;  // as pclose returns it (WIFEXITED / WEXITSTATUS)
  std::string out;  // stdout (add " 2>&1" to the command for stderr too)
  bool ok() const { return status == 0; }
};
ShellResult run_shell(const std::string& command);

}  // namespace xcompat
