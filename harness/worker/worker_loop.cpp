#include "harness/worker/worker_loop.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace xcompat {

namespace {
void write_line(int fd, const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w <= 0) _exit(0);  // the main side is gone: nothing left to serve
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}
}  // namespace

int serve_worker(const WorkerHandlers& handlers) {
  std::fflush(stdout);
  const int proto = dup(1);  // replies go here, and only here
  dup2(2, 1);                // stray prints land on stderr

  json hello;
  try {
    hello = handlers.hello();
    hello["ready"] = true;
  } catch (const std::exception& e) {
    write_line(proto, {{"ready", false}, {"error", e.what()}});
    return 1;
  }
  write_line(proto, hello);

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json reply;
    json id = nullptr;
    try {
      json req = json::parse(line);
      id = req.value("id", json(nullptr));
      reply = handlers.handle(req);
      reply["ok"] = true;
    } catch (const std::exception& e) {
      reply = {{"ok", false}, {"error", e.what()}};
    }
    reply["id"] = id;
    write_line(proto, reply);
  }
  return 0;
}

}  // namespace xcompat
