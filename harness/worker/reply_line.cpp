#include "harness/worker/reply_line.hpp"

#include <fmt/format.h>

namespace xcompat {

const char* worker_fault_name(WorkerFault f) {
  switch (f) {
    case WorkerFault::None: return "none";
    case WorkerFault::Exception: return "exception";
    case WorkerFault::Crash: return "crash";
    case WorkerFault::Timeout: return "timeout";
    case WorkerFault::Protocol: return "protocol";
    case WorkerFault::StartFailed: return "start-failed";
  }
  return "?";
}

WorkerReply parse_reply_line(const std::string& line, long id, const std::string& label) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(line);
  } catch (const std::exception&) {
    return {WorkerFault::Protocol, nullptr, "sent a malformed reply: " + line.substr(0, 200)};
  }
  if (!body.is_object()) return {WorkerFault::Protocol, nullptr, "sent a reply that is not an object: " + line.substr(0, 200)};
  const auto& got = body.contains("id") ? body["id"] : nlohmann::json();
  if (!got.is_number_integer() || got.get<long>() != id)
    return {WorkerFault::Protocol, nullptr, fmt::format("answered request {} with id {}", id, got.dump().substr(0, 40))};
  const auto& ok = body.contains("ok") ? body["ok"] : nlohmann::json();
  if (!ok.is_boolean() || !ok.get<bool>()) {
    const auto& err = body.contains("error") ? body["error"] : nlohmann::json();
    return {WorkerFault::Exception, body,
            fmt::format("{}: {}", label, err.is_string() ? err.get<std::string>() : std::string("unknown error"))};
  }
  return {WorkerFault::None, std::move(body), {}};
}

}  // namespace xcompat
