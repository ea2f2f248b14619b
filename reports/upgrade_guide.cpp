#include "reports/upgrade_guide.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <map>
#include <set>

#include "reports/html_writer.hpp"
#include "harness/core/runtime.hpp"
#include "harness/core/version.hpp"

namespace xcompat::report {

namespace {


// The torch every run of the matrix recorded (runs from before torch was
// recorded say nothing).
std::string torch_of(const ReportData& d) {
  std::set<std::string> seen;
  for (auto& r : d.runs) {
    const auto args = r.to_json()["args"];
    if (args.contains("torch") && args["torch"].is_string()) seen.insert(args["torch"].get<std::string>());
  }
  std::string out;
  for (auto& t : seen) out += (out.empty() ? "" : ", ") + t;
  return out.empty() ? "not recorded" : out;
}

}  // namespace

std::string upgrade_guide_markdown(const ReportData& d) {
  const auto answers = all_upgrade_answers(d);
  const std::string torch = torch_of(d);
  // Each release is judged on what its own checkpoints do in the release
  // that saved them: a spec the release itself fails on (its own bug) does
  // not count against the releases that read it.
  auto slot = [](const CellKey& k) { return k.spec + "|" + k.dtype + "|" + k.checkpoint + "|" + k.device; };
  std::map<std::string, std::map<std::string, Verdict>> own;  // producer -> slot -> verdict of producer -> producer
  std::map<std::pair<std::string, std::string>, std::vector<const CellResult*>> by_pair;
  for (auto& r : d.current) {
    if (r.cell.key.producer == r.cell.key.consumer) own[r.cell.key.producer][slot(r.cell.key)] = r.cell.verdict;
    by_pair[{r.cell.key.producer, r.cell.key.consumer}].push_back(&r.cell);
  }
  // "direct": every slot the producer passes on its own passes as it is;
  // "converted": some only converted; "adapted": some only with an adapter;
  // "" otherwise (or nothing comparable).
  auto reads = [&](const std::string& p, const std::string& c) -> std::string {
    auto it = by_pair.find({p, c});
    if (it == by_pair.end()) return "";
    const auto& base = own[p];
    int compared = 0, converted = 0, adapted = 0;
    for (const CellResult* cell : it->second) {
      auto b = base.find(slot(cell->key));
      if (b == base.end() || !verdict_passes(b->second) || cell->verdict == Verdict::Unsupported) continue;
      ++compared;
      if (cell->verdict == Verdict::Converted) ++converted;
      else if (cell->verdict == Verdict::Adapted) ++adapted;
      else if (!verdict_passes(cell->verdict)) return "";
    }
    return compared == 0 ? "" : adapted ? "adapted" : converted ? "converted" : "direct";
  };
  std::string o = "## Upgrade guide\n\n";
  fmt::format_to(std::back_inserter(o),
                 "For checkpoints saved by each release: the newest release that loads them as they are (every "
                 "spec the saving release passes on its own stays IDENTICAL or CLOSE), the newest that does after "
                 "`xcompat convert` (some specs CONVERTED), the newest that does with an adapter of its model "
                 "(`xcompat convert --adapter`, `xcompat.load_state_dict`: some specs ADAPTED), what the C++ port makes of them, and the newest torch "
                 "under which the same release still does (the torch axis: `xcompat sweep --torch`; without it, "
                 "the torch the cells were measured under). Read from the matrix; `xcompat query --from A --to B` "
                 "gives any pair spec by spec, `xcompat query --torch-from A --torch-to B` every release across "
                 "torches.\n\n"
                 "| saved by | newest that reads them directly | newest after conversion | newest with an adapter | "
                 "cpp-native | newest safe torch |\n"
                 "|---|---|---|---|---|---|\n");
  for (auto& p : d.producers) {
    if (!parse_runtime(p).torch.empty()) continue;  // a release under another torch: its torch column says it
    std::string newest_direct = "none", newest_converted = "none", newest_adapted = "none", native = "no data";
    for (auto& r : d.releases) {  // oldest first: the last that reads them is the newest
      if (!parse_runtime(r.version).torch.empty()) continue;
      const std::string how = reads(p, r.version);
      if (how == "direct") newest_direct = r.version;
      if (how == "direct" || how == "converted") newest_converted = r.version;
      if (!how.empty()) newest_adapted = r.version;
    }
    if (auto it = answers.find({p, "cpp-native"}); it != answers.end())
    {
      const UpgradeAnswer& a = it->second;
      native = a.comparable > 0 && a.passing == a.comparable
                   ? fmt::format("reads them as they are ({} specs)", a.comparable)
               : reads(p, "cpp-native") == "direct"
                   ? fmt::format("reads every spec {} passes on its own ({} of {})", p, a.passing, a.comparable)
                   : fmt::format("not all: {} of {} specs pass", a.passing, a.comparable);
    }
    if (newest_adapted == newest_converted && newest_converted != "none") newest_adapted += " (no adapter needed)";
    if (newest_converted == newest_direct && newest_direct != "none") newest_converted += " (no conversion needed)";
    // The newest torch T under which the same release reads them as it does under the default.
    std::string newest_torch = torch;
    std::optional<Version> best;
    for (auto& [pair, cells] : by_pair) {
      if (pair.first != p) continue;
      const Runtime rt = parse_runtime(pair.second);
      if (rt.release != p || rt.torch.empty() || reads(p, pair.second) != "direct") continue;
      const auto v = Version::parse(rt.torch);
      if (v && (!best || *best < *v)) best = v, newest_torch = rt.torch;
    }
    fmt::format_to(std::back_inserter(o), "| {} | {} | {} | {} | {} | {} |\n", md(p), md(newest_direct),
                   md(newest_converted), md(newest_adapted), md(native), md(newest_torch));
  }
  o += "\n";
  return o;
}

std::string torch_axis_markdown(const ReportData& d) {
  // Each pair crossing torches (R under one torch saved, R under another
  // loaded), next to R within the saving torch (matrix/query.hpp).
  std::map<std::pair<std::string, std::string>, std::vector<const CellResult*>> by_pair;
  for (auto& r : d.current) by_pair[{r.cell.key.producer, r.cell.key.consumer}].push_back(&r.cell);
  std::vector<std::pair<std::string, std::string>> order;
  for (auto& [k, _] : by_pair) {
    const Runtime a = parse_runtime(k.first), b = parse_runtime(k.second);
    if (k.second != "cpp-native" && a.release == b.release && a.torch != b.torch) order.push_back(k);
  }
  std::sort(order.begin(), order.end(), [](auto& x, auto& y) {
    const auto rx = *Version::parse(parse_runtime(x.first).release), ry = *Version::parse(parse_runtime(y.first).release);
    return rx != ry ? rx < ry : x < y;
  });
  std::string o =
      "| saved by | loaded by | cells | passing | not passing, as within one torch | changed by the torch | answer |\n"
      "|---|---|--:|--:|--:|--:|---|\n";
  for (auto& k : order) {
    const auto& across = by_pair[k];
    const auto within = by_pair.find({k.first, k.first});
    const TorchUpgrade up =
        compare_across_torches(across, within == by_pair.end() ? std::vector<const CellResult*>{} : within->second);
    fmt::format_to(std::back_inserter(o), "| {} | {} | {} | {} | {} | {} | {} |\n", md(k.first), md(k.second),
                   across.size(), up.passing, up.failing_as_before, up.changed.size(),
                   up.changed.empty() ? "keeps every spec" : "changes");
  }
  if (order.empty()) o += "| (no cells cross torches: sweep with `--torch`) | | | | | | |\n";
  return o;
}

}  // namespace xcompat::report
