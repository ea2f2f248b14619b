// Not a test: the generator of the synthetic matrix that scripts/bench_report
// renders. Hidden ([.bench]): no ctest tier runs it; run it explicitly:
//   XCOMPAT_BENCH_DB=/tmp/bench.db XCOMPAT_BENCH_SPECS=20 XCOMPAT_BENCH_RELEASES=20 XCOMPAT_BENCH_RUNS=12
//     build/tests/xcompat_tests "[bench]"      (one command line)
// It writes through the Store API (the real schema, the real record path).
// Consumers are the releases plus cpp-native; every run re-records every cell
// (the worst case for history), with ~1% of verdicts changing per run and
// ~0.3% flaky. Texts are as long as real ones (LOAD_FAIL errors list keys).
#include <cstdlib>
#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "matrix/store.hpp"

namespace fs = std::filesystem;
using namespace xcompat;

namespace {
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
}  // namespace

TEST_CASE("generate a synthetic matrix for scripts/bench_report", "[.bench]") {
  const char* path = std::getenv("XCOMPAT_BENCH_DB");
  if (!path || !*path) FAIL("set XCOMPAT_BENCH_DB to the database to create");
  const int n_specs = env_int("XCOMPAT_BENCH_SPECS", 20), n_rel = env_int("XCOMPAT_BENCH_RELEASES", 20),
            n_runs = env_int("XCOMPAT_BENCH_RUNS", 12);
  fs::remove(path);
  fs::remove(std::string(path) + "-wal");
  fs::remove(std::string(path) + "-shm");
  Store store(path);

  std::vector<std::string> releases, consumers, specs;
  for (int i = 0; i < n_rel; ++i) {
    releases.push_back(fmt::format("{}.{}.{}", i / 8, (i % 8) * 3, i % 5));
    store.register_release({releases.back(), {}, fmt::format("synthetic release {} of {}", i + 1, n_rel)});
    store.register_consumer({releases.back(), "python", releases.back()});
  }
  consumers = releases;
  consumers.push_back("cpp-native");
  store.register_consumer({"cpp-native", "cpp", "native-1"});
  for (int i = 0; i < n_specs; ++i) {
    specs.push_back(fmt::format("spec-{:03d}", i));
    store.register_spec({specs.back(), nlohmann::json{{"name", specs.back()}, {"dim", 64}, {"depth", 2}}});
  }

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  auto keys = [&](const char* part, int n) {
    std::vector<std::string> out;
    for (int k = 0; k < n; ++k) out.push_back(fmt::format("attn_layers.layers.{}.1.{}.{}.weight", k, part, k % 4));
    return out;
  };
  // The "era" of a release: checkpoints load across releases of one era.
  auto era = [&](int r) { return r * 5 / std::max(n_rel, 1); };
  auto base_verdict = [&](int s, int p, int c) {
    if (c == n_rel) return (s % 7 == 0) ? Verdict::Unsupported : (era(p) >= 3 ? Verdict::Close : Verdict::LoadFail);
    if (p == c) return Verdict::Identical;
    if (s % 11 == 0 && c < p) return Verdict::Unsupported;
    if (era(p) == era(c)) return (s + p + c) % 13 == 0 ? Verdict::Close : Verdict::Identical;
    if ((s + p) % 17 == 0) return Verdict::Drift;
    return Verdict::LoadFail;
  };
  std::vector<Verdict> current;
  const Verdict kAll[] = {Verdict::Identical, Verdict::Close, Verdict::Drift, Verdict::LoadFail, Verdict::Error};
  int64_t written = 0;
  for (int run = 1; run <= n_runs; ++run) {
    const int64_t id = store.begin_run({{"synthetic", true}, {"run", run}});
    std::vector<CellResult> batch;
    size_t idx = 0;
    for (int s = 0; s < n_specs; ++s)
      for (int p = 0; p < n_rel; ++p)
        for (int c = 0; c <= n_rel; ++c, ++idx) {
          if (run == 1) current.push_back(base_verdict(s, p, c));
          else if (current[idx] != Verdict::Unsupported && u(rng) < 0.01) current[idx] = kAll[rng() % 5];
          CellResult r;
          r.key = {specs[s], releases[p], consumers[c]};
          r.verdict = current[idx];
          r.cache_key = fmt::format("{:016x}", rng());
          r.latency_ms = 5 + 40 * u(rng);
          r.flaky = u(rng) < 0.003;
          switch (r.verdict) {
            case Verdict::Identical: case Verdict::Close: case Verdict::Drift: {
              Metrics m;
              m.bitwise = r.verdict == Verdict::Identical;
              m.nmse = r.verdict == Verdict::Identical ? 0 : r.verdict == Verdict::Close ? 1e-10 * u(rng) : 0.3 + u(rng);
              m.max_abs = m.nmse * 10;
              m.max_rel = m.nmse * 20;
              m.mean_abs = m.nmse;
              m.cosine = 1 - m.nmse / 2;
              m.top1 = r.verdict == Verdict::Drift ? 0.2 : 1;
              r.metrics = m;
              break;
            }
            case Verdict::LoadFail: {
              r.load_report.missing = keys("net", 8);
              r.load_report.unexpected = keys("ff", 8);
              std::string text = "Error(s) in loading state_dict for TransformerWrapper:\n\tMissing key(s) in state_dict: ";
              for (auto& k : r.load_report.missing) text += "\"" + k + "\", ";
              text += "\n\tUnexpected key(s) in state_dict: ";
              for (auto& k : r.load_report.unexpected) text += "\"" + k + "\", ";
              r.error = text;
              break;
            }
            case Verdict::Error: r.error = "RuntimeError: synthetic failure\nTraceback (most recent call last): ..."; break;
            case Verdict::Unsupported: r.error = "feature not in this release"; break;
            default: break;
          }
          batch.push_back(std::move(r));
          if (batch.size() == 5000) {
            store.record(id, batch);
            written += static_cast<int64_t>(batch.size());
            batch.clear();
          }
        }
    store.record(id, batch);
    written += static_cast<int64_t>(batch.size());
    store.finish_run(id, "complete");
  }
  store.checkpoint();
  WARN(fmt::format("{}: {} results ({} specs x {} releases x {} consumers x {} runs)", path, written, n_specs, n_rel,
                   n_rel + 1, n_runs));
  CHECK(written == static_cast<int64_t>(n_specs) * n_rel * (n_rel + 1) * n_runs);
}
