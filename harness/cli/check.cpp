// `xcompat check FILE --to B [--from A] [--spec-args F] [--install] [--no-native] [--json]`:
// the upgrade answer for a user's own checkpoint (harness/check/check_file.hpp),
// recorded in the database's `checks` table.
#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "harness/check/check_file.hpp"
#include "harness/convert/locate.hpp"
#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/spec.hpp"
#include "matrix/store.hpp"

namespace xcompat::cli {

namespace fs = std::filesystem;

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

// `--to installed`: release B is the Python environment the user runs (their
// x-transformers and torch, no sandbox), so the Python package answers it
// (python/xcompat/_check.py), run by that environment's interpreter
// ($XCOMPAT_PYTHON, else python3 on PATH) with this build's package first.
[[noreturn]] static void check_installed(const Common& c, const CheckArgs& a) {
  const char* env_python = std::getenv("XCOMPAT_PYTHON");
  const std::string python = env_python && *env_python ? env_python : "python3";
  const fs::path package = self_executable().parent_path() / "python";
  const char* old = std::getenv("PYTHONPATH");
  const std::string path = package.string() + (old && *old ? ":" + std::string(old) : "");
  setenv("PYTHONPATH", path.c_str(), 1);
  std::vector<std::string> args = {python, "-m", "xcompat", "check", a.file, "--to", "installed"};
  auto add = [&](const char* flag, const std::string& value) {
    if (!value.empty()) args.insert(args.end(), {flag, value});
  };
  add("--from", a.from);
  add("--key", a.key);
  add("--spec-args", a.spec_args);
  if (!a.spec.empty()) {
    const auto specs = select_specs(load_specs(c.specs_path), {a.spec});
    const fs::path spec_file = fs::temp_directory_path() / fmt::format("xcompat-spec-{}.json", getpid());
    write_json_file(spec_file, specs.front().definition);
    add("--spec-args", spec_file.string());
  }
  if (!a.install) args.push_back("--no-install");
  if (c.json) args.push_back("--json");
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  execvp(python.c_str(), argv.data());
  throw Error("check --to installed runs the Python package with " + python + ", which could not be started: " +
              std::strerror(errno) + " (set XCOMPAT_PYTHON to your environment's python)");
}

int check(const Common& c, const CheckArgs& a) {
  if (a.to == "installed") check_installed(c, a);
  CheckRequest req;
  req.file = a.file;
  req.to = a.to;
  req.key = a.key;
  if (!a.from.empty()) req.from = a.from;
  req.install = a.install;
  req.native = !a.no_native;
  if (!a.spec.empty() && !a.spec_args.empty()) throw Error("give --spec or --spec-args, not both");
  if (!a.spec.empty()) req.spec = select_specs(load_specs(c.specs_path), {a.spec}).front().definition;
  if (!a.spec_args.empty()) req.spec = read_json_file(a.spec_args);
  const Pins pins = load_pins(c.pins_path);
  const CheckOutcome o = check_file(pins, release_history(), req);

  // Recorded before anything is printed: an answer is never lost to a closed pipe.
  if (o.cannot_tell.empty()) {
    Store store(c.db_path);
    for (auto& s : o.stretches) {
      if (!s.release) continue;
      CheckRecord rec{o.file_sha256, std::filesystem::absolute(a.file).string(), "", s.from, o.from_source, a.to, "release", o.spec, *s.release};
      store.record_check(rec);
      if (s.native) {
        rec.consumer = "cpp-native";
        rec.path = "cpp-native";
        rec.cell = *s.native;
        store.record_check(rec);
      }
    }
  }
  if (c.json) {
    std::cout << o.to_json().dump(2) << "\n";
    return o.exit_code();
  }
  fmt::print("{}: {} model(s) found\n", a.file, o.models.size());
  for (auto& m : o.models)
    fmt::print("  {} at {}{}\n", m.value("kind", ""), place_name(m.value("prefix", "")),
               m.value("prefix", "") == o.model_prefix && o.models.size() > 1 ? "  <- checked" : "");
  if (!o.spec_source.empty()) fmt::print("spec from {}: {}\n", o.spec_source, o.spec.dump());
  if (!o.cannot_tell.empty()) {
    fmt::print("cannot tell: {}\n", o.cannot_tell);
    return o.exit_code();
  }
  if (o.conditional())
    fmt::print("which release saved it is not known (no stamp, no --from): its layout is that of {}; the answer is "
               "given for each stretch of those releases that computes alike (narrow it with --from, or a stamp)\n",
               [&] { std::string r; for (auto& x : o.fingerprint.ranges) r += (r.empty() ? "" : ", ") + x.str(); return r; }());
  for (auto& s : o.stretches) {
    fmt::print("if saved by {}: {}\n", s.range(), s.from_note);
    if (!s.cannot_tell.empty()) {
      fmt::print("  cannot tell: {}\n", s.cannot_tell);
      continue;
    }
    if (!s.excluded.empty()) {
      fmt::print("  {}\n", s.excluded);
      continue;
    }
    if (s.same_as_to) continue;
    if (s.release) print_path("as it is", *s.release);
    if (s.native) print_path("cpp-native", *s.native);
    if (!s.convert_command.empty()) fmt::print("  {:<11} {}\n", "convert", s.convert_command);
  }
  switch (o.exit_code()) {
    case 0: fmt::print("safe: {} loads it and computes what {} did\n", a.to, o.conditional() ? "each of those releases" : o.stretches.front().from); break;
    case 3: fmt::print("breaks{}: see above for which releases, and whether `xcompat convert` carries it\n",
                       o.conditional() ? " if it was saved by some of those releases" : ""); break;
    default: fmt::print("cannot tell for every release that may have saved it (see above)\n");
  }
  return o.exit_code();
}

}  // namespace xcompat::cli
