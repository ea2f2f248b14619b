// `xcompat convert IN --to B [--from A] [--spec S [--specs-file F]] --out OUT [--strict | --adapter F.py] [--dry-run] [--json]`:
// carries a checkpoint from the release that saved it to release B with the
// release history (matrix/history.toml), and says exactly what it did.
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/convert/adapter_file.hpp"
#include "harness/convert/constructor_lines.hpp"
#include "harness/convert/convert_file.hpp"
#include "harness/convert/locate.hpp"
#include "harness/core/error.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/spec.hpp"

namespace xcompat::cli {


int convert(const Common& c, const ConvertArgs& a) {
  if (a.out.empty() && !a.dry_run) throw Error("give --out FILE (.safetensors or .pt), or --dry-run");
  auto to = Version::parse(a.to);
  if (!to) throw Error("--to wants a release X.Y.Z, not '" + a.to + "'");
  ConvertRequest req;
  req.in = a.in;
  req.out = a.out;
  req.to = *to;
  req.strict = a.strict;
  req.key = a.key;
  req.optimizer = a.optimizer == "keep" ? OptimizerState::Keep : a.optimizer == "drop" ? OptimizerState::Drop : OptimizerState::Refuse;
  req.dry_run = a.dry_run;
  if (a.strict && !a.adapter.empty())
    throw Error("--strict refuses anything but a pure conversion, and --adapter asks for more: give one of them");
  req.adapters = !a.adapter.empty();
  if (!a.from.empty()) {
    auto from = Version::parse(a.from);
    if (!from) throw Error("--from wants a release X.Y.Z, not '" + a.from + "'");
    req.from = from;
  }
  if (!a.spec.empty() && !a.spec_args.empty()) throw Error("give --spec or --spec-args, not both");
  if (!a.spec.empty()) {
    const auto specs = select_specs(load_specs(c.specs_path), {a.spec});
    req.spec = specs.front().definition;
  }
  if (!a.spec_args.empty()) req.spec = read_json_file(a.spec_args);
  const ReleaseHistory& history = release_history();
  const ConvertResult r = convert_file(history, req);
  const ConversionPlan& p = r.plan;
  const bool write_adapter = !a.adapter.empty() && !a.dry_run && !r.adapters.empty();
  if (write_adapter)
    write_adapter_file(a.adapter, r.adapters, r.plan.from.release.str(), r.plan.to.release.str(),
                       fmt::format("xcompat convert {} --to {} --out {} --adapter {}", a.in, a.to, a.out, a.adapter));
  if (c.json) {
    std::cout << r.to_json().dump(2) << "\n";
    return 0;
  }
  fmt::print("{}: saved by {} ({}), converted to {}\n", a.in, p.from.release.str(), r.from_source, p.to.release.str());
  for (auto& m : r.models) {
    const ConversionPlan& mp = m.plan;
    if (r.models.size() > 1 || !m.prefix.empty()) fmt::print("{} at {}:\n", m.kind, place_name(m.prefix));
    if (mp.changes.empty()) fmt::print("  no change of the release history lies between them\n");
    for (auto& id : mp.changes) {
      const HistoryChange& ch = history.change(id);
      fmt::print("  {} {}: {}\n", ch.boundary(), id, ch.reason);
    }
    fmt::print("outcome: {}\n", mp.outcome_line());
    if (!mp.args.empty()) {
      fmt::print("  the weights alone do not reproduce {}: build the model in {} with\n", mp.from.release.str(),
                 mp.to.release.str());
      for (auto& line : constructor_lines(mp.args, r.spec)) fmt::print("    {}\n", line);
    } else if (mp.outcome == ConversionOutcome::Lossless) {
      fmt::print("  the weights are transformed: {}'s defaults reproduce {}\n", mp.to.release.str(), mp.from.release.str());
    }
    for (auto& f : mp.folded) fmt::print("  folded: {}\n", f);
    for (auto& ad : mp.adapters)
      if (ad.key.empty())  // a computation, no tensor
        fmt::print("  adapted: {} of {} ({})\n", ad.kind, ad.module, ad.change_id);
      else
        fmt::print("  adapted: {} -> {} ({} of {}, {})\n", ad.name, ad.key, ad.kind, ad.module, ad.change_id);
    for (auto& [name, v] : m.lossy_tensors) fmt::print("  lost: {} (largest |x| {:.3g})\n", name, v);
    for (auto& l : mp.lost_behaviour) fmt::print("  lost: {}\n", l);
    for (auto& n : mp.notes) fmt::print("  note: {}\n", n);
    if (!mp.rounding.empty())
      fmt::print("  expect CLOSE rather than IDENTICAL: {} computes the same function with other rounding\n",
                 fmt::join(mp.rounding, ", "));
  }
  if (!r.passed_through.empty())
    fmt::print("passed through unchanged: {} tensor(s) of no converted model (e.g. {})\n", r.passed_through.size(),
               r.passed_through.front());
  for (auto& o : r.optimizer)
    fmt::print("optimizer state at {}: {}\n", place_name(o),
               r.optimizer_action.empty() ? "kept (the parameters did not change)"
               : r.optimizer_action == "dropped" ? "dropped (--optimizer drop)"
                                                 : "kept as it was (--optimizer keep): it no longer matches the parameters");
  if (r.written) fmt::print("wrote {} ({})\n", a.out, r.container);
  if (write_adapter)
    fmt::print("wrote {}: build the model with {}, call adapt(model) from that file, then "
               "model.load_state_dict(converted, strict=True)\n",
               a.adapter, r.plan.to.release.str());
  else if (!a.adapter.empty())
    fmt::print("no adapter needed: {} holds everything the conversion keeps\n", r.plan.to.release.str());
  return 0;
}

}  // namespace xcompat::cli
