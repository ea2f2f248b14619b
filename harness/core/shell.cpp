#include "harness/core/shell.hpp"

#include <cstdio>

namespace xcompat {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

ShellResult run_shell(const std::string& command) {
  ShellResult r;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[8192];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    r.status = pclose(p);
  }
  return r;
}

}  // namespace xcompat
