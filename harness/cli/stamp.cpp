// `xcompat stamp FILE --release V [--torch T] [--spec S | --spec-args FILE] (--out OUT | --sidecar) [--force]`:
// records which release saved a checkpoint (harness/convert/stamp_file.hpp).
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/convert/stamp_file.hpp"
#include "harness/core/error.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/spec.hpp"

namespace xcompat::cli {

int stamp(const Common& c, const StampArgs& a) {
  StampRequest req;
  req.in = a.in;
  req.out = a.out;
  req.sidecar = a.sidecar;
  req.torch = a.torch;
  req.force = a.force;
  auto v = Version::parse(a.release);
  if (!v) throw Error("--release wants a release X.Y.Z, not '" + a.release + "'");
  req.release = *v;
  if (!a.spec.empty() && !a.spec_args.empty()) throw Error("give --spec or --spec-args, not both");
  if (!a.spec.empty()) req.spec = select_specs(load_specs(c.specs_path), {a.spec}).front().definition;
  if (!a.spec_args.empty()) {
    req.spec = read_json_file(a.spec_args);
    if (!req.spec.is_object() || !req.spec.contains("model"))
      throw Error(a.spec_args + ": a spec is a JSON object with \"model\" (decoder, encoder, xtransformer) and its "
                  "sections (wrapper, layers / xtransformer), as in fixtures/specs.toml");
  }
  const StampResult r = stamp_file(release_history(), req);
  if (c.json) {
    std::cout << json{{"record", r.record}, {"written", r.written.string()}}.dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: stamped as saved by x-transformers {}{}\n", a.in, req.release.str(),
             req.torch.empty() ? "" : " under torch " + req.torch);
  fmt::print("wrote {}\n", r.written.string());
  return 0;
}

}  // namespace xcompat::cli
