// Folding a shard's database into this one (xcompat merge).
#include <fmt/format.h>

#include "harness/core/fault_points.hpp"
#include "harness/core/error.hpp"
#include "matrix/store.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using namespace store_columns;

int64_t Store::merge_from(const std::string& other_path) {
  { Store other(other_path, false); }  // validates and migrates the input first
  db_.prepare("ATTACH DATABASE ? AS other").bind(1, other_path).run();
  int64_t added = 0;
  try {
    sql::Transaction tx(db_);
    db_.exec("INSERT OR IGNORE INTO releases (version, reason) SELECT version, reason FROM other.releases");
    db_.exec("INSERT OR IGNORE INTO specs (name, definition, hash) SELECT name, definition, hash FROM other.specs");
    db_.exec("INSERT OR IGNORE INTO consumers (name, kind, version) SELECT name, kind, version FROM other.consumers");
    db_.exec("INSERT OR IGNORE INTO runs (uuid, started_at, finished_at, status, harness_version, args) "
             "SELECT uuid, started_at, finished_at, status, harness_version, args FROM other.runs ORDER BY id");
    static const std::string copy_results = [] {
      auto from_other = [](const std::string& c) -> std::string {
        if (c == "run_id") return "mr.id";
        if (c == "spec_id") return "ms.id";
        if (c == "producer_id") return "mp.id";
        if (c == "consumer_id") return "mc.id";
        return "o." + c;
      };
      return "INSERT OR IGNORE INTO results (" + column_list([](const std::string& c) { return c; }) + ") SELECT " +
             column_list(from_other) +
             " FROM other.results o "
             "JOIN other.runs orr ON orr.id = o.run_id JOIN main.runs mr ON mr.uuid = orr.uuid "
             "JOIN other.specs os ON os.id = o.spec_id JOIN main.specs ms ON ms.name = os.name "
             "JOIN other.releases op ON op.id = o.producer_id JOIN main.releases mp ON mp.version = op.version "
             "JOIN other.consumers oc ON oc.id = o.consumer_id JOIN main.consumers mc ON mc.name = oc.name "
             "ORDER BY o.run_id, o.id";
    }();
    fault_point("merge.mid-transaction");  // runs copied, their results not yet
    db_.exec(copy_results);
    added = db_.changes();
    tx.commit();
  } catch (...) {
    db_.exec("DETACH DATABASE other");
    throw;
  }
  db_.exec("DETACH DATABASE other");
  id_cache_.clear();
  return added;
}

}  // namespace xcompat
