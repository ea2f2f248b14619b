#include "reports/report_data.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "reports/html_writer.hpp"

namespace xcompat::report {

const RunInfo* ReportData::run(int64_t id) const {
  auto it = run_index.find(id);
  return it == run_index.end() ? nullptr : &runs[it->second];
}

std::string ReportData::run_time(int64_t id) const {
  const RunInfo* r = run(id);
  return r ? r->started_at : "";
}

int ReportData::rank_of(const std::string& release) const {
  auto it = release_rank.find(release);
  return it == release_rank.end() ? -1 : it->second;
}

namespace {

// Every cell's history, lightly (no texts), oldest first per cell: one pass
// over the store's spans instead of Store::history() per cell.
void load_history(Store& store, ReportData& d, const std::map<CellKey, int>& cell_of) {
  const std::vector<int64_t> recording_runs = store.recording_runs();
  auto previous_run = [&](int64_t run) -> int64_t {
    auto it = std::lower_bound(recording_runs.begin(), recording_runs.end(), run);
    return it == recording_runs.begin() ? 0 : *std::prev(it);
  };

  d.history.assign(d.current.size(), {});
  for (int64_t run : recording_runs) d.run_summary[run];  // every run that recorded something has an entry
  CellKey prev_key;
  int cell = -1;
  store.for_each_result_in_cell_order([&](const TimelineRow& row) {
    d.history_rows += row.runs;
    if (cell < 0 || row.key != prev_key) {
      prev_key = row.key;
      auto it = cell_of.find(row.key);
      cell = it == cell_of.end() ? -2 : it->second;
    }
    if (cell < 0) return;
    auto& steps = d.history[cell];
    const std::optional<Verdict> before = steps.empty() ? std::nullopt : std::optional{steps.back().verdict};
    const auto kind = classify(before, row.verdict, row.flaky);
    if (!kind) {  // the same verdict held
      steps.back().last_run_id = row.last_run_id;
      steps.back().results += row.runs;
      return;
    }
    RunSummary& sum = d.run_summary[row.run_id];
    HistoryStep s;
    s.run_id = row.run_id;
    s.last_run_id = row.last_run_id;
    s.results = row.runs;
    s.verdict = row.verdict;
    s.flaky = row.flaky;
    s.before = before;
    steps.push_back(s);
    if (row.flaky) ++sum.flaky;
    switch (*kind) {
      case ChangeKind::New: ++sum.new_cells; return;
      case ChangeKind::Regressed: ++sum.regressed; break;
      case ChangeKind::Fixed: ++sum.fixed; break;
      case ChangeKind::Changed: ++sum.changed; break;
      case ChangeKind::Flaky: break;
    }
    d.changes.push_back({*kind, row.run_id, previous_run(row.run_id), cell, *before, row.verdict, row.flaky});
  });
  std::stable_sort(d.changes.begin(), d.changes.end(), [](const RunChange& a, const RunChange& b) {
    return std::tie(b.run_id, a.kind) < std::tie(a.run_id, b.kind);
  });
}

}  // namespace

ReportData load_report_data(Store& store) {
  ReportData d;
  d.db_path = store.path();
  d.runs = store.runs();
  for (size_t i = 0; i < d.runs.size(); ++i) d.run_index[d.runs[i].id] = i;
  d.current = store.matrix_as_of(0);

  d.spec_definition = store.spec_definitions();
  // Releases: every producer, and every consumer named like a release.
  std::map<std::string, std::string> reasons = store.release_reasons();
  std::map<std::string, ConsumerInfo> consumer_info;
  for (auto& c : store.consumers()) consumer_info[c.name] = {c.name, c.kind, c.version, -1};
  std::set<std::string> producer_set, consumer_set, release_set;
  for (auto& r : d.current) {
    producer_set.insert(r.cell.key.producer);
    consumer_set.insert(r.cell.key.consumer);
  }
  release_set = producer_set;
  for (auto& c : consumer_set)
    if (reasons.count(c)) release_set.insert(c);
  std::vector<std::string> rel(release_set.begin(), release_set.end());
  std::sort(rel.begin(), rel.end(), [](auto& a, auto& b) { return version_less(a, b); });
  for (auto& v : rel) {
    d.release_rank[v] = static_cast<int>(d.releases.size());
    d.releases.push_back({v, reasons.count(v) ? reasons[v] : ""});
  }
  for (auto& v : rel)
    if (producer_set.count(v)) d.producers.push_back(v);
  std::vector<std::string> cons(consumer_set.begin(), consumer_set.end());
  std::sort(cons.begin(), cons.end(), [&](auto& a, auto& b) {
    const int ra = d.rank_of(a), rb = d.rank_of(b);
    if ((ra >= 0) != (rb >= 0)) return ra >= 0;
    if (ra >= 0) return ra < rb;
    return a < b;
  });
  for (auto& c : cons) {
    ConsumerInfo ci = consumer_info.count(c) ? consumer_info[c] : ConsumerInfo{c, "", "", -1};
    ci.rank = d.rank_of(c);
    d.consumers.push_back(ci);
  }

  // Grids: one per (spec, device, dtype, checkpoint).
  std::map<std::string, int> producer_index, consumer_index;
  for (size_t i = 0; i < d.producers.size(); ++i) producer_index[d.producers[i]] = static_cast<int>(i);
  for (size_t i = 0; i < d.consumers.size(); ++i) consumer_index[d.consumers[i].name] = static_cast<int>(i);
  using Variant = std::tuple<std::string, std::string, std::string, std::string>;
  auto variant_of = [](const CellKey& k) { return Variant{k.spec, k.device, k.dtype, k.checkpoint}; };
  std::map<Variant, int> grid_of;
  for (auto& r : d.current) grid_of[variant_of(r.cell.key)] = 0;
  std::map<std::string, int> variants;
  for (auto& [k, _] : grid_of) ++variants[std::get<0>(k)];
  std::set<std::string> slugs;
  const size_t width = d.consumers.size();
  for (auto& [k, idx] : grid_of) {
    idx = static_cast<int>(d.grids.size());
    Grid g;
    std::tie(g.spec, g.device, g.dtype, g.checkpoint) = k;
    g.label = g.spec;
    std::string base = slug(g.spec);
    if (variants[g.spec] > 1) {
      // The dtype always, the other axes when they are not the default.
      std::string axes = g.dtype;
      if (g.checkpoint != "pt") axes += ", " + g.checkpoint;
      if (g.device != "cpu") axes += ", " + g.device;
      g.label += " (" + axes + ")";
      base += "--" + slug(g.dtype) + (g.checkpoint != "pt" ? "-" + slug(g.checkpoint) : "") +
              (g.device != "cpu" ? "-" + slug(g.device) : "");
    }
    g.slug = base;
    for (int n = 2; slugs.count(g.slug); ++n) g.slug = base + "-" + std::to_string(n);
    slugs.insert(g.slug);
    g.cells.assign(d.producers.size() * width, -1);
    d.grids.push_back(std::move(g));
  }
  std::map<CellKey, int> cell_of;
  d.cell_grid.resize(d.current.size());
  d.cell_producer.resize(d.current.size());
  d.cell_consumer.resize(d.current.size());
  for (size_t i = 0; i < d.current.size(); ++i) {
    const auto& r = d.current[i];
    const auto& k = r.cell.key;
    const int gi = grid_of[variant_of(k)];
    const int p = producer_index[k.producer], c = consumer_index[k.consumer];
    Grid& g = d.grids[gi];
    g.cells[p * width + c] = static_cast<int32_t>(i);
    ++g.counts[static_cast<int>(r.cell.verdict)];
    ++d.counts[static_cast<int>(r.cell.verdict)];
    ++g.total;
    if (r.cell.flaky) ++g.flaky;
    g.min_run = g.min_run ? std::min(g.min_run, r.run_id) : r.run_id;
    g.max_run = std::max(g.max_run, r.run_id);
    d.cell_grid[i] = gi;
    d.cell_producer[i] = p;
    d.cell_consumer[i] = c;
    cell_of[k] = static_cast<int>(i);
  }
  load_history(store, d, cell_of);
  return d;
}

std::map<std::pair<std::string, std::string>, UpgradeAnswer> all_upgrade_answers(const ReportData& d) {
  std::map<std::pair<std::string, std::string>, std::vector<const CellResult*>> by_pair;
  for (auto& r : d.current) by_pair[{r.cell.key.producer, r.cell.key.consumer}].push_back(&r.cell);
  std::map<std::pair<std::string, std::string>, UpgradeAnswer> out;
  // The pages read counts and the overall answer, never the rows.
  for (auto& [pair, cells] : by_pair) out[pair] = upgrade_summary(cells, pair.first, pair.second);
  return out;
}

}  // namespace xcompat::report
