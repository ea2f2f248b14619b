// decode-cache cells: each release's own cached (incremental) decoding, as its
// AutoregressiveWrapper.generate runs it, against uncached forwards over the
// same prefixes, on its own fixture. Releases without a key-value cache, and
// specs a release does not cache, are UNSUPPORTED with the reason; a cache
// that computes something else (injected) is DRIFT.
#include <map>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

namespace {
std::map<std::string, CellResult> cells_of(const fs::path& db) {
  return test::cells_by(db, [](const CellKey& k) { return k.producer + " " + k.spec; });
}
}  // namespace

TEST_CASE("decode-cache: cached decoding against uncached forwards, per release; an injected skew is DRIFT",
          "[release]") {
  test::TempDir t;
  const std::string plan = "sweep --no-progress -j 2 --release 1.19.1,2.31.10 --dtype float32 --consumer decode-cache "
                           "--spec decoder-rotary,decoder-memory-kv,encoder-padmask";
  auto r = test::xcompat(t.path, plan + " --db '" + (t / "m.db").string() + "'");
  INFO(r.out);
  REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  auto cells = cells_of(t / "m.db");
  CHECK(cells.size() == 4);  // decoders only: no cell for encoder-padmask
  CHECK(cells["1.19.1 decoder-rotary"].verdict == Verdict::Unsupported);
  CHECK(cells["1.19.1 decoder-rotary"].error.find("has no key-value cache") != std::string::npos);
  CHECK(verdict_passes(cells["2.31.10 decoder-rotary"].verdict));
  REQUIRE(cells["2.31.10 decoder-rotary"].metrics);
  CHECK(cells["2.31.10 decoder-memory-kv"].verdict == Verdict::Unsupported);
  CHECK(cells["2.31.10 decoder-memory-kv"].error.find("can_cache_kv is False") != std::string::npos);

  // The same cells with a cache that is off by 1e-2: the check sees it.
  auto skewed = test::run_command("XCOMPAT_STATE='" + t.path.string() +
                                  "' XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_DECODE_SKEW=1e-2 '" XCOMPAT_BIN "' " + plan +
                                  " --db '" + (t / "skewed.db").string() + "' 2>&1");
  INFO(skewed.out);
  auto bad = cells_of(t / "skewed.db");
  CHECK(bad["2.31.10 decoder-rotary"].verdict == Verdict::Drift);
  CHECK(bad["1.19.1 decoder-rotary"].verdict == Verdict::Unsupported);
}

TEST_CASE("cpp-native-decode: the port's key-value cache against each release's eager logits; a skew is DRIFT",
          "[release]") {
  test::TempDir t;
  // Positions continue from the cache in every form the port has: absolute,
  // rotary, ALiBi, T5 buckets, a value residual; 1.19.1 has no cache of its
  // own, the port still decodes its checkpoints.
  const std::string plan = "sweep --no-progress -j 2 --release 1.19.1,2.31.10 --dtype float32 --consumer cpp-native-decode "
                           "--spec decoder-absolute,decoder-rotary,decoder-alibi,decoder-t5-relpos,decoder-memory-kv,"
                           "decoder-value-residual,encoder-padmask";
  auto r = test::xcompat(t.path, plan + " --db '" + (t / "m.db").string() + "'");
  INFO(r.out);
  REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  auto cells = cells_of(t / "m.db");
  CHECK(cells.size() == 12);  // decoders only
  for (auto& [name, c] : cells) {
    INFO(name << ": " << verdict_name(c.verdict) << " " << c.error);
    if (name == "1.19.1 decoder-value-residual") CHECK(c.verdict == Verdict::Unsupported);  // not in 1.19.1
    else if (name.find("decoder-memory-kv") != std::string::npos)  // memory tokens: prepended on every call
      CHECK(c.error.find("num_memory_tokens") != std::string::npos);
    else CHECK(verdict_passes(c.verdict));
  }
  auto skewed = test::run_command("XCOMPAT_STATE='" + t.path.string() +
                                  "' XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_DECODE_SKEW=1e-3 '" XCOMPAT_BIN "' " + plan +
                                  " --db '" + (t / "skewed.db").string() + "' 2>&1");
  INFO(skewed.out);
  auto bad = cells_of(t / "skewed.db");
  CHECK(bad["2.31.10 decoder-rotary"].verdict == Verdict::Drift);
  CHECK(bad["1.19.1 decoder-t5-relpos"].verdict == Verdict::Drift);
}
