#include "harness/worker/worker_pool.hpp"

#include "harness/worker/launch.hpp"

namespace xcompat {

WorkerProcess& WorkerPool::get(const Consumer& c, const std::string& slot) {
  std::lock_guard lock(m_);
  auto& w = workers_[slot];
  if (!w) w = std::make_unique<WorkerProcess>(worker_command(c), c.label());
  return *w;
}

void WorkerPool::account(const WorkerProcess& w) {
  stopped_starts_ += w.starts();
  stopped_start_seconds_ += w.start_seconds_total();
}

void WorkerPool::release(const std::string& name) {
  std::unique_ptr<WorkerProcess> w;  // stopped outside the lock
  {
    std::lock_guard lock(m_);
    auto it = workers_.find(name);
    if (it == workers_.end()) return;
    account(*it->second);
    w = std::move(it->second);
    workers_.erase(it);
  }
}

void WorkerPool::stop_all() {
  std::lock_guard lock(m_);
  for (auto& [_, w] : workers_) account(*w);
  workers_.clear();
}

int WorkerPool::starts() {
  std::lock_guard lock(m_);
  int n = stopped_starts_;
  for (auto& [_, w] : workers_) n += w->starts();
  return n;
}

double WorkerPool::start_seconds() {
  std::lock_guard lock(m_);
  double s = stopped_start_seconds_;
  for (auto& [_, w] : workers_) s += w->start_seconds_total();
  return s;
}

}  // namespace xcompat
