#pragma once
// A tiny work queue: run fn(i) for i in [0, n) on `jobs` threads. Items are
// taken in order; fn must be thread-safe. Exceptions are rethrown after all
// threads stop (the first one wins).
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace xcompat {

inline void parallel_for(std::size_t n, int jobs, const std::function<void(std::size_t item, int worker)>& fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr first;
  std::mutex m;
  auto body = [&](int w) {
    for (std::size_t i; (i = next++) < n;) {
      try {
        fn(i, w);
      } catch (...) {
        std::lock_guard lock(m);
        if (!first) first = std::current_exception();
        next = n;
      }
    }
  };
  const int k = std::max(1, std::min<int>(jobs, static_cast<int>(n)));
  std::vector<std::thread> threads;
  for (int w = 1; w < k; ++w) threads.emplace_back(body, w);
  body(0);
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace xcompat
