#include "harness/worker/worker_loop.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>
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

bool test_hooks() {
  const char* h = std::getenv("XCOMPAT_TEST_HOOKS");
  return h && std::string(h) == "1";
}

// XCOMPAT_WORKER_MEMORY_MB caps the worker's address space: a spec that
// needs more fails its own allocation (an ERROR cell naming it) instead of
// taking the machine.
void apply_memory_limit() {
  const char* mb = std::getenv("XCOMPAT_WORKER_MEMORY_MB");
  if (!mb || std::atol(mb) <= 0) return;
  const rlim_t bytes = static_cast<rlim_t>(std::atol(mb)) << 20;
  rlimit r{bytes, bytes};
  setrlimit(RLIMIT_AS, &r);
}

// Faults a worker can show, on request, for the reliability tests (only with
// XCOMPAT_TEST_HOOKS=1): each must end as one ERROR cell with its cause.
void injected_fault(int proto, const std::string& action, const json& id) {
  if (action == "partial-reply") {
    const std::string half = "{\"id\": " + id.dump() + ", \"ok\": tr";
    (void)!::write(proto, half.data(), half.size());
    _exit(3);
  }
  if (action == "huge-reply") {
    std::string s = "{\"id\": " + id.dump() + ", \"ok\": true, \"pad\": \"";
    s.append(size_t{65} << 20, 'x');
    s += "\"}\n";
    (void)!::write(proto, s.data(), s.size());
    return;
  }
  if (action == "wrong-id") {
    write_line(proto, {{"id", id.is_number_integer() ? id.get<long>() + 1000 : 1000}, {"ok", true}});
    return;
  }
  if (action == "stderr-flood") {  // 200 MiB on stderr, then a proper reply
    const std::string chunk(1 << 20, 'e');
    for (int i = 0; i < 200; ++i) (void)!::write(2, chunk.data(), chunk.size());
    write_line(proto, {{"id", id}, {"ok", true}, {"flooded", true}});
    return;
  }
  if (action == "oom") {  // allocate and touch until the allocator says no
    std::vector<std::unique_ptr<char[]>> held;
    for (;;) {
      held.emplace_back(new char[size_t{64} << 20]);
      std::memset(held.back().get(), 1, size_t{64} << 20);
    }
  }
  write_line(proto, {{"id", id}, {"ok", false}, {"error", "unknown injected fault '" + action + "'"}});
}

}  // namespace

int serve_worker(const WorkerHandlers& handlers) {
  std::fflush(stdout);
  const int proto = dup(1);  // replies go here, and only here
  dup2(2, 1);                // stray prints land on stderr
  apply_memory_limit();
  if (const char* ms = std::getenv("XCOMPAT_TEST_SLOW_START_MS"); ms && test_hooks())
    ::usleep(static_cast<useconds_t>(std::atol(ms)) * 1000);

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
      if (req.value("op", "") == "fault" && test_hooks()) {
        injected_fault(proto, req.value("action", ""), id);
        continue;
      }
      reply = handlers.handle(req);
      reply["ok"] = true;
    } catch (const std::bad_alloc&) {
      const char* mb = std::getenv("XCOMPAT_WORKER_MEMORY_MB");
      reply = {{"ok", false},
               {"error", std::string("out of memory: an allocation failed") +
                             (mb ? std::string(" under the worker's limit of ") + mb + " MiB (XCOMPAT_WORKER_MEMORY_MB)" : "")}};
    } catch (const std::exception& e) {
      reply = {{"ok", false}, {"error", e.what()}};
    }
    reply["id"] = id;
    write_line(proto, reply);
  }
  return 0;
}

}  // namespace xcompat
