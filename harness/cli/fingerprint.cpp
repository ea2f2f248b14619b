// `xcompat fingerprint FILE [--key K] [--json]`: every x-transformers model in
// a checkpoint (harness/convert/locate.hpp), what each is and which releases
// saved its layout, from its tensors alone (harness/convert/fingerprint.hpp).
#include <fmt/format.h>

#include <iostream>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/cli/commands.hpp"
#include "harness/convert/fingerprint_report.hpp"
#include "harness/convert/locate.hpp"
#include "harness/core/error.hpp"

namespace xcompat::cli {

using json = nlohmann::json;

namespace {

std::string class_of(const Fingerprint& fp) {
  if (fp.model == "xtransformer") return "XTransformer";
  if (fp.kind == "TransformerWrapper") return "TransformerWrapper(attn_layers = Decoder(...))";
  if (fp.kind == "AttentionLayers") return "AttentionLayers (a bare Decoder / Encoder)";
  return fp.kind + "(attn_layers = " + (fp.model == "vit" ? "Encoder" : "Decoder") + "(...))";
}

void print_model(const Fingerprint& fp) {
  fmt::print("model: {} at {}{}\n", class_of(fp), place_name(fp.prefix), fp.held_as.empty() ? "" : " (" + fp.held_as + ")");
  if (fp.stamped)
    fmt::print("  stamped: saved by x-transformers {}{}\n", fp.stamped->str(),
               fp.ranges.empty() || fp.matches(*fp.stamped) ? "" : " (but the layout is not that release's: see below)");
  if (fp.ranges.empty()) {
    fmt::print("  layout: no release between {} and {} names its tensors this way\n", release_history().oldest.str(),
               release_history().newest.str());
    return;
  }
  fmt::print("  layout of releases:\n");
  for (auto& r : fp.ranges) fmt::print("    {}\n", r.str());
  fmt::print("  arguments:\n");
  for (auto& a : fp.args)
    fmt::print("    {}.{} = {}{}   ({})\n", a.section, a.name, a.value.dump(), a.certain ? "" : "  [assumed]", a.why);
  if (!fp.newest_args.empty())
    fmt::print("  the newest release ({}) needs besides: {}\n", release_history().newest.str(), fp.newest_args.dump());
  if (!fp.ambiguous.empty()) {
    fmt::print("  not told by the tensors:\n");
    for (auto& a : fp.ambiguous) fmt::print("    {}\n", a);
  }
  if (!fp.unrecognised.empty()) {
    fmt::print("  tensors no rule reads ({}): features the fingerprint does not know\n", fp.unrecognised.size());
    for (std::size_t i = 0; i < fp.unrecognised.size() && i < 8; ++i) fmt::print("    {}\n", fp.unrecognised[i]);
  }
}

}  // namespace

int fingerprint(const std::string& file, const std::string& key, bool as_json) {
  auto reader = open_checkpoint(file);
  const FingerprintReport report = fingerprint_report(reader->tensors(), reader->xcompat_record(), file, key);
  if (as_json) {
    std::cout << report.to_json().dump(2) << "\n";
    return report.known ? 0 : 3;
  }
  fmt::print("{}: {} tensors, {} x-transformers model(s)\n", file, report.tensor_count, report.models.size());
  for (auto& fp : report.models) print_model(fp);
  const auto& others = report.others;
  if (!others.empty()) {
    fmt::print("other tensors ({}), not an x-transformers model's: kept as they are by convert\n", others.size());
    for (std::size_t i = 0; i < others.size() && i < 6; ++i) fmt::print("  {}\n", others[i]);
    if (others.size() > 6) fmt::print("  ... and {} more\n", others.size() - 6);
  }
  return report.known ? 0 : 3;
}

}  // namespace xcompat::cli
