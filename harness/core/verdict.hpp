#pragma once
// The verdicts, defined once: every list of them (the summary table, the
// report's letters, legend and colours, the page script, JUnit) iterates
// kVerdicts. The schema's CHECK constraint is the one frozen copy (a released
// migration step is never edited; tests/unit/test_verdict.cpp keeps it equal).
#include <array>
#include <string>

namespace xcompat {

enum class Verdict { Identical, Close, Converted, Adapted, Drift, LoadFail, Error, Unsupported };

struct VerdictInfo {
  Verdict verdict;
  const char* name;     // "IDENTICAL": CLI, JSON, database
  char letter;          // 'I': grids and badges, readable without colour
  bool passes;          // counts as passing in scores and regressions
  const char* meaning;  // one line for legends
  const char* background;  // report colours; the letter keeps 4.5:1 contrast on it
  const char* foreground;
};

inline constexpr std::array<VerdictInfo, 8> kVerdicts = {{
    {Verdict::Identical, "IDENTICAL", 'I', true, "loads strictly, bitwise identical output", "#17693a", "#fff"},
    {Verdict::Close, "CLOSE", 'C', true, "loads strictly, output within tolerance", "#8fd19e", "#0d2e16"},
    {Verdict::Converted, "CONVERTED", 'V', true, "loads after conversion", "#8cc4ee", "#0b2740"},
    {Verdict::Adapted, "ADAPTED", 'A', true, "loads after conversion into B's model with an adapter (xcompat.adapt, convert --adapter)", "#c5b3e6", "#24123f"},
    {Verdict::Drift, "DRIFT", 'D', false, "loads, computes something else", "#f3b04b", "#3a2300"},
    {Verdict::LoadFail, "LOAD_FAIL", 'L', false, "does not load: strict load fails, or the reader cannot build the model", "#c62828", "#fff"},
    {Verdict::Error, "ERROR", 'E', false, "crashed or raised", "#6a1b9a", "#fff"},
    {Verdict::Unsupported, "UNSUPPORTED", 'U', false, "nothing to compare: the producer cannot build the spec", "#d9dde1", "#2f3942"},
}};
inline constexpr int kVerdictCount = static_cast<int>(kVerdicts.size());

inline const VerdictInfo& verdict_info(Verdict v) { return kVerdicts[static_cast<int>(v)]; }
inline const char* verdict_name(Verdict v) { return verdict_info(v).name; }
inline char verdict_letter(Verdict v) { return verdict_info(v).letter; }
// IDENTICAL, CLOSE, CONVERTED and ADAPTED count as passing.
inline bool verdict_passes(Verdict v) { return verdict_info(v).passes; }
// Throws Error on a name that is not a verdict.
Verdict verdict_from_name(const std::string& name);
// "ICVADLEU": the letters in Verdict order.
std::string verdict_letters();

}  // namespace xcompat
