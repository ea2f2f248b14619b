// Not a test: the generator of scripts/bench_store's synthetic databases.
// Hidden ([.store-bench]): no ctest tier runs it; run it explicitly:
//   XCOMPAT_BENCH_DB=/tmp/year.db XCOMPAT_BENCH_SHAPE=year build/tests/xcompat_tests "[store-bench]"
// It writes the way a sweep does: begin_run, record() in batches of
// Recorder::kBatchSize, finish_run, through the real store.
//   year  365 nightly runs of 6,000 cells (15 specs x 20 releases x 20
//         consumers); each night ~1% of the cells come out differently (a new
//         verdict, new figures, a new cache key), the rest are reused as
//         they were (the same outcome, as a sweep re-records a cached cell).
//   wide  one run of 200,000 cells: 20 specs x 100 releases x 100 consumers.
// Texts are as long as real ones (LOAD_FAIL errors and load reports list keys,
// conversions and causes are JSON); most are shared, as real ones are.
#include <cstdlib>
#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/sweep/recorder.hpp"
#include "matrix/store.hpp"

namespace fs = std::filesystem;
using namespace xcompat;
using json = nlohmann::json;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

struct Shape {
  int specs, releases, consumers, nights;
};

// A realistic result for verdict `v` of cell `idx`, variant `n` (a change).
CellResult result_of(const CellKey& key, Verdict v, uint64_t idx, uint64_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  CellResult r;
  r.key = key;
  r.verdict = v;
  r.cache_key = fmt::format("{:016x}{:016x}{:016x}{:016x}", idx, n, rng(), rng());
  r.latency_ms = 5 + 40 * u(rng);
  auto keys = [&](const char* part, int k) {
    std::vector<std::string> out;
    for (int i = 0; i < k; ++i) out.push_back(fmt::format("attn_layers.layers.{}.1.{}.{}.weight", i, part, i % 4));
    return out;
  };
  switch (v) {
    case Verdict::Identical: case Verdict::Close: case Verdict::Drift: case Verdict::Converted: {
      Metrics m;
      m.bitwise = v == Verdict::Identical;
      m.nmse = v == Verdict::Identical ? 0 : v == Verdict::Drift ? 0.3 + u(rng) : 1e-10 * u(rng);
      m.max_abs = m.nmse * 10, m.max_rel = m.nmse * 20, m.mean_abs = m.nmse;
      m.cosine = 1 - m.nmse / 2, m.top1 = v == Verdict::Drift ? 0.2 : 1;
      r.metrics = m;
      break;
    }
    default: break;
  }
  if (v == Verdict::LoadFail || v == Verdict::Converted) {
    // One of a few real-looking key sets: texts repeat across cells.
    const char* part = (idx % 3 == 0) ? "net" : (idx % 3 == 1) ? "ff" : "gamma";
    r.load_report.missing = keys(part, 8);
    r.load_report.unexpected = keys("beta", 8);
    std::string text = "Error(s) in loading state_dict for TransformerWrapper:\n\tMissing key(s) in state_dict: ";
    for (auto& k : r.load_report.missing) text += "\"" + k + "\", ";
    text += "\n\tUnexpected key(s) in state_dict: ";
    for (auto& k : r.load_report.unexpected) text += "\"" + k + "\", ";
    r.error = text;
    r.causes = json::array({{{"kind", "layout"}, {"change", fmt::format("rename-{}", idx % 7)},
                             {"detail", "attn_layers.layers.*.1.net -> attn_layers.layers.*.1.ff"}}});
  }
  if (v == Verdict::Converted) {
    r.direct_verdict = Verdict::LoadFail;
    r.conversion = {{"outcome", "lossless"}, {"verdict", "IDENTICAL"},
                    {"changes", json::array({fmt::format("rename-{}", idx % 7)})},
                    {"command", fmt::format("xcompat convert model.pt --to {} -o converted.pt", key.consumer)}};
  }
  if (v == Verdict::Error) r.error = "RuntimeError: synthetic failure\nTraceback (most recent call last): ...";
  if (v == Verdict::Unsupported) r.error = "feature not in this release";
  return r;
}

}  // namespace

