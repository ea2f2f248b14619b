// `xcompat query`, `xcompat runs`, `xcompat diff`: reading the matrix.
#include <fmt/format.h>

#include <iostream>
#include <set>

#include "harness/cli/commands.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/runtime.hpp"
#include "harness/core/version.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "matrix/query.hpp"
#include "matrix/run_change.hpp"

namespace xcompat::cli {

namespace {
Store open_existing(const std::string& path) {
  if (!fs::exists(path)) throw Error("no matrix at " + path + "; run `xcompat sweep` first (or pass --db)");
  return Store(path, false);
}

json change_json(const CellChange& c) {
  return {{"spec", c.key.spec}, {"producer", c.key.producer}, {"consumer", c.key.consumer},
          {"device", c.key.device}, {"dtype", c.key.dtype}, {"before", c.before_name()},
          {"after", verdict_name(c.after)}, {"flaky", c.flaky}};
}
}  // namespace

namespace {

// The torch-upgrade question: for every release with cells from `from`
// (under torch A) to the same release under torch B, the answer per spec.
int torch_query(const Common& c, const QueryArgs& a) {
  if (a.torch_from.empty() || a.torch_to.empty() || !a.from.empty() || !a.to.empty())
    throw Error("give --torch-from and --torch-to together (and not --from/--to)");
  Store store = open_existing(c.db_path);
  const Pins pins = load_pins(c.pins_path);
  auto runtime = [&](const std::string& release, const std::string& torch) {
    return runtime_name(release, torch == pins.torch ? "" : torch);
  };
  std::vector<std::string> releases;
  for (auto& [version, _] : store.release_reasons())
    if (parse_runtime(version).torch.empty() && Version::parse(version)) releases.push_back(version);
  std::sort(releases.begin(), releases.end(), [](auto& x, auto& y) { return *Version::parse(x) < *Version::parse(y); });
  json all = json::array();
  int answered = 0;
  if (!c.json) fmt::print("checkpoints saved under torch {} loaded by the same release under torch {}:\n\n", a.torch_from,
                          a.torch_to);
  for (auto& r : releases) {
    const std::string from = runtime(r, a.torch_from), to = runtime(r, a.torch_to);
    auto answer = upgrade_answer(store.latest_for_pair(from, to, a.spec), from, to, a.spec);
    if (answer.rows.empty()) continue;
    ++answered;
    // Against the same release within the first torch (matrix/query.hpp).
    const auto within_rows = store.latest_for_pair(from, from, a.spec);
    std::vector<const CellResult*> across, within;
    for (auto& row : answer.rows) across.push_back(&row.cell);
    for (auto& w : within_rows) within.push_back(&w.cell);
    const TorchUpgrade up = compare_across_torches(across, within);
    json changed = json::array();
    for (auto& ch : up.changed)
      changed.push_back({{"spec", ch.key.spec}, {"dtype", ch.key.dtype}, {"checkpoint", ch.key.checkpoint},
                         {"before", ch.before ? verdict_name(*ch.before) : ""}, {"after", verdict_name(ch.after)}});
    if (c.json) {
      json j = answer.to_json();
      j["release"] = r;
      j["torch_upgrade"] = up.verdict();
      j["passing"] = up.passing;
      j["failing_as_before"] = up.failing_as_before;
      j["changed"] = changed;
      all.push_back(j);
      continue;
    }
    fmt::print("{:<10} {:<18} {} passing, {} not passing as under torch {} (the release's own), {} changed\n", r,
               up.verdict(), up.passing, up.failing_as_before, a.torch_from, changed.size());
    for (auto& ch : changed)
      fmt::print("           {} {} {}: {} -> {}\n", ch["spec"].get<std::string>(), ch["dtype"].get<std::string>(),
                 ch["checkpoint"].get<std::string>(), ch["before"].get<std::string>(), ch["after"].get<std::string>());
  }
  if (answered == 0)
    throw Error(fmt::format("no cells from torch {} to torch {} in {}: sweep with --torch {},{}", a.torch_from,
                            a.torch_to, c.db_path, a.torch_from, a.torch_to));
  if (c.json) std::cout << all.dump(2) << "\n";
  return 0;
}

}  // namespace

int query(const Common& c, const QueryArgs& a) {
  if (!a.torch_from.empty() || !a.torch_to.empty()) return torch_query(c, a);
  if (a.from.empty() || a.to.empty()) throw Error("give --from and --to (or --torch-from and --torch-to)");
  Store store = open_existing(c.db_path);
  auto answer = upgrade_answer(store.latest_for_pair(a.from, a.to, a.spec), a.from, a.to, a.spec);
  if (answer.rows.empty()) {
    if (!store.has_producer(a.from)) throw Error("no checkpoints from release '" + a.from + "' in " + c.db_path);
    if (!store.has_consumer(a.to)) throw Error("no consumer '" + a.to + "' in " + c.db_path);
    throw Error("spec '" + a.spec + "' has no cells for " + a.from + " -> " + a.to);
  }
  if (c.json) {
    std::cout << answer.to_json().dump(2) << "\n";
    return 0;
  }
  fmt::print("checkpoints saved by {} loaded by {}:\n", a.from, a.to);
  // One block per axis variant (dtype, checkpoint format, device), float32 first.
  auto variant = [](const CellKey& k) {
    return (k.dtype == "float32" ? "" : k.dtype + " ") + (k.checkpoint == "pt" ? "" : "." + k.checkpoint + " ") +
           (k.device == "cpu" ? "" : k.device + " ");
  };
  std::stable_sort(answer.rows.begin(), answer.rows.end(), [&](const UpgradeRow& x, const UpgradeRow& y) {
    return variant(x.cell.key) < variant(y.cell.key);
  });
  bool any_command = false;
  std::string shown = "-";
  for (auto& row : answer.rows) {
    if (const std::string v = variant(row.cell.key); v != shown) {
      fmt::print("\n{}\n", v.empty() ? "float32:" : v.substr(0, v.size() - 1) + ":");
      shown = v;
    }
    // The path: "L→V" is a checkpoint that fails to load as it is and passes converted.
    const std::string path = row.cell.path_letters();
    fmt::print("  {:<24} {:<11} {:<5} {}\n", row.cell.key.spec, verdict_name(row.cell.verdict), path, row.conclusion);
    if (const std::string cmd = row.cell.convert_command(); !cmd.empty()) {
      fmt::print("  {:<24} {:<11} {:<5} run: {}\n", "", "", "", cmd);
      any_command = true;
    }
  }
  if (any_command)
    fmt::print("\n(`model.pt` stands for your checkpoint; `xcompat convert --help` for .safetensors and --strict)\n");
  std::set<std::string> warned;
  for (auto& row : answer.rows) warned.insert(row.cell.warnings.begin(), row.cell.warnings.end());
  if (!warned.empty()) {
    // A deployment consumer's warnings are the release exporter's (torch.jit.trace's deprecation, say).
    const bool exported = a.to == "cpp-torchscript" || a.to == "cpp-export";
    fmt::print("\n{} warns {} (a later torch may make these errors):\n", a.to,
               exported ? "when imported and while the release exports its artifact" : "when imported");
    for (auto& w : warned) fmt::print("  {}\n", w);
  }
  fmt::print("\n{}: {} of {} comparable specs pass (score {:.0f}%){}\n", answer.overall, answer.passing,
             answer.comparable, 100 * answer.score(), answer.any_load_fail ? "; some checkpoints fail to load" : "");
  return 0;
}

int runs(const Common& c) {
  Store store = open_existing(c.db_path);
  auto all = store.runs();
  if (c.json) {
    json j = json::array();
    for (auto& r : all) j.push_back(r.to_json());
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  fmt::print("{:>5}  {:<20}  {:<20}  {:<11}  {:>8}  {}\n", "run", "started", "finished", "status", "results", "args");
  for (auto& r : all)
    fmt::print("{:>5}  {:<20}  {:<20}  {:<11}  {:>8}  {}\n", r.id, r.started_at, r.finished_at, r.status, r.results,
               r.args);
  return 0;
}

int diff(const Common& c, int64_t run1, int64_t run2) {
  Store store = open_existing(c.db_path);
  for (auto id : {run1, run2})
    if (!store.run(id)) throw Error(fmt::format("no run {} in {}", id, c.db_path));
  auto d = diff_runs(store, run1, run2);
  if (c.json) {
    json j = {{"before", run1}, {"after", run2}};
    for (auto [name, list] : {std::pair{"regressed", &d.regressed}, {"fixed", &d.fixed}, {"changed", &d.changed},
                              {"flaky", &d.flaky}}) {
      j[name] = json::array();
      for (auto& ch : *list) j[name].push_back(change_json(ch));
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  auto print = [](const char* label, const std::vector<CellChange>& list) {
    for (auto& ch : list)
      fmt::print("{:<10} {} {} -> {}: {} -> {}{}\n", label, ch.key.spec, ch.key.producer, ch.key.consumer,
                 ch.before ? verdict_name(*ch.before) : "(new)", verdict_name(ch.after), ch.flaky ? " [flaky]" : "");
  };
  print("REGRESSED", d.regressed);
  print("fixed", d.fixed);
  print("changed", d.changed);
  print("flaky", d.flaky);
  fmt::print("{} regressed, {} fixed, {} changed, {} flaky between run {} and run {}\n", d.regressed.size(),
             d.fixed.size(), d.changed.size(), d.flaky.size(), run1, run2);
  return 0;
}

}  // namespace xcompat::cli
