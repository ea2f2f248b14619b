// `xcompat fingerprint FILE [--key K] [--json]`: every x-transformers model in
// a checkpoint (harness/convert/locate.hpp), what each is and which releases
// saved its layout, from its tensors alone (harness/convert/fingerprint.hpp).
#include <fmt/format.h>

#include <iostream>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/cli/commands.hpp"
#include "harness/convert/fingerprint.hpp"
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
  const json record = reader->xcompat_record();
  const Located located = locate_models(reader->tensors());
  if (located.models.empty())
    throw Error(file + ": no x-transformers model found in it (no TransformerWrapper, XTransformer, Continuous / ViT "
                "wrapper or attention layers by their tensors; " + std::to_string(reader->tensors().size()) +
                " tensors of something else)");
  std::vector<Fingerprint> fps;
  for (const LocatedModel* m : models_under(located, key))
      fps.push_back(fingerprint_model(release_history(), *m, record, file));
  const bool known = !fps.empty() && std::all_of(fps.begin(), fps.end(), [](auto& f) { return !f.ranges.empty(); });
  if (as_json) {
    // One model: its fingerprint at the top level, as before containers; always the list.
    json j = fps.size() == 1 ? fps.front().to_json() : json::object();
    j["models"] = json::array();
    for (auto& f : fps) j["models"].push_back(f.to_json());
    j["others"] = located.others;
    std::cout << j.dump(2) << "\n";
    return known ? 0 : 3;
  }
  fmt::print("{}: {} tensors, {} x-transformers model(s)\n", file, reader->tensors().size(), fps.size());
  for (auto& fp : fps) print_model(fp);
  if (!located.others.empty()) {
    fmt::print("other tensors ({}), not an x-transformers model's: kept as they are by convert\n", located.others.size());
    for (std::size_t i = 0; i < located.others.size() && i < 6; ++i) fmt::print("  {}\n", located.others[i]);
    if (located.others.size() > 6) fmt::print("  ... and {} more\n", located.others.size() - 6);
  }
  return known ? 0 : 3;
}

}  // namespace xcompat::cli