TEST_CASE("generate a synthetic store for scripts/bench_store", "[.store-bench]") {
  const char* path = std::getenv("XCOMPAT_BENCH_DB");
  if (!path || !*path) FAIL("set XCOMPAT_BENCH_DB to the database to create");
  const std::string shape_name = std::getenv("XCOMPAT_BENCH_SHAPE") ? std::getenv("XCOMPAT_BENCH_SHAPE") : "year";
  Shape shape = shape_name == "wide" ? Shape{20, 100, 100, 1} : Shape{15, 20, 20, 365};
  shape.nights = env_int("XCOMPAT_BENCH_NIGHTS", shape.nights);
  for (auto suffix : {"", "-wal", "-shm"}) fs::remove(std::string(path) + suffix);
  Store store(path);

  std::vector<std::string> releases, consumers, specs;
  for (int i = 0; i < shape.releases; ++i) {
    releases.push_back(fmt::format("{}.{}.{}", i / 40, (i / 5) % 8, i % 5));
    store.register_release({releases.back(), {}, fmt::format("synthetic release {} of {}", i + 1, shape.releases)});
  }
  for (int i = 0; i + 1 < shape.consumers && i < shape.releases; ++i) {
    consumers.push_back(releases[i]);
    store.register_consumer({releases[i], "python", releases[i]});
  }
  consumers.push_back("cpp-native");
  store.register_consumer({"cpp-native", "cpp", "native-1"});
  for (int i = 0; i < shape.specs; ++i) {
    specs.push_back(fmt::format("spec-{:03d}", i));
    store.register_spec({specs.back(), json{{"name", specs.back()}, {"dim", 64}, {"depth", 2}}});
  }
  std::vector<CellKey> keys;
  for (auto& s : specs)
    for (auto& p : releases)
      for (auto& c : consumers) keys.push_back({s, p, c});

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  const Verdict kAll[] = {Verdict::Identical, Verdict::Close, Verdict::Converted, Verdict::Drift,
                          Verdict::LoadFail,  Verdict::Error, Verdict::Unsupported};
  auto base_verdict = [&](size_t i) {
    const size_t p = (i / consumers.size()) % releases.size(), c = i % consumers.size();
    if (c + 1 == consumers.size()) return i % 7 == 0 ? Verdict::Unsupported : Verdict::Identical;
    if (p == c) return Verdict::Identical;
    if ((p / 5) == (c / 5)) return i % 13 == 0 ? Verdict::Close : Verdict::Identical;
    return i % 3 == 0 ? Verdict::Converted : Verdict::LoadFail;
  };
  std::vector<CellResult> current;
  current.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) current.push_back(result_of(keys[i], base_verdict(i), i, 0, rng));
  int64_t changes = 0;
  for (int night = 1; night <= shape.nights; ++night) {
    if (night > 1)
      for (size_t i = 0; i < keys.size(); ++i)
        if (u(rng) < 0.01) {
          current[i] = result_of(keys[i], kAll[rng() % 7], i, static_cast<uint64_t>(night), rng);
          ++changes;
        }
    const int64_t run = store.begin_run({{"synthetic", shape_name}, {"night", night}});
    std::vector<CellResult> batch;
    for (auto& c : current) {
      batch.push_back(c);
      if (batch.size() == Recorder::kBatchSize) {
        store.record(run, batch);
        batch.clear();
      }
    }
    store.record(run, batch);
    store.finish_run(run, "complete");
  }
  store.checkpoint();
  WARN(fmt::format("{}: {} cells x {} runs, {} changed results", path, keys.size(), shape.nights, changes));
  CHECK(static_cast<int64_t>(store.runs().back().results) == static_cast<int64_t>(keys.size()));
}
