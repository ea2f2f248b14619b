#include "matrix/result_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "harness/core/error.hpp"
#include "matrix/cell_set.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.is_null() ? "" : j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A figure's exact bits: two outcomes are one only when every figure is.
std::string bits(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return fmt::format("{:016x}", u);
}

}  // namespace

sql::Stmt& ResultWriter::stmt(const char* sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) it = stmts_.emplace(sql, db_.prepare(sql)).first;
  it->second.reset();
  return it->second;
}

int64_t ResultWriter::cell(int64_t spec_id, int64_t producer_id, int64_t consumer_id, const CellKey& key) {
  const std::string identity =
      fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", spec_id, producer_id, consumer_id, key.device, key.dtype, key.checkpoint);
  if (auto it = cell_ids_.find(identity); it != cell_ids_.end()) return it->second;
  stmt("INSERT OR IGNORE INTO cells (spec_id, producer_id, consumer_id, device, dtype, checkpoint) "
       "VALUES (?, ?, ?, ?, ?, ?)")
      .bind(1, spec_id).bind(2, producer_id).bind(3, consumer_id).bind(4, key.device).bind(5, key.dtype)
      .bind(6, key.checkpoint).run();
  auto& st = stmt("SELECT id FROM cells WHERE spec_id = ? AND producer_id = ? AND consumer_id = ? AND device = ? "
                  "AND dtype = ? AND checkpoint = ?");
  st.bind(1, spec_id).bind(2, producer_id).bind(3, consumer_id).bind(4, key.device).bind(5, key.dtype)
      .bind(6, key.checkpoint);
  if (!st.step()) throw Error("database " + db_.path() + ": a cell just written is missing");
  const int64_t id = st.int_at(0);
  st.reset();
  return cell_ids_[identity] = id;
}

int64_t ResultWriter::text(std::string_view body) {
  if (body.empty()) return 0;
  std::string digest = digest16(body);
  if (auto it = text_ids_.find(digest); it != text_ids_.end()) return it->second;
  stmt("INSERT OR IGNORE INTO texts (digest, body) VALUES (?, ?)").bind_blob(1, digest).bind(2, body).run();
  auto& st = stmt("SELECT id FROM texts WHERE digest = ?");
  st.bind_blob(1, digest);
  if (!st.step()) throw Error("database " + db_.path() + ": a text just written is missing");
  const int64_t id = st.int_at(0);
  st.reset();
  if (text_ids_.size() > 100000) text_ids_.clear();  // bounded: a cache, not the truth
  return text_ids_[digest] = id;
}

