// libFuzzer target: a worker's reply line as the main side reads it, then
// the evaluate reply's body as a cell result. A bad line is a Protocol
// fault or an Exception reply; a bad body is an Error; nothing else.
#include <cstdint>
#include <string>

#include "harness/core/error.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/reply_line.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  const xcompat::WorkerReply r = xcompat::parse_reply_line(line, 7, "fuzz");
  if (!r.ok()) return 0;
  try {
    const auto reply = xcompat::CellReply::from_json(r.body);
    (void)reply.result(xcompat::CellKey{"s", "1.0.0", "1.0.0"}).line();
  } catch (const xcompat::Error&) {
  }
  return 0;
}
