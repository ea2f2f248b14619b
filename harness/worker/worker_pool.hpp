#pragma once
// Workers by consumer name, started lazily and shared by a command's phases,
// so a release's worker starts once per sweep (the fixture phase and the cell
// phase use the same one). Thread-safe; each worker is used by one thread at
// a time (the callers partition the work by consumer).
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "harness/core/consumers.hpp"
#include "harness/worker/worker_process.hpp"

namespace xcompat {

class WorkerPool {
 public:
  // The consumer's worker (not started until its first request).
  WorkerProcess& get(const Consumer& c) { return get(c, c.name); }
  // A worker of `c` of its own, under another name (`slot`): a lane that
  // runs a release's code beside that release's own lane (decode-cache)
  // must not share its process.
  WorkerProcess& get(const Consumer& c, const std::string& slot);
  // Stops the consumer's worker (its starts stay counted).
  void release(const std::string& name);
  void stop_all();

  int starts();             // worker processes started so far, stopped ones included
  double start_seconds();   // time spent starting them

 private:
  void account(const WorkerProcess& w);
  std::mutex m_;
  std::map<std::string, std::unique_ptr<WorkerProcess>> workers_;
  int stopped_starts_ = 0;
  double stopped_start_seconds_ = 0;
};

}  // namespace xcompat
