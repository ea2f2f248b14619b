// `xcompat bisect --spec S --good A --bad B [--producer P | --consumer C] [--dtype D] [--json]`:
// the first release where a cell's verdict class changes (harness/sweep/bisect.hpp).
// --consumer may name a check of the producer's own model (cpp-export, ...).
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "harness/sweep/bisect.hpp"
#include "matrix/store.hpp"

namespace xcompat::cli {

int bisect(const Common& c, const BisectArgs& a) {
  BisectRequest req;
  req.spec = a.spec;
  auto good = Version::parse(a.good), bad = Version::parse(a.bad);
  if (!good) throw Error("--good wants a release X.Y.Z, not '" + a.good + "'");
  if (!bad) throw Error("--bad wants a release X.Y.Z, not '" + a.bad + "'");
  req.good = *good;
  req.bad = *bad;
  req.producer = a.producer;
  req.consumer = a.consumer;
  req.dtype = a.dtype;
  if (req.dtype != "float32" && req.dtype != "bfloat16") throw Error("--dtype is float32 or bfloat16, not " + req.dtype);
  const Pins pins = load_pins(c.pins_path);
  Store store(c.db_path);
  const BisectOutcome o = bisect(pins, load_specs(c.specs_path), store, req, [&](const std::string& line) {
    if (!c.json) fmt::print(stderr, "{}\n", line);
  });
  if (c.json) {
    std::cout << o.to_json().dump(2) << "\n";
    return 0;
  }
  fmt::print("{} ({}): {} probes of {} releases, {:.0f} s\n", a.spec, o.mode, o.probes.size(), o.candidates, o.seconds);
  fmt::print("last good:  {} ({})\n", o.last_good, o.good_class);
  fmt::print("first bad:  {} ({})\n", o.first_bad, o.bad_class);
  if (!o.skipped_between.empty())
    fmt::print("untestable between them: {}\n", fmt::join(o.skipped_between, ", "));
  fmt::print("x_transformers sources changed between them:\n");
  for (auto& f : o.changed)
    fmt::print("  {:<32} +{} -{}{}\n", f.file, f.added, f.removed, f.created ? " (new)" : f.deleted ? " (gone)" : "");
  if (o.changed.empty()) fmt::print("  none (the difference is in a dependency or the environment)\n");
  return 0;
}

}  // namespace xcompat::cli
