#include "harness/sweep/track.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "harness/core/consumers.hpp"
#include "harness/core/error.hpp"
#include "harness/core/package_source.hpp"
#include "harness/core/sandbox.hpp"
#include "harness/core/version.hpp"
#include "harness/sweep/sweep.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

// How a reader does with one pair's cells: every comparable spec passing as
// it is ("direct"), some only after conversion ("converted"), some only with
// an adapter of the reader's model ("adapted"), any failing ("fails"); "no
// data" when nothing is comparable.
std::string how(const std::vector<StoredResult>& cells) {
  int comparable = 0, direct = 0, converted = 0, adapted = 0;
  for (auto& r : cells) {
    if (r.cell.verdict == Verdict::Unsupported) continue;
    ++comparable;
    if (r.cell.verdict == Verdict::Identical || r.cell.verdict == Verdict::Close) ++direct;
    else if (r.cell.verdict == Verdict::Converted) ++converted;
    else if (r.cell.verdict == Verdict::Adapted) ++adapted;
  }
  if (comparable == 0) return "no data";
  if (direct == comparable) return "direct";
  if (direct + converted == comparable) return "converted";
  if (direct + converted + adapted == comparable) return "adapted";
  return "fails";
}

std::string cause_of(const CellResult& c) {
  if (!c.load_report.empty()) {
    const auto& r = c.load_report;
    const std::string first = !r.missing.empty() ? "missing " + r.missing.front()
                              : !r.unexpected.empty() ? "unexpected " + r.unexpected.front()
                                                      : "mis-shaped " + r.misshaped.front();
    return fmt::format("strict load fails ({} missing, {} unexpected, {} mis-shaped; e.g. {})", r.missing.size(),
                       r.unexpected.size(), r.misshaped.size(), first);
  }
  if (c.causes.is_array() && !c.causes.empty()) return c.causes[0].value("detail", c.causes[0].dump());
  if (!c.error.empty()) return c.error.substr(0, c.error.find('\n')).substr(0, 200);
  if (c.metrics) return fmt::format("computes something else (nmse {:.2g})", c.metrics->nmse);
  return verdict_name(c.verdict);
}

// A cell's identity without the release being compared: the counterpart
// of a baseline cell in the candidate's sweep.
std::string slot(const CellKey& k, bool as_producer) {
  return fmt::format("{}|{}|{}|{}|{}", k.spec, as_producer ? k.consumer : k.producer, k.device, k.dtype, k.checkpoint);
}

struct Sides {
  std::map<std::string, StoredResult> reads, read_by;  // by slot
  TrackSide reads_side, read_by_side;
};

// What the store holds for `release` against the known pins (and cpp-native).
Sides sides_of(Store& store, const std::string& release, const std::vector<std::string>& known,
               const std::vector<std::string>& specs) {
  Sides s;
  auto keep = [&](const StoredResult& r) { return specs.empty() || std::count(specs.begin(), specs.end(), r.cell.key.spec); };
  auto readers = known;
  readers.push_back("cpp-native");
  for (auto& p : known) {  // release reads p's checkpoints
    std::vector<StoredResult> cells;
    for (auto& r : store.latest_for_pair(p, release))
      if (keep(r)) cells.push_back(r), s.reads[slot(r.cell.key, false) + "|" + p] = r;
    s.reads_side.by_release.push_back({p, how(cells)});
  }
  for (auto& q : readers) {  // q reads release's checkpoints
    std::vector<StoredResult> cells;
    for (auto& r : store.latest_for_pair(release, q))
      if (keep(r)) cells.push_back(r), s.read_by[slot(r.cell.key, true) + "|" + q] = r;
    s.read_by_side.by_release.push_back({q, how(cells)});
  }
  return s;
}

void sweep_cells(const Pins& pins, const std::vector<Spec>& catalogue, Store& store, const TrackRequest& req,
                 const std::vector<std::string>& producers, const std::vector<std::string>& consumers) {
  Plan plan;
  std::vector<std::string> wanted_specs = req.specs;
  plan.specs = select_specs(catalogue, wanted_specs);
  plan.producers = select_releases(pins, producers);
  plan.consumers = select_consumers(pins, consumers);
  plan.dtypes = req.dtypes.empty() ? pins.dtypes : req.dtypes;
  build_plan(plan, Shard{});
  SweepOptions opts;
  opts.jobs = req.jobs;
  opts.quiet = true;
  run_sweep(plan, pins, store, opts,
            {{"track", true}, {"releases", producers}, {"consumers", consumers}, {"specs", req.specs},
             {"dtypes", plan.dtypes}, {"torch", pins.torch}});
}

std::string toml_entry(const std::string& version, const std::string& reason) {
  std::string r = reason;
  for (size_t at = 0; (at = r.find('"', at)) != std::string::npos; at += 2) r.replace(at, 1, "\\\"");
  return fmt::format("[[release]]\nversion = \"{}\"\nextras = []\nreason = \"{}\"\n", version, r);
}

}  // namespace

json TrackSide::to_json() const {
  json j = json::object();
  for (auto& [r, h] : by_release) j[r] = h;
  return j;
}

json TrackCandidate::to_json() const {
  json b = json::array();
  for (auto& x : breaks)
    b.push_back({{"was", {{"cell", x.was_key.str()}, {"verdict", verdict_name(x.was)}}},
                 {"now", {{"cell", x.now_key.str()}, {"verdict", verdict_name(x.now)}}},
                 {"cause", x.cause}});
  return {{"version", version}, {"reads", reads.to_json()},    {"read_by", read_by.to_json()},
          {"breaks", b},        {"differences", differences}, {"propose", propose},
          {"reason", reason},   {"pins_entry", pins_entry}};
}

