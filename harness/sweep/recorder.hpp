#pragma once
// The sweep's only door to the store while cells run: results are batched and
// written one transaction per batch (kBatchSize cells or kBatchInterval,
// whichever comes first); every store call is timed and serialised.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "harness/core/cell.hpp"
#include "matrix/store.hpp"

namespace xcompat {

class Recorder {
 public:
  static constexpr std::size_t kBatchSize = 64;
  static constexpr auto kBatchInterval = std::chrono::seconds(2);

  // XCOMPAT_TEST_KILL_AFTER_CELLS=N (fault injection for the resume tests):
  // SIGKILL this process right after the N-th cell is committed, like an OOM
  // kill or a cancelled CI job.
  Recorder(Store& store, int64_t run_id);

  void add(const CellResult& c);
  void flush();

  // Runs f(store) under the recorder's lock, timed as database work.
  template <class F>
  auto with_store(F&& f) {
    std::lock_guard lock(m_);
    Timed t(db_seconds_);
    return f(store_);
  }
  double db_seconds();

 private:
  // Adds the scope's duration to a counter (the caller holds the lock).
  struct Timed {
    double& into;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    explicit Timed(double& d) : into(d) {}
    ~Timed() { into += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  };
  void flush_locked();

  Store& store_;
  int64_t run_id_;
  std::mutex m_;
  std::vector<CellResult> pending_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  long kill_after_ = 0, recorded_ = 0;
  double db_seconds_ = 0;
};

}  // namespace xcompat
