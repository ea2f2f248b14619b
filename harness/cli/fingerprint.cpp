// `xcompat fingerprint FILE [--json]`: what a checkpoint is and which
// releases saved its layout, from its tensors alone (harness/convert/fingerprint.hpp).
#include <fmt/format.h>

#include <iostream>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/cli/commands.hpp"
#include "harness/convert/fingerprint.hpp"

namespace xcompat::cli {

int fingerprint(const std::string& file, bool as_json) {
  auto reader = open_checkpoint(file);
  const Fingerprint fp = fingerprint_tensors(release_history(), reader->tensors(), reader->xcompat_record(), file);
  if (as_json) {
    std::cout << fp.to_json().dump(2) << "\n";
    return fp.ranges.empty() ? 3 : 0;
  }
  fmt::print("{}: {} tensors, {}\n", file, reader->tensors().size(), fp.dtype);
  if (fp.stamped)
    fmt::print("stamped: saved by x-transformers {}{}\n", fp.stamped->str(),
               fp.ranges.empty() || fp.matches(*fp.stamped) ? "" : " (but the layout is not that release's: see below)");
  if (fp.ranges.empty()) {
    fmt::print("layout: no release between {} and {} names its tensors this way\n", release_history().oldest.str(),
               release_history().newest.str());
    return 3;
  }
  fmt::print("model: {}\n", fp.model == "xtransformer" ? "XTransformer" : "TransformerWrapper(attn_layers = Decoder(...))");
  fmt::print("layout of releases:\n");
  for (auto& r : fp.ranges) fmt::print("  {}\n", r.str());
  fmt::print("arguments:\n");
  for (auto& a : fp.args)
    fmt::print("  {}.{} = {}{}   ({})\n", a.section, a.name, a.value.dump(), a.certain ? "" : "  [assumed]", a.why);
  if (!fp.newest_args.empty())
    fmt::print("the newest release ({}) needs besides: {}\n", release_history().newest.str(), fp.newest_args.dump());
  if (!fp.ambiguous.empty()) {
    fmt::print("not told by the tensors:\n");
    for (auto& a : fp.ambiguous) fmt::print("  {}\n", a);
  }
  if (!fp.unrecognised.empty()) {
    fmt::print("tensors no rule reads ({}): features the fingerprint does not know\n", fp.unrecognised.size());
    for (std::size_t i = 0; i < fp.unrecognised.size() && i < 8; ++i) fmt::print("  {}\n", fp.unrecognised[i]);
  }
  return 0;
}

}  // namespace xcompat::cli
