#include "harness/worker/worker_process.hpp"

#include <cstdlib>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "harness/core/error.hpp"

namespace xcompat {

namespace {
constexpr std::size_t kStderrTail = 4000;  // bytes of a dead worker's stderr kept for the error
constexpr std::size_t kMaxLine = 64u << 20;  // a reply longer than this is a protocol fault

using Clock = std::chrono::steady_clock;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return "ended";
}
}  // namespace


// Under XCOMPAT_WORKER_MEMORY_MB a failure may be the limit's doing, and
// how it shows varies (an abort, MemoryError, a SystemError from a failed
// allocation deep in Python): every failure says the limit was there.
// The note comes first: error texts are often cut at their first line.
std::string with_memory_limit(const std::string& error) {
  const char* mb = std::getenv("XCOMPAT_WORKER_MEMORY_MB");
  if (!mb || std::atol(mb) <= 0) return error;
  return fmt::format("[the worker ran under a memory limit of {} MiB: XCOMPAT_WORKER_MEMORY_MB] {}", mb, error);
}

WorkerProcess::WorkerProcess(WorkerCommand command, std::string label, std::chrono::milliseconds start_timeout)
    : command_(std::move(command)), label_(std::move(label)), start_timeout_(start_timeout) {
  // XCOMPAT_WORKER_START_TIMEOUT_S: how long a worker may take to become ready (a slow machine, a test).
  if (const char* s = std::getenv("XCOMPAT_WORKER_START_TIMEOUT_S"); s && std::atof(s) > 0)
    start_timeout_ = std::chrono::milliseconds(static_cast<long>(std::atof(s) * 1000));
  if (command_.argv.empty()) throw Error("worker argv is empty");
  signal(SIGPIPE, SIG_IGN);  // a dead worker must not kill the main process on write
}

WorkerProcess::~WorkerProcess() { stop(); }

