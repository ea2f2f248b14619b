#pragma once
// The main side of a worker: one child process speaking JSON lines.
//
// Lifecycle (each transition names the function that makes it):
//
//   stopped --start()--> starting --(hello line)--> ready
//   (start() spawns the command, or forks it from a zygote: launch.hpp)
//   ready --request()--> busy --(reply line)--> ready
//   busy --(EOF / signal / exit)--> crashed --request() restarts--> starting
//   busy --(deadline passed)--> killed (SIGKILL) --request() restarts--> starting
//   any --stop() / ~WorkerProcess--> stopped
//
// A request never throws for worker faults: it returns a WorkerReply whose
// `fault` says what happened (exception text from the worker, or the signal /
// exit status and the tail of its stderr), and the next request starts a
// fresh process. Only misuse (bad argv) throws.
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/worker/launch.hpp"

#include "harness/worker/reply_line.hpp"

namespace xcompat {

class WorkerProcess {
 public:
  WorkerProcess(WorkerCommand command, std::string label,
                // Generous: importing torch and a release under a loaded
                // machine has taken over two minutes here.
                std::chrono::milliseconds start_timeout = std::chrono::seconds(300));
  WorkerProcess(std::vector<std::string> argv, std::string label,
                std::chrono::milliseconds start_timeout = std::chrono::seconds(300))
      : WorkerProcess(WorkerCommand::spawn(std::move(argv)), std::move(label), start_timeout) {}
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends one request object (an "id" is added) and waits for its reply.
  WorkerReply request(nlohmann::json req, std::chrono::milliseconds timeout);

  // What the worker said when it became ready (versions, paths).
  const nlohmann::json& hello() const { return hello_; }
  const std::string& label() const { return label_; }
  int starts() const { return starts_; }
  double start_seconds_total() const { return start_seconds_; }
  bool running() const { return pid_ > 0; }
  void stop();

 private:
  WorkerReply start();
  // Reads until a full line arrives on stdout or the deadline passes,
  // draining stderr into the tail buffer meanwhile.
  enum class ReadResult { Line, Eof, Timeout, TooLong };
  ReadResult read_line(std::string& line, std::chrono::steady_clock::time_point deadline);
  WorkerReply fault_from_exit(WorkerFault kind, const std::string& what);
  void drain_stderr();

  WorkerCommand command_;
  std::string label_;
  std::chrono::milliseconds start_timeout_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1, err_child_ = -1;
  std::string out_buf_, err_tail_;
  nlohmann::json hello_;
  long next_id_ = 1;
  int starts_ = 0;
  double start_seconds_ = 0;
};

}  // namespace xcompat
