#pragma once
// `xcompat bisect`: the first published release where a cell's verdict class
// changes. One side of the cell is held (--producer P: P's checkpoint loaded
// by each release X; --consumer C: each release X's checkpoint loaded by C);
// the other walks the published releases between --good and --bad by binary
// search. Every probe is a one-cell sweep into the database (so each
// evaluated cell is recorded like any other), on a sandbox installed on
// demand (harness/core/sandbox.hpp). A release that cannot be installed or
// started is skipped, as `git bisect skip` does, and the search goes on
// around it.
//
// The class of a cell is its direct outcome: "pass" (IDENTICAL, CLOSE), or
// the failing verdict (LOAD_FAIL, DRIFT, UNSUPPORTED, ERROR). The bad side
// is any class other than the good release's.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

class Store;

struct BisectRequest {
  std::string spec;  // a catalogue spec
  Version good, bad;
  std::string producer, consumer;  // at most one; neither: --producer good
  std::string dtype = "float32";
};

struct BisectProbe {
  std::string release;
  std::string cls;      // "pass", "LOAD_FAIL", ..., or "skip"
  std::string verdict;  // the cell's recorded verdict (CONVERTED keeps its direct class)
  std::string detail;   // the cell's line, or why it was skipped
  double seconds = 0;   // install + sweep
};

struct FileChange {
  std::string file;  // under x_transformers/
  int added = 0, removed = 0;
  bool created = false, deleted = false;
};

struct BisectOutcome {
  std::string mode;  // "producer 1.19.1" or "consumer 2.31.10"
  int candidates = 0;  // published releases from good to bad
  std::vector<BisectProbe> probes;  // in the order probed
  std::string last_good, first_bad;
  std::string good_class, bad_class;
  std::vector<std::string> skipped_between;  // untestable releases between last good and first bad
  std::vector<FileChange> changed;           // x_transformers sources, last good -> first bad
  double seconds = 0;
  nlohmann::json to_json() const;
};

// Throws Error for bad input: good not before bad, a release that is not
// published, a spec not in the catalogue, both --producer and --consumer, or
// no change of class between good and bad.
BisectOutcome bisect(const Pins& pins, const std::vector<Spec>& catalogue, Store& store, const BisectRequest& req,
                     const std::function<void(const std::string&)>& log = {});

// The source files of x_transformers that differ between two installed
// releases, with line counts (via diff(1)).
std::vector<FileChange> source_changes(const std::string& from, const std::string& to);

}  // namespace xcompat