void WorkerProcess::stop() {
  if (pid_ > 0) {
    close_fd(to_child_);  // EOF on stdin: a healthy worker exits by itself
    int status = 0;
    for (int i = 0; i < 50; ++i) {  // up to 0.5 s of grace, then SIGKILL
      if (waitpid(pid_, &status, WNOHANG) == pid_) { pid_ = -1; break; }
      usleep(10000);
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  close_fd(to_child_);
  close_fd(from_child_);
  close_fd(err_child_);
  out_buf_.clear();
}

WorkerReply WorkerProcess::start() {
  stop();
  err_tail_.clear();
  const auto t0 = Clock::now();
  LaunchedProcess p = launch_worker(command_, start_timeout_);
  if (!p.ok()) return {WorkerFault::StartFailed, {}, with_memory_limit(fmt::format("{}: {}", label_, p.error))};
  pid_ = p.pid;
  to_child_ = p.to_child;
  from_child_ = p.from_child;
  err_child_ = p.err_child;
  ++starts_;

  std::string line;
  auto r = read_line(line, Clock::now() + start_timeout_);
  start_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  if (r == ReadResult::Timeout) return fault_from_exit(WorkerFault::Timeout, "did not become ready in time");
  if (r == ReadResult::Eof) return fault_from_exit(WorkerFault::StartFailed, "died while starting");
  if (r == ReadResult::TooLong) return fault_from_exit(WorkerFault::Protocol, "sent a hello over the line limit");
  try {
    hello_ = nlohmann::json::parse(line);
  } catch (const std::exception&) {
    return fault_from_exit(WorkerFault::Protocol, "sent a malformed hello: " + line.substr(0, 200));
  }
  if (!hello_.value("ready", false)) {
    auto err = hello_.value("error", std::string("not ready"));
    stop();
    return {WorkerFault::StartFailed, {}, with_memory_limit(fmt::format("{}: {}", label_, err))};
  }
  if (!command_.expect_torch.empty()) {
    // "2.14.1+cu128" runs torch 2.14.1: the local version label is the build's.
    const std::string torch = hello_.value("torch", std::string("(none reported)"));
    if (torch.substr(0, torch.find('+')) != command_.expect_torch) {
      stop();
      return {WorkerFault::StartFailed, {},
              fmt::format("{}: runs torch {}, not torch {} (its venv holds another torch)", label_, torch,
                          command_.expect_torch)};
    }
  }
  return {};
}

WorkerProcess::ReadResult WorkerProcess::read_line(std::string& line, Clock::time_point deadline) {
  for (;;) {
    if (auto nl = out_buf_.find('\n'); nl != std::string::npos) {
      line = out_buf_.substr(0, nl);
      out_buf_.erase(0, nl + 1);
      return ReadResult::Line;
    }
    if (out_buf_.size() > kMaxLine) return ReadResult::TooLong;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ReadResult::Timeout;
    pollfd fds[2] = {{from_child_, POLLIN, 0}, {err_child_, POLLIN, 0}};
    int n = poll(fds, err_child_ >= 0 ? 2 : 1, static_cast<int>(std::min<long>(left, 1000)));
    if (n < 0 && errno != EINTR) return ReadResult::Eof;
    if (n <= 0) continue;
    if (err_child_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) drain_stderr();
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t got = ::read(from_child_, buf, sizeof buf);
      if (got <= 0) return ReadResult::Eof;
      out_buf_.append(buf, static_cast<std::size_t>(got));
    }
  }
}

void WorkerProcess::drain_stderr() {
  char buf[8192];
  ssize_t got = ::read(err_child_, buf, sizeof buf);
  if (got <= 0) {
    close_fd(err_child_);
    return;
  }
  err_tail_.append(buf, static_cast<std::size_t>(got));
  if (err_tail_.size() > 2 * kStderrTail) err_tail_.erase(0, err_tail_.size() - kStderrTail);
}

WorkerReply WorkerProcess::fault_from_exit(WorkerFault kind, const std::string& what) {
  int status = 0;
  std::string how = "still running; killed";
  if (pid_ > 0) {
    if (kind == WorkerFault::Timeout || kind == WorkerFault::Protocol) kill(pid_, SIGKILL);
    if (waitpid(pid_, &status, 0) == pid_) how = describe_status(status);
    pid_ = -1;
  }
  // Whatever the worker printed last is the best clue: read what is left.
  while (err_child_ >= 0) {
    pollfd p{err_child_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) break;
    drain_stderr();
  }
  stop();
  std::string tail = err_tail_.size() > kStderrTail ? err_tail_.substr(err_tail_.size() - kStderrTail) : err_tail_;
  std::string msg = fmt::format("worker {} {} ({})", label_, what, how);
  msg = with_memory_limit(msg);
  if (!tail.empty()) msg += "; stderr tail:\n" + tail;
  return {kind, {}, msg};
}

WorkerReply WorkerProcess::request(nlohmann::json req, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    if (auto started = start(); !started.ok()) return started;
  }
  const long id = next_id_++;
  req["id"] = id;
  std::string line = req.dump() + "\n";
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t w = ::write(to_child_, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fault_from_exit(WorkerFault::Crash, "closed its input");
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  std::string reply;
  auto r = read_line(reply, Clock::now() + timeout);
  if (r == ReadResult::Timeout)
    return fault_from_exit(WorkerFault::Timeout, fmt::format("exceeded its {} ms timeout on '{}'", timeout.count(),
                                                             req.value("op", "?")));
  if (r == ReadResult::Eof) return fault_from_exit(WorkerFault::Crash, "died during '" + req.value("op", "?") + "'");
  if (r == ReadResult::TooLong)
    return fault_from_exit(WorkerFault::Protocol, fmt::format("sent a reply line over {} MiB", kMaxLine >> 20));
  WorkerReply parsed = parse_reply_line(reply, id, label_);
  // A worker out of step with the protocol cannot be trusted with the next request.
  if (parsed.fault == WorkerFault::Protocol) return fault_from_exit(WorkerFault::Protocol, parsed.error);
  if (parsed.fault == WorkerFault::Exception) parsed.error = with_memory_limit(parsed.error);
  return parsed;
}

}  // namespace xcompat
