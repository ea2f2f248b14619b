#pragma once
// One function per subcommand; main.cpp parses arguments with CLI11 and
// calls these. Each returns the process exit code and prints its own errors.
//
// Vocabulary (docs/ARCHITECTURE.md): a producer is the release that saved a
// checkpoint (`--release` where it selects producers, `--from` in query);
// a consumer loads it (`--consumer`, `--to` in query); `--spec` names specs.
#include <cstdint>
#include <string>
#include <vector>

namespace xcompat::cli {

struct Common {
  std::string pins_path, specs_path, db_path;
  bool json = false;
};

int releases(const Common& c, bool check_import);
// `xcompat install V...`: sandboxes for published releases that are not pinned.
int install(const Common& c, const std::vector<std::string>& versions);

struct FixturesArgs {
  std::vector<std::string> releases, specs, dtypes;
  int jobs = 1;
  bool verify = false;
};
int fixtures(const Common& c, const FixturesArgs& a);

// `xcompat worker --release V | --consumer C`: replaces this process with the
// worker executable (xcompat-python-worker or xcompat-native-worker), so the
// command line itself never maps libtorch or libpython.
int exec_worker(const std::string& release, const std::string& consumer);

struct SweepArgs {
  std::vector<std::string> releases, specs, consumers;
  std::vector<std::string> dtypes;                // default: the pins' dtypes
  std::vector<std::string> torches;               // default: the pins' default torch
  std::vector<std::string> checkpoints = {"pt"};  // the checkpoint files consumers load
  int jobs = 1;
  std::string shard = "1/1";
  std::string junit;
  std::string known_breaks;  // "": matrix/known_breaks.toml
  bool no_progress = false;
  int cell_timeout_s = 120;
};
int sweep(const Common& c, const SweepArgs& a);
int merge(const std::string& out, const std::vector<std::string>& inputs);

struct ConvertArgs {
  std::string in, out, to, from, spec, spec_args, key;
  std::string adapter;  // --adapter FILE: keep what B cannot hold for an adapter, written there as Python
  std::string optimizer = "refuse";  // what to do with an optimizer state indexed by parameter order: refuse, keep, drop
  bool strict = false, dry_run = false;
};
int convert(const Common& c, const ConvertArgs& a);

struct BisectArgs {
  std::string spec, good, bad, producer, consumer, dtype = "float32";
};
int bisect(const Common& c, const BisectArgs& a);

struct CheckArgs {
  std::string file, to, from, spec, spec_args, key;
  bool install = false, no_native = false;
};
// `xcompat check FILE --to B`: exit 0 safe as it is, 3 breaks, 2 cannot tell.
int check(const Common& c, const CheckArgs& a);

struct StampArgs {
  std::string in, out, release, torch, spec, spec_args;
  bool sidecar = false, force = false;
};
int stamp(const Common& c, const StampArgs& a);

// `xcompat fingerprint FILE`: exit 0, or 3 when no known layout matches.
int fingerprint(const std::string& file, const std::string& key, bool as_json);

// `xcompat history [--format text|markdown] [--json] [--coverage [--db F]]`:
// the release history's entries; with --coverage, the matrix cells that
// exercise each (exit 1 when an entry has no CONVERTED cell and --strict).
struct HistoryArgs {
  std::string format = "text";
  bool coverage = false, strict = false;
};
int history(const Common& c, const HistoryArgs& a);

struct QueryArgs {
  std::string from, to, spec;
  std::string torch_from, torch_to;  // the torch-upgrade question, per release
};
int query(const Common& c, const QueryArgs& a);
int runs(const Common& c);
int diff(const Common& c, int64_t run1, int64_t run2);

struct TrackArgs {
  std::string since, package_source;
  std::vector<std::string> specs, dtypes;
  int limit = 0, jobs = 1;
};
int track(const Common& c, const TrackArgs& a);

struct GcArgs {
  int64_t keep_runs = 0, keep_days = -1;  // unset: 0 and -1
  bool dry_run = false;
};
int gc(const Common& c, const GcArgs& a);

}  // namespace xcompat::cli
