// xcompat: the compatibility matrix of x-transformers checkpoints.
// Parses the command line and dispatches; errors are printed here, once.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "harness/cli/commands.hpp"
#include "harness/cli/report.hpp"
#include "harness/cli/inspect.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"

using namespace xcompat;

namespace {
// Test hook: XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_MAPS_OUT=FILE copies this
// process's /proc/self/maps to FILE at exit, so a test can prove that the
// command line never mapped libtorch or libpython, whatever it ran.
void install_maps_hook() {
  const char* hooks = std::getenv("XCOMPAT_TEST_HOOKS");
  const char* out = std::getenv("XCOMPAT_TEST_MAPS_OUT");
  if (!hooks || std::string(hooks) != "1" || !out) return;
  static std::string path = out;
  std::atexit([] {
    std::ifstream in("/proc/self/maps");
    std::ofstream(path) << in.rdbuf();
  });
}
}  // namespace

// `--release`, `--spec`, `--consumer`: repeatable, and each value may be a
// comma list. The plural spellings of earlier versions stay as hidden
// aliases (kept in `legacy`, merged after parsing).
struct NameFlag {
  std::vector<std::string> values, legacy;
  void add(CLI::App* sub, const std::string& singular, const std::string& plural, const std::string& help) {
    sub->add_option("--" + singular, values, help)->delimiter(',');
    sub->add_option("--" + plural, legacy)->delimiter(',')->group("");
  }
  std::vector<std::string> all() const {
    std::vector<std::string> out = values;
    out.insert(out.end(), legacy.begin(), legacy.end());
    return out;
  }
};

