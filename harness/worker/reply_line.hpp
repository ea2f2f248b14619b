#pragma once
// One line of the worker protocol, as the main side reads it: the reply to
// request `id`, or the fault it shows. Pure (no process is touched), so the
// fuzz target and the worker process share it.
#include <string>

#include <nlohmann/json.hpp>

namespace xcompat {

enum class WorkerFault { None, Exception, Crash, Timeout, Protocol, StartFailed };
const char* worker_fault_name(WorkerFault f);

struct WorkerReply {
  WorkerFault fault = WorkerFault::None;
  nlohmann::json body;  // the reply object when fault is None
  std::string error;    // human-readable, with the stderr tail for crashes

  bool ok() const { return fault == WorkerFault::None; }
};

// What one reply line says about request `id`: a Protocol fault (not JSON,
// not an object, another id), an Exception (ok false, with its error text),
// or the reply. Pure: the worker is not touched (the fuzz target's entry).
WorkerReply parse_reply_line(const std::string& line, long id, const std::string& label);

}  // namespace xcompat
