// The worker protocol as the main side reads it (harness/worker/reply_line.hpp,
// cell_reply.hpp): every malformed line is a Protocol fault, every malformed
// evaluate body an Error, never an exception of another kind (the sweep turns
// those into one ERROR cell). Inputs found by scripts/fuzz are kept here.
#include "catch.hpp"
#include "harness/core/error.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/reply_line.hpp"

using namespace xcompat;

TEST_CASE("a reply line is the reply, an exception, or a protocol fault", "[unit]") {
  CHECK(parse_reply_line(R"({"id": 7, "ok": true, "verdict": "IDENTICAL"})", 7, "w").ok());
  const auto ex = parse_reply_line(R"({"id": 7, "ok": false, "error": "boom"})", 7, "release 1.0.4");
  CHECK(ex.fault == WorkerFault::Exception);
  CHECK(ex.error == "release 1.0.4: boom");
  for (const char* bad : {"", "not json", "[1, 2]", "7", R"({"id": 8, "ok": true})", R"({"id": "7", "ok": true})",
                          R"({"ok": true})", "{\"id\": 7, \"ok\": true"}) {
    INFO(bad);
    CHECK(parse_reply_line(bad, 7, "w").fault == WorkerFault::Protocol);
  }
  // `ok` that is not a boolean, an error that is not a string: an exception reply, said as such.
  CHECK(parse_reply_line(R"({"id": 7, "ok": 1})", 7, "w").fault == WorkerFault::Exception);
  CHECK(parse_reply_line(R"({"id": 7, "ok": false, "error": [1]})", 7, "w").error == "w: unknown error");
}

TEST_CASE("fuzz findings: evaluate bodies with fields of the wrong type are an Error", "[unit]") {
  // scripts/fuzz (fuzz_protocol), 2026-11-30: metrics.bitwise a number threw json's type_error.
  const char* found =
      R"({"id":7,"ok":true,"verdict":"CLOSE","metrics":{"max_abs":1.2e-06,"bitwise":3.1e-05,"mean_abs":2.2e-07,)"
      R"("nse":1.1e-13,"czoN10__cxxabivsine":1.0,"top1":1.0,"biue_ms":0.1}})";
  const auto line = parse_reply_line(found, 7, "w");
  REQUIRE(line.ok());
  CHECK_THROWS_AS(CellReply::from_json(line.body), Error);
  for (const char* body : {R"({"verdict": "CLOSE", "load_report": 5})", R"({"verdict": "CLOSE", "error": 1})",
                           R"({"verdict": "CLOSE", "latency_ms": "x"})", R"({"verdict": "NOT_A_VERDICT"})", "[]"}) {
    INFO(body);
    CHECK_THROWS_AS(CellReply::from_json(nlohmann::json::parse(body)), Error);
  }
}
