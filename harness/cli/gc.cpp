// `xcompat gc`: retention (matrix/store_gc.cpp).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "matrix/store.hpp"

namespace xcompat::cli {

int gc(const Common& c, const GcArgs& a) {
  GcRequest req;
  if (a.keep_runs > 0) req.keep_runs = a.keep_runs;
  if (a.keep_days >= 0) req.keep_days = a.keep_days;
  req.dry_run = a.dry_run;
  // A writer's open: gc needs the lock, and a reader's open would leave a
  // dead sweep's run "running" (kept by gc forever).
  if (!std::filesystem::exists(c.db_path)) throw Error("no matrix at " + c.db_path + " (nothing to collect)");
  Store store(c.db_path);
  const GcResult r = store.gc(req);
  if (c.json) {
    std::cout << r.to_json().dump(2) << "\n";
    return 0;
  }
  if (r.runs_dropped == 0) {
    fmt::print("nothing to drop: every run is kept ({})\n", c.db_path);
    return 0;
  }
  fmt::print("{}{} runs dropped (kept: run {} on); {} spans, {} outcomes, {} texts no kept run refers to\n",
             a.dry_run ? "would drop: " : "", r.runs_dropped, r.oldest_kept, r.spans_dropped, r.outcomes_dropped,
             r.texts_dropped);
  if (!a.dry_run)
    fmt::print("{}: {:.1f} MB -> {:.1f} MB\n", c.db_path, r.bytes_before / 1e6, r.bytes_after / 1e6);
  return 0;
}

}  // namespace xcompat::cli
