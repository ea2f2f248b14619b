#include "harness/sweep/recorder.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "harness/core/fault_points.hpp"

namespace xcompat {

Recorder::Recorder(Store& store, int64_t run_id) : store_(store), run_id_(run_id) {
  if (const char* n = std::getenv("XCOMPAT_TEST_KILL_AFTER_CELLS")) kill_after_ = std::atol(n);
}

void Recorder::add(const CellResult& c) {
  std::lock_guard lock(m_);
  pending_.push_back(c);
  if (pending_.size() >= kBatchSize || std::chrono::steady_clock::now() - last_ > kBatchInterval || kill_after_ > 0)
    flush_locked();
  if (kill_after_ > 0 && (recorded_ += 1) >= kill_after_) ::kill(getpid(), SIGKILL);
}

void Recorder::flush() {
  std::lock_guard lock(m_);
  flush_locked();
}

double Recorder::db_seconds() {
  std::lock_guard lock(m_);
  return db_seconds_;
}

void Recorder::flush_locked() {
  Timed t(db_seconds_);
  if (!pending_.empty()) fault_point("record.before-batch");
  store_.record(run_id_, pending_);
  if (!pending_.empty()) fault_point("record.after-batch");
  pending_.clear();
  last_ = std::chrono::steady_clock::now();
}

}  // namespace xcompat