int64_t ResultWriter::outcome(int64_t cell_id, const CellResult& c, int64_t run, const std::string& recorded_at) {
  const std::string load_report = c.load_report.to_json().dump(), conversion = dump(c.conversion),
                    causes = dump(c.causes);
  const int64_t t_load = text(load_report), t_error = text(c.error), t_conv = text(conversion),
                t_causes = text(causes), t_warnings = c.warnings.empty() ? 0 : text(json(c.warnings).dump());
  // What makes two outcomes one: everything a reader is shown of the result
  // (texts by id: ids are content addresses within this file).
  std::string identity = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", cell_id, verdict_name(c.verdict),
                                     bits(c.latency_ms), c.flaky, t_load, t_error, t_conv, t_causes, c.cache_key,
                                     c.tolerance_override,
                                     c.direct_verdict ? verdict_name(*c.direct_verdict) : "-", c.metrics.has_value());
  if (c.metrics) {
    const Metrics& m = *c.metrics;
    for (double v : {m.max_abs, m.max_rel, m.mean_abs, m.nmse, m.cosine, m.top1}) identity += "|" + bits(v);
    identity += m.bitwise ? "|b" : "|-";
  }
  if (t_warnings) identity += "|w" + std::to_string(t_warnings);
  const std::string digest = digest16(identity);
  {
    auto& st = stmt("SELECT id FROM outcomes WHERE digest = ?");
    st.bind_blob(1, digest);
    if (st.step()) {
      const int64_t id = st.int_at(0);
      st.reset();
      return id;
    }
  }
  auto& ins = stmt(
      "INSERT INTO outcomes (digest, cell_id, verdict, max_abs, max_rel, mean_abs, nmse, cosine, top1, bitwise, "
      "latency_ms, load_report, error, cache_key, flaky, tolerance_override, direct_verdict, conversion, causes, "
      "first_run, recorded_at, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ins.bind_blob(1, digest).bind(2, cell_id).bind(3, verdict_name(c.verdict));
  if (c.metrics) {
    const Metrics& m = *c.metrics;
    int i = 4;
    // SQLite turns a bound NaN into NULL, which reads back as "no figure":
    // NaN is stored as the text 'NaN' (±Inf are REALs).
    for (double v : {m.max_abs, m.max_rel, m.mean_abs, m.nmse, m.cosine, m.top1}) {
      if (std::isnan(v)) ins.bind(i++, "NaN");
      else ins.bind(i++, v);
    }
    ins.bind(10, m.bitwise ? 1 : 0);
  } else {
    for (int i = 4; i <= 9; ++i) ins.bind_null(i);
    ins.bind(10, 0);
  }
  auto bind_text = [&](int i, int64_t id) { id ? ins.bind(i, id) : ins.bind_null(i); };
  ins.bind(11, c.latency_ms);
  bind_text(12, t_load);
  bind_text(13, t_error);
  ins.bind(14, c.cache_key).bind(15, c.flaky ? 1 : 0).bind(16, c.tolerance_override);
  if (c.direct_verdict) ins.bind(17, verdict_name(*c.direct_verdict));
  else ins.bind_null(17);
  bind_text(18, t_conv);
  bind_text(19, t_causes);
  ins.bind(20, run).bind(21, recorded_at);
  bind_text(22, t_warnings);
  ins.run();
  return db_.last_insert_id();
}

bool ResultWriter::outcome_of_cell(int64_t outcome_id, int64_t cell_id) {
  auto& st = stmt("SELECT cell_id FROM outcomes WHERE id = ?");
  st.bind(1, outcome_id);
  const bool ok = st.step() && st.int_at(0) == cell_id;
  st.reset();
  return ok;
}