bool TrackResult::any_break() const {
  return std::any_of(candidates.begin(), candidates.end(), [](auto& c) { return !c.breaks.empty(); });
}

json TrackResult::to_json() const {
  json c = json::array();
  for (auto& x : candidates) c.push_back(x.to_json());
  return {{"source", source}, {"baseline", baseline}, {"published_after", published_after}, {"candidates", c},
          {"breaks", any_break()}};
}

TrackResult track_releases(const Pins& pins, const std::vector<Spec>& catalogue, Store& store,
                           const TrackRequest& req, const std::function<void(const std::string&)>& log) {
  TrackResult out;
  out.source = package_source_label();
  // The known pins: all of them, or those up to --since.
  std::vector<std::string> known;
  std::optional<Version> base;
  if (req.since) {
    base = Version::parse(*req.since);
    if (!base) throw Error("--since takes a release (X.Y.Z), not '" + *req.since + "'");
  }
  for (auto& r : pins.releases)
    if (!base || *Version::parse(r.version) <= *base) known.push_back(r.version);
  if (known.empty()) throw Error("no pinned release at or before " + req.since.value_or("?"));
  std::sort(known.begin(), known.end(), [](auto& a, auto& b) { return *Version::parse(a) < *Version::parse(b); });
  out.baseline = known.back();
  const Version newest = *Version::parse(out.baseline);

  log("listing x-transformers releases from " + out.source);
  std::vector<std::string> candidates;
  for (auto& v : list_published_releases())
    if (newest < v) candidates.push_back(v.str());
  out.published_after = candidates;
  if (req.limit > 0 && static_cast<int>(candidates.size()) > req.limit)
    candidates.erase(candidates.begin(), candidates.end() - req.limit);
  if (candidates.empty()) return out;

  // The baseline both ways (from the cache when the matrix has it).
  std::vector<std::string> readers = known;
  readers.push_back("cpp-native");
  log("baseline " + out.baseline + ": both ways against " + std::to_string(known.size()) + " pins");
  sweep_cells(pins, catalogue, store, req, known, {out.baseline});
  sweep_cells(pins, catalogue, store, req, {out.baseline}, readers);
  const Sides baseline = sides_of(store, out.baseline, known, req.specs);

  const Sides* before = &baseline;
  std::string before_name = out.baseline;
  std::vector<Sides> kept;
  kept.reserve(candidates.size());
  for (auto& v : candidates) {
    log("candidate " + v + ": installing from " + out.source);
    install_release(pins, v, log);
    auto known_and_v = known;
    known_and_v.push_back(v);
    auto readers_and_v = readers;
    readers_and_v.push_back(v);
    log("candidate " + v + ": reading every pin's checkpoints, and read by every pin and cpp-native");
    sweep_cells(pins, catalogue, store, req, known_and_v, {v});
    sweep_cells(pins, catalogue, store, req, {v}, readers_and_v);
    kept.push_back(sides_of(store, v, known, req.specs));
    const Sides& now = kept.back();

    TrackCandidate c;
    c.version = v;
    c.reads = now.reads_side;
    c.read_by = now.read_by_side;
    // Breaks: what the newest pin passes and the candidate does not.
    for (auto [was_map, now_map] : {std::pair{&baseline.reads, &now.reads}, {&baseline.read_by, &now.read_by}})
      for (auto& [key, was] : *was_map) {
        if (!verdict_passes(was.cell.verdict)) continue;
        auto it = now_map->find(key);
        if (it == now_map->end()) continue;
        const CellResult& cell = it->second.cell;
        if (verdict_passes(cell.verdict) || cell.verdict == Verdict::Unsupported) continue;
        c.breaks.push_back({was.cell.key, cell.key, was.cell.verdict, cell.verdict, cause_of(cell)});
      }
    // Where it behaves unlike the release before it: a boundary to pin.
    for (auto [side, a, b] : {std::tuple{"reads", &before->reads_side, &now.reads_side},
                              {"read by", &before->read_by_side, &now.read_by_side}})
      for (size_t i = 0; i < a->by_release.size() && i < b->by_release.size(); ++i)
        if (a->by_release[i].second != b->by_release[i].second)
          c.differences.push_back(fmt::format("{} {}: {} at {}, {} at {}", side, a->by_release[i].first,
                                              a->by_release[i].second, before_name, b->by_release[i].second, v));
    const bool newest_candidate = v == candidates.back();
    if (!c.differences.empty()) {
      c.propose = true;
      c.reason = fmt::format("first release after {} that behaves differently: {}", before_name,
                             c.differences.front() +
                                 (c.differences.size() > 1 ? fmt::format(" (and {} more)", c.differences.size() - 1) : ""));
    } else if (newest_candidate) {
      c.propose = true;
      c.reason = fmt::format("the newest release ({}); behaves like {} in every cell swept", out.source, before_name);
    } else {
      c.reason = "behaves like " + before_name + " in every cell swept: no need to pin";
    }
    if (c.propose) c.pins_entry = toml_entry(v, c.reason);
    out.candidates.push_back(std::move(c));
    before = &kept.back();
    before_name = v;
  }
  return out;
}

}  // namespace xcompat
