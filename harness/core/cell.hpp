#pragma once
// A cell: (spec, producer, consumer, device, dtype) and its result. One flat
// value; the terminal line, JUnit, the SQLite row and the HTML all read it.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/verdict.hpp"

namespace xcompat {

// JSON has no NaN or Infinity: non-finite figures travel as the strings
// "NaN", "Infinity" and "-Infinity" (and null reads as NaN), both ways.
nlohmann::json figure_to_json(double v);
double figure_from_json(const nlohmann::json& j, double fallback);

struct Metrics {
  double max_abs = 0, max_rel = 0, mean_abs = 0, nmse = 0, cosine = 1, top1 = 1;
  bool bitwise = false;
  nlohmann::json to_json() const;
  static Metrics from_json(const nlohmann::json& j);
};

// "0", "<1e-6", "<1e-4", "<1e-3", "<1e-2", "worse".
std::string nmse_band(double nmse);

struct LoadReport {
  std::vector<std::string> missing, unexpected, misshaped;
  bool empty() const { return missing.empty() && unexpected.empty() && misshaped.empty(); }
  nlohmann::json to_json() const;
  static LoadReport from_json(const nlohmann::json& j);
};

// A cell's identity. `checkpoint` is the file the consumer loads: the same
// tensors in two formats are two cells ("pt" or "safetensors").
struct CellKey {
  std::string spec, producer, consumer, device = "cpu", dtype = "float32", checkpoint = "pt";
  auto operator<=>(const CellKey&) const = default;
  std::string str() const;  // "spec producer -> consumer [device dtype checkpoint]"
};

struct CellResult {
  CellKey key;
  Verdict verdict = Verdict::Error;
  std::optional<Metrics> metrics;
  double latency_ms = 0;
  LoadReport load_report;
  std::string error;           // exception text, crash signal + stderr tail, or the UNSUPPORTED reason
  std::string cache_key;
  std::string tolerance_override;  // the override's reason, when one applied
  bool flaky = false;
  bool reused = false;  // answered from the store by cache key in this run, not evaluated again
  // The store's id of the outcome this result was read as (Store::find_cached),
  // 0 otherwise: recording it again as reused refers to that outcome instead
  // of hashing and storing it anew. Never serialised.
  int64_t stored_outcome = 0;
  // When the checkpoint does not load or compute the same as it is (LOAD_FAIL
  // or DRIFT), the sweep also evaluates it converted (harness/convert/):
  // `verdict` is then CONVERTED when the converted path passes, and
  // `direct_verdict` keeps what the checkpoint did as it was.
  std::optional<Verdict> direct_verdict;
  nlohmann::json conversion;  // null, or {outcome, verdict, changes, args, lost, metrics, error, command}
  nlohmann::json causes;      // null, or [{kind, change, detail}]: why the direct path does not pass
  // What the consumer's release made torch or Python warn about when it was
  // imported ("DeprecationWarning: ..."): the deprecations a later torch may
  // turn into errors.
  std::vector<std::string> warnings;

  // `spec producer -> consumer: VERDICT (nmse ..., max_abs ...)`
  std::string line() const;
  // "L→V": the direct verdict's letter, then the converted path's ("×" when
  // the conversion was refused); the verdict's letter alone without one.
  std::string path_letters() const;
  // The converted path in one line: "lossless, 3 changes, B built with
  // {...}: CONVERTED", "lossy (to_logits.bias dropped ...): LOAD_FAIL",
  // "refused: ...". Empty without a conversion.
  std::string conversion_line() const;
  // The `xcompat convert` command that makes the converted checkpoint
  // (empty unless the conversion was carried out).
  std::string convert_command() const;
  nlohmann::json to_json() const;
  static CellResult from_json(const nlohmann::json& j);  // what to_json wrote
};

}  // namespace xcompat
