#include "reports/report_data.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <unordered_map>

#include "reports/html_writer.hpp"

namespace xcompat::report {

char verdict_letter(Verdict v) { return kVerdictLetters[static_cast<int>(v)]; }

const char* change_kind_name(RunChange::Kind k) {
  switch (k) {
    case RunChange::Regressed: return "regressed";
    case RunChange::Fixed: return "fixed";
    case RunChange::Changed: return "changed";
    case RunChange::Flaky: return "flaky";
  }
  return "";
}

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

std::unordered_map<int64_t, std::string> names(sql::Db& db, const char* sql) {
  std::unordered_map<int64_t, std::string> out;
  auto st = db.prepare(sql);
  while (st.step()) out[st.int_at(0)] = st.text_at(1);
  return out;
}

// Every result of every cell, lightly (no texts), oldest first per cell: one
// query instead of Store::history() per cell. Walks the results_by_cell index.
void load_history(Store& store, ReportData& d, const std::map<CellKey, int>& cell_of) {
  sql::Db& db = store.db();
  auto spec_names = names(db, "SELECT id, name FROM specs");
  auto release_names = names(db, "SELECT id, version FROM releases");
  auto consumer_names = names(db, "SELECT id, name FROM consumers");

  std::vector<int64_t> recording_runs;  // runs that recorded anything, ascending
  {
    auto st = db.prepare("SELECT DISTINCT run_id FROM results ORDER BY run_id");
    while (st.step()) recording_runs.push_back(st.int_at(0));
  }
  auto previous_run = [&](int64_t run) -> int64_t {
    auto it = std::lower_bound(recording_runs.begin(), recording_runs.end(), run);
    return it == recording_runs.begin() ? 0 : *std::prev(it);
  };

  auto st = db.prepare(
      "SELECT spec_id, producer_id, consumer_id, device, dtype, run_id, verdict, flaky FROM results "
      "ORDER BY spec_id, producer_id, consumer_id, device, dtype, run_id, id");
  d.history.assign(d.current.size(), {});
  std::tuple<int64_t, int64_t, int64_t, std::string, std::string> prev_key{-1, -1, -1, "", ""};
  int cell = -1;
  while (st.step()) {
    ++d.history_rows;
    std::tuple<int64_t, int64_t, int64_t, std::string, std::string> key{st.int_at(0), st.int_at(1), st.int_at(2),
                                                                        st.text_at(3), st.text_at(4)};
    if (key != prev_key) {
      prev_key = key;
      CellKey ck{spec_names[std::get<0>(key)], release_names[std::get<1>(key)], consumer_names[std::get<2>(key)],
                 std::get<3>(key), std::get<4>(key)};
      auto it = cell_of.find(ck);
      cell = it == cell_of.end() ? -1 : it->second;
    }
    if (cell < 0) continue;
    const int64_t run_id = st.int_at(5);
    const Verdict v = verdict_from_name(st.text_at(6));
    const bool flaky = st.int_at(7) != 0;
    RunSummary& sum = d.run_summary[run_id];  // every run that recorded something has an entry
    auto& steps = d.history[cell];
    if (!steps.empty() && steps.back().verdict == v && !flaky) {
      steps.back().last_run_id = run_id;
      ++steps.back().results;
      continue;
    }
    HistoryStep s;
    s.run_id = s.last_run_id = run_id;
    s.verdict = v;
    s.flaky = flaky;
    if (!steps.empty()) s.before = steps.back().verdict;
    steps.push_back(s);

    if (!s.before) {
      ++sum.new_cells;
      if (flaky) ++sum.flaky;
      continue;
    }
    RunChange ch;
    ch.run_id = run_id;
    ch.before_run = previous_run(run_id);
    ch.cell = cell;
    ch.before = *s.before;
    ch.after = v;
    ch.flaky = flaky;
    if (flaky) ++sum.flaky;
    if (ch.before == ch.after) ch.kind = RunChange::Flaky;
    else if (verdict_passes(ch.before) && !verdict_passes(ch.after)) ch.kind = RunChange::Regressed, ++sum.regressed;
    else if (!verdict_passes(ch.before) && verdict_passes(ch.after)) ch.kind = RunChange::Fixed, ++sum.fixed;
    else ch.kind = RunChange::Changed, ++sum.changed;
    d.changes.push_back(ch);
  }
  std::stable_sort(d.changes.begin(), d.changes.end(), [](const RunChange& a, const RunChange& b) {
    return std::tie(b.run_id, a.kind) < std::tie(a.run_id, b.kind);
  });
}

}  // namespace

ReportData load_report_data(Store& store) {
  ReportData d;
  d.db_path = store.db().path();
  d.runs = store.runs();
  for (size_t i = 0; i < d.runs.size(); ++i) d.run_index[d.runs[i].id] = i;
  d.current = store.matrix_as_of(0);

  {
    auto st = store.db().prepare("SELECT name, definition FROM specs");
    while (st.step()) d.spec_definition[st.text_at(0)] = st.text_at(1);
  }
  // Releases: every producer, and every consumer named like a release.
  std::map<std::string, std::string> reasons;
  {
    auto st = store.db().prepare("SELECT version, reason FROM releases");
    while (st.step()) reasons[st.text_at(0)] = st.text_at(1);
  }
  std::map<std::string, ConsumerInfo> consumer_info;
  {
    auto st = store.db().prepare("SELECT name, kind, version FROM consumers");
    while (st.step()) consumer_info[st.text_at(0)] = {st.text_at(0), st.text_at(1), st.text_at(2), -1};
  }
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

  // Grids: one per (spec, device, dtype).
  std::map<std::string, int> producer_index, consumer_index;
  for (size_t i = 0; i < d.producers.size(); ++i) producer_index[d.producers[i]] = static_cast<int>(i);
  for (size_t i = 0; i < d.consumers.size(); ++i) consumer_index[d.consumers[i].name] = static_cast<int>(i);
  std::map<std::tuple<std::string, std::string, std::string>, int> grid_of;
  for (auto& r : d.current) grid_of[{r.cell.key.spec, r.cell.key.device, r.cell.key.dtype}] = 0;
  std::map<std::string, int> variants;
  for (auto& [k, _] : grid_of) ++variants[std::get<0>(k)];
  std::set<std::string> slugs;
  const size_t width = d.consumers.size();
  for (auto& [k, idx] : grid_of) {
    idx = static_cast<int>(d.grids.size());
    Grid g;
    std::tie(g.spec, g.device, g.dtype) = k;
    g.label = g.spec;
    std::string base = slug(g.spec);
    if (variants[g.spec] > 1) {
      g.label += " (" + g.device + ", " + g.dtype + ")";
      base += "--" + slug(g.device) + "-" + slug(g.dtype);
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
    const int gi = grid_of[{k.spec, k.device, k.dtype}];
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
  std::map<std::pair<std::string, std::string>, std::vector<StoredResult>> by_pair;
  for (auto& r : d.current) by_pair[{r.cell.key.producer, r.cell.key.consumer}].push_back(r);
  std::map<std::pair<std::string, std::string>, UpgradeAnswer> out;
  for (auto& [pair, cells] : by_pair) out[pair] = upgrade_answer(cells, pair.first, pair.second);
  return out;
}

}  // namespace xcompat::report
