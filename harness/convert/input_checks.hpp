#pragma once
// What `xcompat convert` checks before it writes anything, each a clear
// error instead of a wrong file:
//   check_release        a published release inside the history's range
//   layout_mismatches    the checkpoint has release A's layout: no key is
//                        named as only older releases name it, and its
//                        names survive A -> newest -> A (a key named as a
//                        newer release names it comes back renamed)
//   spec_misfits         the spec's dimensions, vocabulary, depth and heads
//                        agree with the tensors
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"
#include "harness/core/error.hpp"

namespace xcompat {

// A release that x-transformers never published, or one outside the
// history's range (the Python module raises it as xcompat.UnknownRelease).
struct UnknownRelease : Error {
  using Error::Error;
};

// Throws UnknownRelease: "--to 9.9.9: x-transformers has no such release (...)".
void check_release(const ReleaseHistory& history, const Version& v, const std::string& role);

// The input keys that do not come back from a round trip through the newest
// release, each with what it came back as; empty when the layout is A's.
std::vector<std::string> layout_mismatches(const ReleaseHistory& history, const ReleasePoint& a,
                                           const std::vector<TensorInfo>& tensors, const ModelFacts& facts);

// The same round trip, with what it shows besides: the tensors release A
// holds that the file lacks (the way back adds them from nothing).
struct LayoutCheck {
  std::vector<std::string> mismatches;  // as layout_mismatches
  std::vector<std::string> missing;     // names A holds that are not in the file
};
LayoutCheck check_layout(const ReleaseHistory& history, const ReleasePoint& a, const std::vector<TensorInfo>& tensors,
                         const ModelFacts& facts);

// Where `spec` and the tensors disagree, one line each; empty when it fits.
std::vector<std::string> spec_misfits(const nlohmann::json& spec, const std::vector<TensorInfo>& tensors);

}  // namespace xcompat
