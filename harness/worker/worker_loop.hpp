#pragma once
// The worker side of the line protocol (see docs/ARCHITECTURE.md, "Worker
// protocol"): one JSON object per line on stdin, one reply per line on the
// protocol fd. Anything else the process prints (Python warnings, libtorch
// logs) goes to stderr, because the loop moves fd 1 onto fd 2 before the
// handler runs.
#include <functional>

#include <nlohmann/json.hpp>

namespace xcompat {

using json = nlohmann::json;

struct WorkerHandlers {
  // Runs once before serving; returns the hello fields (versions, paths).
  // Throwing makes the hello {"ready": false, "error": ...}.
  std::function<json()> hello;
  // Serves one request; the reply gets "ok": true and the request's "id".
  // Throwing makes the reply {"ok": false, "error": what()}.
  std::function<json(const json& request)> handle;
};

// Serves until stdin closes. Returns the process exit code.
int serve_worker(const WorkerHandlers& handlers);

}  // namespace xcompat
