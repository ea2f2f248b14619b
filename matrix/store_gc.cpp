// `xcompat gc`: dropping old runs while every kept run shows what it showed.
//
// K is the oldest kept run (every run from K on is kept). For each cell the
// store keeps the spans that reach K or later, and the latest span that
// began before K (what the matrix as of K, and the first change after it,
// are read against). A span that began before K and goes on past it is split
// first at K, by the runs that recorded the cell, so that no kept read ever
// asks about a dropped run. Outcomes and texts no span refers to go; the
// file is vacuumed after.
#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "harness/core/fault_points.hpp"
#include "matrix/result_writer.hpp"
#include "matrix/run_membership.hpp"
#include "matrix/store.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using json = nlohmann::json;

json GcResult::to_json() const {
  return {{"oldest_kept_run", oldest_kept}, {"runs_dropped", runs_dropped},     {"spans_dropped", spans_dropped},
          {"outcomes_dropped", outcomes_dropped}, {"texts_dropped", texts_dropped}, {"bytes_before", bytes_before},
          {"bytes_after", bytes_after}};
}

namespace {

int64_t file_bytes(const std::string& path) {
  int64_t total = 0;
  for (auto suffix : {"", "-wal"}) {
    struct stat st {};
    if (::stat((path + suffix).c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

std::string days_ago(int64_t days) {
  const std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t count(sql::Db& db, const char* sql) {
  auto st = db.prepare(sql);
  st.step();
  return st.int_at(0);
}

}  // namespace

GcResult Store::gc(const GcRequest& req) {
  if (!req.keep_runs && !req.keep_days) throw Error("gc: say what to keep: --keep-runs N or --keep-days D");
  if ((req.keep_runs && *req.keep_runs < 1) || (req.keep_days && *req.keep_days < 0))
    throw Error("gc: --keep-runs is at least 1 and --keep-days at least 0");
  GcResult res;
  res.bytes_before = file_bytes(db_.path());

  struct R {
    int64_t id;
    std::string started, status;
  };
  std::vector<R> all;
  {
    auto st = db_.prepare("SELECT id, started_at, status, owner FROM runs ORDER BY id");
    while (st.step()) {
      all.push_back({st.int_at(0), st.text_at(1), st.text_at(2)});
      // A sweep still recording holds ids of texts and outcomes in memory
      // that gc may delete: never collect under it.
      if (all.back().status == "running" && owner_alive(st.text_at(3)))
        throw Error(fmt::format("gc: run {} is still being recorded (by {}); run gc after it finishes",
                                all.back().id, st.text_at(3)));
    }
  }
  if (all.empty()) return res;
  // A run is kept when any rule keeps it; the newest and every running run
  // always are. Everything from the oldest kept run on is kept.
  const std::string cutoff = req.keep_days ? days_ago(*req.keep_days) : "";
  int64_t k = all.back().id;
  for (size_t i = 0; i < all.size(); ++i) {
    const bool by_count = req.keep_runs && static_cast<int64_t>(all.size() - i) <= *req.keep_runs;
    const bool by_age = req.keep_days && all[i].started >= cutoff;
    if (by_count || by_age || all[i].status == "running") {
      k = all[i].id;
      break;
    }
  }
  res.oldest_kept = k;
  res.runs_dropped = std::count_if(all.begin(), all.end(), [&](const R& r) { return r.id < k; });
  if (res.runs_dropped == 0) {
    res.bytes_after = res.bytes_before;
    return res;
  }

  {
    sql::Transaction tx(db_);
    const int64_t spans_before = count(db_, "SELECT COUNT(*) FROM spans");
    const int64_t outcomes_before = count(db_, "SELECT COUNT(*) FROM outcomes");
    const int64_t texts_before = count(db_, "SELECT COUNT(*) FROM texts");
    // 1. Split the spans that straddle K.
    {
      RunMembership m(db_);
      struct S {
        int64_t cell, first, last, outcome, runs;
      };
      std::vector<S> straddling;
      auto st = db_.prepare("SELECT cell_id, first_run, last_run, outcome_id, runs FROM spans "
                            "WHERE first_run < ?1 AND last_run >= ?1");
      st.bind(1, k);
      while (st.step()) straddling.push_back({st.int_at(0), st.int_at(1), st.int_at(2), st.int_at(3), st.int_at(4)});
      auto del = db_.prepare("DELETE FROM spans WHERE cell_id = ? AND first_run = ?");
      auto put = db_.prepare("INSERT INTO spans (cell_id, first_run, last_run, outcome_id, runs) VALUES (?, ?, ?, ?, ?)");
      for (auto& s : straddling) {
        const auto before = m.members(s.cell, s.first, k - 1), after = m.members(s.cell, k, s.last);
        if (after.empty()) throw Error(fmt::format("database {}: cell {}'s span {}..{} has no recording run from {} on",
                                                   db_.path(), s.cell, s.first, s.last, k));
        del.bind(1, s.cell).bind(2, s.first).run();
        if (!before.empty())
          put.bind(1, s.cell).bind(2, before.front()).bind(3, before.back()).bind(4, s.outcome)
              .bind(5, static_cast<int64_t>(before.size())).run();
        put.bind(1, s.cell).bind(2, after.front()).bind(3, after.back()).bind(4, s.outcome)
            .bind(5, static_cast<int64_t>(after.size())).run();
      }
    }
    fault_point("gc.mid-transaction");
    // 2. Spans wholly before K, except each cell's latest one.
    db_.prepare("DELETE FROM spans WHERE last_run < ?1 AND first_run < (SELECT MAX(s2.first_run) FROM spans s2 "
                "WHERE s2.cell_id = spans.cell_id AND s2.first_run < ?1)")
        .bind(1, k).run();
    // 3. What no span refers to any more.
    db_.exec("DELETE FROM outcomes WHERE id NOT IN (SELECT outcome_id FROM spans)");
    db_.exec("DELETE FROM texts WHERE id NOT IN (SELECT load_report FROM outcomes WHERE load_report IS NOT NULL "
             "UNION SELECT error FROM outcomes WHERE error IS NOT NULL "
             "UNION SELECT conversion FROM outcomes WHERE conversion IS NOT NULL "
             "UNION SELECT causes FROM outcomes WHERE causes IS NOT NULL "
             "UNION SELECT warnings FROM outcomes WHERE warnings IS NOT NULL)");
    // 4. The runs themselves.
    db_.prepare("DELETE FROM run_cells WHERE run_id < ?").bind(1, k).run();
    db_.prepare("DELETE FROM runs WHERE id < ?").bind(1, k).run();
    writer().drop_orphan_sets();
    res.spans_dropped = spans_before - count(db_, "SELECT COUNT(*) FROM spans");
    res.outcomes_dropped = outcomes_before - count(db_, "SELECT COUNT(*) FROM outcomes");
    res.texts_dropped = texts_before - count(db_, "SELECT COUNT(*) FROM texts");
    if (req.dry_run) {
      res.bytes_after = res.bytes_before;
      return res;  // the transaction rolls back
    }
    tx.commit();
  }
  texts_.reset();  // ids of dropped texts may be given again
  writer_.reset();
  db_.exec("VACUUM");
  checkpoint();
  res.bytes_after = file_bytes(db_.path());
  return res;
}

}  // namespace xcompat