std::vector<int64_t> ResultWriter::run_cells(int64_t run) {
  std::vector<int64_t> out;
  auto& st = stmt("SELECT s.cells FROM run_cells r JOIN cell_sets s ON s.id = r.set_id WHERE r.run_id = ?");
  st.bind(1, run);
  while (st.step()) {
    auto ids = decode_cell_set(st.blob_at(0));
    out.insert(out.end(), ids.begin(), ids.end());
  }
  st.reset();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<int64_t> ResultWriter::members(int64_t cell_id, int64_t lo, int64_t hi) {
  std::vector<int64_t> runs, out;
  auto& st = stmt("SELECT DISTINCT run_id FROM run_cells WHERE run_id BETWEEN ? AND ? ORDER BY run_id");
  st.bind(1, lo).bind(2, hi);
  while (st.step()) runs.push_back(st.int_at(0));
  st.reset();
  for (int64_t r : runs) {
    const auto cells = run_cells(r);
    if (std::binary_search(cells.begin(), cells.end(), cell_id)) out.push_back(r);
  }
  return out;
}

void ResultWriter::observe(int64_t run, int64_t cell_id, int64_t outcome_id) {
  auto& find = stmt("SELECT first_run, last_run, outcome_id, runs FROM spans WHERE cell_id = ? AND first_run <= ? "
                    "ORDER BY first_run DESC LIMIT 1");
  find.bind(1, cell_id).bind(2, run);
  if (!find.step()) {
    find.reset();
    stmt("INSERT INTO spans (cell_id, first_run, last_run, outcome_id, runs) VALUES (?, ?, ?, ?, 1)")
        .bind(1, cell_id).bind(2, run).bind(3, run).bind(4, outcome_id).run();
    return;
  }
  const int64_t first = find.int_at(0), last = find.int_at(1), held = find.int_at(2);
  find.reset();
  if (last < run) {  // the usual case: this run is newer than the cell's latest span
    if (held == outcome_id)
      stmt("UPDATE spans SET last_run = ?, runs = runs + 1 WHERE cell_id = ? AND first_run = ?")
          .bind(1, run).bind(2, cell_id).bind(3, first).run();
    else
      stmt("INSERT INTO spans (cell_id, first_run, last_run, outcome_id, runs) VALUES (?, ?, ?, ?, 1)")
          .bind(1, cell_id).bind(2, run).bind(3, run).bind(4, outcome_id).run();
    return;
  }
  // `run` falls inside the span [first, last]: an older run recording after a
  // newer one (two sweeps on one file), or a cell recorded twice in a run.
  // Rare: membership is read from the runs' cell sets.
  std::vector<int64_t> in = members(cell_id, first, last);
  const bool already = run == first || run == last || std::binary_search(in.begin(), in.end(), run);
  if (held == outcome_id) {
    if (!already)
      stmt("UPDATE spans SET runs = runs + 1 WHERE cell_id = ? AND first_run = ?").bind(1, cell_id).bind(2, first).run();
    return;
  }
  // Split: the runs before `run` keep the span's outcome, `run` takes its
  // own, the runs after keep the span's outcome again.
  in.push_back(first);
  in.push_back(last);
  std::sort(in.begin(), in.end());
  in.erase(std::unique(in.begin(), in.end()), in.end());
  std::vector<int64_t> before, after;
  for (int64_t r : in)
    if (r < run) before.push_back(r);
    else if (r > run) after.push_back(r);
  stmt("DELETE FROM spans WHERE cell_id = ? AND first_run = ?").bind(1, cell_id).bind(2, first).run();
  auto put = [&](int64_t a, int64_t b, int64_t o, int64_t n) {
    stmt("INSERT INTO spans (cell_id, first_run, last_run, outcome_id, runs) VALUES (?, ?, ?, ?, ?)")
        .bind(1, cell_id).bind(2, a).bind(3, b).bind(4, o).bind(5, n).run();
  };
  if (!before.empty()) put(before.front(), before.back(), held, static_cast<int64_t>(before.size()));
  put(run, run, outcome_id, 1);
  if (!after.empty()) put(after.front(), after.back(), held, static_cast<int64_t>(after.size()));
}

int64_t ResultWriter::insert_set(const std::vector<int64_t>& ids) {
  const std::string bytes = encode_cell_set(ids), digest = digest16(bytes);
  stmt("INSERT OR IGNORE INTO cell_sets (digest, size, cells) VALUES (?, ?, ?)")
      .bind_blob(1, digest).bind(2, static_cast<int64_t>(ids.size())).bind_blob(3, bytes).run();
  auto& st = stmt("SELECT id FROM cell_sets WHERE digest = ?");
  st.bind_blob(1, digest);
  if (!st.step()) throw Error("database " + db_.path() + ": a cell set just written is missing");
  const int64_t id = st.int_at(0);
  st.reset();
  return id;
}

void ResultWriter::add_cells(int64_t run, const std::vector<int64_t>& cell_ids) {
  if (cell_ids.empty()) return;
  std::vector<int64_t> ids = cell_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  stmt("INSERT OR IGNORE INTO run_cells (run_id, set_id) VALUES (?, ?)").bind(1, run).bind(2, insert_set(ids)).run();
}

void ResultWriter::consolidate(int64_t run) {
  int64_t chunks = 0;
  {
    auto& st = stmt("SELECT COUNT(*) FROM run_cells WHERE run_id = ?");
    st.bind(1, run);
    st.step();
    chunks = st.int_at(0);
    st.reset();
  }
  if (chunks <= 1) return;
  const auto ids = run_cells(run);
  stmt("DELETE FROM run_cells WHERE run_id = ?").bind(1, run).run();
  add_cells(run, ids);
  drop_orphan_sets();
}

void ResultWriter::drop_orphan_sets() {
  stmt("DELETE FROM cell_sets WHERE id NOT IN (SELECT set_id FROM run_cells)").run();
}

}  // namespace xcompat