int main(int argc, char** argv) {
  install_maps_hook();
  // `--state DIR` (before or after the subcommand): read before the defaults
  // below are computed from the state directory.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--state" && i + 1 < argc) setenv("XCOMPAT_STATE", argv[i + 1], 1);
    if (arg.rfind("--state=", 0) == 0) setenv("XCOMPAT_STATE", arg.substr(8).c_str(), 1);
  }
  CLI::App app{"xcompat: does a checkpoint saved by one x-transformers release load, and compute the same, in another?"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("xcompat ") + XCOMPAT_VERSION);
  std::string state_option;
  app.add_option("--state", state_option,
                 "where fixtures, the matrix and caches live (default: $XCOMPAT_STATE, else ~/.cache/xcompat for an "
                 "installed copy, .xcompat in a checkout)");
  app.fallthrough();

  cli::Common common;
  common.pins_path = default_pins_path().string();
  common.specs_path = default_specs_path().string();
  common.db_path = default_db_path().string();
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--pins", common.pins_path, "releases and tolerance policy (TOML)");
    sub->add_option("--specs-file", common.specs_path, "spec catalogue (TOML)");
    sub->add_flag("--json", common.json, "machine-readable output");
  };

  auto* inst = app.add_subcommand("install", "install published releases that are not pinned into sandboxes");
  std::vector<std::string> install_versions;
  add_common(inst);
  inst->add_option("versions", install_versions, "x-transformers releases, X.Y.Z")->required();

  auto* rel = app.add_subcommand("releases", "list the pinned releases (and those installed on demand) and whether each imports");
  bool no_import = false;
  add_common(rel);
  rel->add_flag("--no-import-check", no_import, "only check that sandboxes exist");

  auto* fix = app.add_subcommand("fixtures", "have releases build specs into the fixture cache");
  cli::FixturesArgs fargs;
  NameFlag fix_releases, fix_specs;
  add_common(fix);
  fix_releases.add(fix, "release", "releases", "release(s) to use (default: all pins)");
  fix_specs.add(fix, "spec", "specs", "spec(s) to build (default: the catalogue)");
  fix->add_option("--dtype", fargs.dtypes, "dtype(s): float32, bfloat16 (default: the pins' dtypes)")->delimiter(',');
  fix->add_option("-j,--jobs", fargs.jobs, "parallel workers")->check(CLI::PositiveNumber);
  fix->add_flag("--verify", fargs.verify, "check every cached file against its sha256");

  auto add_db = [&](CLI::App* sub) {
    sub->add_option("--db", common.db_path, "matrix database (default .xcompat/matrix.db or $XCOMPAT_DB)");
  };

  auto* sw = app.add_subcommand("sweep", "evaluate every (spec, producer, consumer) cell into the matrix");
  cli::SweepArgs sargs;
  NameFlag sw_releases, sw_specs, sw_consumers;
  add_common(sw);
  add_db(sw);
  sw_releases.add(sw, "release", "releases", "producing release(s) (default: all pins)");
  sw_specs.add(sw, "spec", "specs", "spec(s) (default: the catalogue)");
  sw_consumers.add(sw, "consumer", "consumers",
                   "consumer(s): releases, cpp-native, or python/cpp (default: the --release set plus cpp-native)");
  sw->add_option("-j,--jobs", sargs.jobs, "parallel workers")->check(CLI::PositiveNumber);
  sw->add_option("--shard", sargs.shard, "K/N: this job's share of the plan");
  sw->add_option("--junit", sargs.junit,
                 "write JUnit XML (one test case per cell; failing cells the previous run or the known breaks "
                 "expect are skipped, so only news fails)");
  sw->add_option("--known-breaks", sargs.known_breaks,
                 "expected failures with expiry dates, for --junit (default matrix/known_breaks.toml)");
  sw->add_option("--checkpoint", sargs.checkpoints, "checkpoint file(s) consumers load: pt, safetensors (default pt)")
      ->delimiter(',');
  sw->add_option("--dtype", sargs.dtypes, "dtype(s): float32, bfloat16 (default: the pins' dtypes)")->delimiter(',');
  sw->add_option("--torch", sargs.torches,
                 "torch(es) the releases run under, of pins.toml's torches (default: the default torch); "
                 "each release is then a producer and consumer per torch")
      ->delimiter(',');
  sw->add_option("--cell-timeout", sargs.cell_timeout_s, "seconds before a cell's worker is killed");
  sw->add_flag("--no-progress", sargs.no_progress, "plain lines even on a terminal");

  auto* mg = app.add_subcommand("merge", "fold shard databases into one");
  std::string merge_out;
  std::vector<std::string> merge_in;
  mg->add_option("out", merge_out, "database to merge into")->required();
  mg->add_option("inputs", merge_in, "shard databases")->required();

  auto* qy = app.add_subcommand("query", "the upgrade answer: checkpoints of A loaded by B");
  cli::QueryArgs qargs;
  add_common(qy);
  add_db(qy);
  qy->add_option("--from", qargs.from, "release that saved the checkpoints");
  qy->add_option("--to", qargs.to, "release (or cpp-native) that loads them");
  qy->add_option("--torch-from", qargs.torch_from, "with --torch-to: every release's checkpoints saved under this torch...");
  qy->add_option("--torch-to", qargs.torch_to, "...loaded by the same release under this one");
  qy->add_option("--spec", qargs.spec, "only this spec");

  auto* rn = app.add_subcommand("runs", "list the recorded runs");
  add_common(rn);
  add_db(rn);

  auto* df = app.add_subcommand("diff", "cells whose verdict changed between two runs");
  int64_t run1 = 0, run2 = 0;
  add_common(df);
  add_db(df);
  df->add_option("run1", run1)->required();
  df->add_option("run2", run2)->required();

  auto* gcc = app.add_subcommand("gc", "drop old runs; what every kept run shows stays as it was");
  cli::GcArgs gargs;
  add_common(gcc);
  add_db(gcc);
  auto* keep_runs = gcc->add_option("--keep-runs", gargs.keep_runs, "keep the N newest runs")->check(CLI::PositiveNumber);
  auto* keep_days = gcc->add_option("--keep-days", gargs.keep_days, "keep the runs started in the last D days")
                        ->check(CLI::NonNegativeNumber);
  gcc->add_flag("--dry-run", gargs.dry_run, "count what would go, change nothing");
  (void)keep_runs, (void)keep_days;

  auto* trk = app.add_subcommand("track", "new x-transformers releases: install, evaluate against the pins, propose pins");
  cli::TrackArgs targs;
  add_common(trk);
  add_db(trk);
  trk->add_option("--since", targs.since, "releases after this one (default: the newest pin); later pins count as unknown");
  trk->add_option("--package-source", targs.package_source,
                  "a directory of wheels or an index URL (default PyPI, or $XCOMPAT_PACKAGE_SOURCE)");
  trk->add_option("--spec", targs.specs, "spec(s) (default: the catalogue)")->delimiter(',');
  trk->add_option("--dtype", targs.dtypes, "dtype(s) (default: the pins' dtypes)")->delimiter(',');
  trk->add_option("--limit", targs.limit, "the newest N releases only")->check(CLI::NonNegativeNumber);
  trk->add_option("-j,--jobs", targs.jobs, "parallel workers")->check(CLI::PositiveNumber);

  auto* rp = app.add_subcommand("report", "render the matrix as a static HTML site (or Markdown)");
  std::string report_out, report_format = "html", report_section;
  add_common(rp);
  add_db(rp);
  rp->add_option("--out", report_out, "output directory (not with --section)");
  rp->add_option("--section", report_section, "print one generated Markdown section: eras, pairs, native");
  rp->add_option("--format", report_format, "html or markdown")->check(CLI::IsMember({"html", "markdown", "md"}));

  auto* cv = app.add_subcommand("convert", "carry a checkpoint from the release that saved it to another release");
  cli::ConvertArgs cargs;
  cv->add_option("file", cargs.in, ".pt or .safetensors")->required();
  cv->add_option("--to", cargs.to, "the release to convert to")->required();
  cv->add_option("--from", cargs.from, "the release that saved it (default: its stamp, or a meta.json beside it)");
  cv->add_option("--spec", cargs.spec, "the spec it was built from (heads, conditional changes)");
  cv->add_option("--specs-file", common.specs_path, "spec catalogue (TOML)");
  cv->add_option("--spec-args", cargs.spec_args, "a JSON spec (as `xcompat check` writes it)");
  cv->add_option("--out", cargs.out, "where to write (.safetensors or .pt)");
  cv->add_option("--key", cargs.key, "the place in a container to convert (e.g. model, state_dict, ema); default: every model found");
  cv->add_option("--optimizer", cargs.optimizer, "an optimizer state in the container (indexed by parameter order): "
                 "refuse (default), keep (as it is), drop")->check(CLI::IsMember({"refuse", "keep", "drop"}));
  cv->add_flag("--strict", cargs.strict, "refuse a conversion that loses anything");
  cv->add_option("--adapter", cargs.adapter, "keep what B's classes cannot hold, for an adapter of B's model written "
                 "to this file (Python, needs only torch: adapt(model) before load_state_dict)");
  cv->add_flag("--dry-run", cargs.dry_run, "plan only, write nothing");
  cv->add_flag("--json", common.json, "machine-readable output");

  auto* fpr = app.add_subcommand("fingerprint", "what a checkpoint is and which releases saved its layout, from its tensors");
  std::string fingerprint_path;
  std::string fingerprint_key;
  fpr->add_option("file", fingerprint_path, ".pt, .ckpt, .pth, .bin or .safetensors")->required();
  fpr->add_option("--key", fingerprint_key, "only the models under this place in a container (e.g. model, ema)");
  fpr->add_flag("--json", common.json, "machine-readable output");

  auto* bis = app.add_subcommand("bisect", "the first release where a cell's verdict changes (installs releases on demand)");
  cli::BisectArgs bargs;
  add_common(bis);
  add_db(bis);
  bis->add_option("--spec", bargs.spec, "a catalogue spec")->required();
  bis->add_option("--good", bargs.good, "a release where the cell has its old verdict")->required();
  bis->add_option("--bad", bargs.bad, "a later release where it does not")->required();
  bis->add_option("--producer", bargs.producer, "hold the checkpoint's release (default: --good); the loader walks");
  bis->add_option("--consumer", bargs.consumer,
                  "hold the loading release, or name cpp-native or a check of the producer's own model "
                  "(decode-cache, cpp-native-decode, cpp-torchscript, cpp-export); the checkpoint's release walks");
  bis->add_option("--dtype", bargs.dtype, "float32 or bfloat16");

  auto* chk = app.add_subcommand("check", "the upgrade answer for your own checkpoint: does release B load it and compute the same?");
  cli::CheckArgs chargs;
  add_common(chk);
  add_db(chk);
  chk->add_option("file", chargs.file, ".pt or .safetensors")->required();
  chk->add_option("--to", chargs.to,
                  "the release to upgrade (or downgrade) to, or `installed`: this environment's x-transformers "
                  "and torch (run by $XCOMPAT_PYTHON, else python3)")->required();
  chk->add_option("--from", chargs.from, "the release that saved it (default: its stamp, else its layout's newest pin)");
  chk->add_option("--key", chargs.key, "the model's place in a container (e.g. model, state_dict, ema.ema_model)");
  chk->add_option("--spec", chargs.spec, "the catalogue spec it was built from");
  chk->add_option("--spec-args", chargs.spec_args, "a JSON spec: {\"model\": ..., \"wrapper\": {...}, \"layers\": {...}}");
  chk->add_flag("--install", chargs.install, "install the releases it needs that are not installed");
  chk->add_flag("--no-native", chargs.no_native, "skip the cpp-native path");

  auto* stp = app.add_subcommand("stamp", "record which release saved a checkpoint, in a copy of it or beside it");
  cli::StampArgs stargs;
  stp->add_option("file", stargs.in, ".pt or .safetensors")->required();
  stp->add_option("--release", stargs.release, "the x-transformers release that saved it")->required();
  stp->add_option("--torch", stargs.torch, "the torch it was saved under (layouts of 1.27.1 - 1.30.x depend on it)");
  stp->add_option("--spec", stargs.spec, "the catalogue spec it was built from");
  stp->add_option("--specs-file", common.specs_path, "spec catalogue (TOML)");
  stp->add_option("--spec-args", stargs.spec_args, "a JSON spec: {\"model\": ..., \"wrapper\": {...}, \"layers\": {...}}");
  stp->add_option("--out", stargs.out, "the stamped copy (.safetensors or .pt)");
  stp->add_flag("--sidecar", stargs.sidecar, "leave the file as it is: write FILE.xcompat.json beside it");
  stp->add_flag("--force", stargs.force, "stamp even when the tensors are not named as that release names them");
  stp->add_flag("--json", common.json, "machine-readable output");

  auto* hs = app.add_subcommand("history", "the release history: every change between releases, and what carries it");
  cli::HistoryArgs hargs;
  add_common(hs);
  add_db(hs);
  hs->add_option("--format", hargs.format, "text or markdown (the rule tables of docs/CONVERSION.md)")
      ->check(CLI::IsMember({"text", "markdown", "md"}));
  hs->add_flag("--coverage", hargs.coverage, "each entry with the matrix cells whose conversion crosses it");
  hs->add_flag("--strict", hargs.strict, "with --coverage: exit 1 when an entry has no CONVERTED cell");

  auto* insp = app.add_subcommand("inspect", "list a checkpoint's tensors without executing pickled code");
  std::string inspect_path;
  insp->add_option("file", inspect_path, ".pt or .safetensors")->required();
  insp->add_flag("--json", common.json, "machine-readable output");

  auto* work = app.add_subcommand("worker", "serve requests for one consumer (started by xcompat itself)");
  std::string worker_release, worker_consumer;
  work->add_option("--release", worker_release, "x-transformers release to embed");
  work->add_option("--consumer", worker_consumer, "C++ consumer (cpp-native)");

  CLI11_PARSE(app, argc, argv);
  fargs.releases = fix_releases.all();
  fargs.specs = fix_specs.all();
  sargs.releases = sw_releases.all();
  sargs.specs = sw_specs.all();
  sargs.consumers = sw_consumers.all();
  try {
    if (rel->parsed()) return cli::releases(common, !no_import);
    if (inst->parsed()) return cli::install(common, install_versions);
    if (fix->parsed()) return cli::fixtures(common, fargs);
    if (sw->parsed()) return cli::sweep(common, sargs);
    if (mg->parsed()) return cli::merge(merge_out, merge_in);
    if (qy->parsed()) return cli::query(common, qargs);
    if (rn->parsed()) return cli::runs(common);
    if (df->parsed()) return cli::diff(common, run1, run2);
    if (gcc->parsed()) return cli::gc(common, gargs);
    if (trk->parsed()) return cli::track(common, targs);
    if (rp->parsed()) return cli::report(common, report_out, report_format, report_section);
    if (insp->parsed()) return cli::run_inspect(inspect_path, common.json);
    if (cv->parsed()) return cli::convert(common, cargs);
    if (hs->parsed()) return cli::history(common, hargs);
    if (fpr->parsed()) return cli::fingerprint(fingerprint_path, fingerprint_key, common.json);
    if (stp->parsed()) return cli::stamp(common, stargs);
    if (chk->parsed()) return cli::check(common, chargs);
    if (bis->parsed()) return cli::bisect(common, bargs);
    if (work->parsed()) return cli::exec_worker(worker_release, worker_consumer);
  } catch (const std::exception& e) {
    fmt::print(stderr, "xcompat: {}\n", e.what());
    return 2;
  }
  return 0;
}
