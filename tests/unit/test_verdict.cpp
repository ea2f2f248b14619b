// The verdict table (harness/core/verdict.hpp) is the one list every reader
// iterates; the schema's CHECK constraints are its frozen copies (a released
// migration step is never edited). This keeps them equal, and the table's
// own promises: unique names and letters, names that read back, and the
// passing set the scores count.
#include <regex>
#include <set>

#include "catch.hpp"
#include "harness/core/error.hpp"
#include "harness/core/verdict.hpp"
#include "matrix/sqlite.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using namespace xcompat;
using xcompat::sql::Db;

TEST_CASE("every CHECK constraint on a verdict column lists the verdict table, in its order", "[unit]") {
  test::TempDir t;
  const std::string path = (t / "m.db").string();
  { Store store(path); }  // every migration applied
  Db db(path, false);
  std::vector<std::string> table;
  for (auto& v : kVerdicts) table.push_back(v.name);
  auto st = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%verdict IN%'");
  const std::regex check(R"(verdict IN\s*\(([^)]*)\))");
  int constraints = 0;
  while (st.step()) {
    const std::string sql = st.text_at(1);
    for (auto it = std::sregex_iterator(sql.begin(), sql.end(), check); it != std::sregex_iterator(); ++it) {
      std::vector<std::string> listed;
      const std::string list = (*it)[1];
      const std::regex quoted("'([A-Z_]+)'");
      for (auto q = std::sregex_iterator(list.begin(), list.end(), quoted); q != std::sregex_iterator(); ++q)
        listed.push_back((*q)[1]);
      INFO("table " << st.text_at(0));
      CHECK(listed == table);
      ++constraints;
    }
  }
  CHECK(constraints >= 2);  // outcomes and checks
}

TEST_CASE("the verdict table: unique names and letters, names that read back, IDENTICAL CLOSE CONVERTED ADAPTED pass",
          "[unit]") {
  std::set<std::string> names;
  std::set<char> letters;
  std::string passing;
  for (int i = 0; i < kVerdictCount; ++i) {
    const VerdictInfo& v = kVerdicts[i];
    CHECK(static_cast<int>(v.verdict) == i);  // verdict_info indexes by the enum
    CHECK(names.insert(v.name).second);
    CHECK(letters.insert(v.letter).second);
    CHECK(verdict_from_name(v.name) == v.verdict);
    CHECK(std::string(v.meaning).size() > 0);
    if (v.passes) passing += v.letter;
  }
  CHECK(passing == "ICVA");
  CHECK(verdict_letters() == "ICVADLEU");
  CHECK_THROWS_AS(verdict_from_name("FINE"), Error);
}
