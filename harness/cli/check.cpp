// `xcompat check FILE --to B [--from A] [--spec-args F] [--install] [--no-native] [--json]`:
// the upgrade answer for a user's own checkpoint (harness/check/check_file.hpp),
// recorded in the database's `checks` table.
#include <fmt/format.h>

#include <iostream>

#include "harness/check/check_file.hpp"
#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/spec.hpp"
#include "matrix/store.hpp"

namespace xcompat::cli {

namespace {

void print_path(const char* title, const CellResult& r) {
  const Verdict shown = r.direct_verdict ? *r.direct_verdict : r.verdict;
  fmt::print("  {:<11} {}", title, verdict_name(shown));
  if (r.metrics && !r.direct_verdict) fmt::print(" (nmse {:.3g}, max_abs {:.3g})", r.metrics->nmse, r.metrics->max_abs);
  if (!r.load_report.empty())
    fmt::print(" (missing {}, unexpected {}, mis-shaped {})", r.load_report.missing.size(),
               r.load_report.unexpected.size(), r.load_report.misshaped.size());
  if (!r.error.empty() && shown != Verdict::LoadFail) fmt::print(": {}", r.error.substr(0, 300));
  fmt::print("\n");
  if (r.causes.is_array())
    for (auto& c : r.causes)
      fmt::print("      why: {}{}{}\n", c.value("kind", ""), c.value("change", "").empty() ? "" : " " + c.value("change", ""),
                 c.value("detail", "").empty() ? "" : ": " + c.value("detail", ""));
  if (!r.conversion.is_null()) fmt::print("  {:<11} {}\n", "converted", r.conversion_line());
}

}  // namespace

int check(const Common& c, const CheckArgs& a) {
  CheckRequest req;
  req.file = a.file;
  req.to = a.to;
  if (!a.from.empty()) req.from = a.from;
  req.install = a.install;
  req.native = !a.no_native;
  if (!a.spec.empty() && !a.spec_args.empty()) throw Error("give --spec or --spec-args, not both");
  if (!a.spec.empty()) req.spec = select_specs(load_specs(c.specs_path), {a.spec}).front().definition;
  if (!a.spec_args.empty()) req.spec = read_json_file(a.spec_args);
  const Pins pins = load_pins(c.pins_path);
  const CheckOutcome o = check_file(pins, release_history(), req);

  if (o.cannot_tell.empty() && o.release) {
    // Recorded before anything is printed: an answer is never lost to a closed pipe.
    Store store(c.db_path);
    CheckRecord rec{o.file_sha256, std::filesystem::absolute(a.file).string(), "", o.from, o.from_source, a.to, "release", o.spec, *o.release};
    store.record_check(rec);
    if (o.native) {
      rec.consumer = "cpp-native";
      rec.path = "cpp-native";
      rec.cell = *o.native;
      store.record_check(rec);
    }
  }
  if (c.json) {
    std::cout << o.to_json().dump(2) << "\n";
    return o.exit_code();
  }
  fmt::print("{}: {}\n", a.file, o.fingerprint.model == "xtransformer" ? "XTransformer" : "TransformerWrapper");
  if (!o.from.empty()) fmt::print("saved by {} ({})\n", o.from, o.from_source);
  if (!o.from_note.empty()) fmt::print("  {}\n", o.from_note);
  if (!o.spec_source.empty()) fmt::print("spec from {}: {}\n", o.spec_source, o.spec.dump());
  if (!o.cannot_tell.empty()) {
    fmt::print("cannot tell: {}\n", o.cannot_tell);
    return o.exit_code();
  }
  fmt::print("in {}:\n", a.to);
  print_path("as it is", *o.release);
  if (o.native) print_path("cpp-native", *o.native);
  switch (o.exit_code()) {
    case 0: fmt::print("safe: {} loads it and computes what {} did\n", a.to, o.from); break;
    case 3:
      if (o.release->verdict == Verdict::Converted)
        fmt::print("breaks as it is; safe after conversion:\n  {}\n", o.convert_command);
      else
        fmt::print("breaks: {} does not reproduce {} with this file, converted or not\n", a.to, o.from);
      break;
    default: fmt::print("cannot tell: {} failed\n", a.to);
  }
  return o.exit_code();
}

}  // namespace xcompat::cli
