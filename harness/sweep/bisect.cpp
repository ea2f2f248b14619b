#include "harness/sweep/bisect.hpp"

#include "harness/core/shell.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <set>

#include "harness/convert/published.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/sandbox.hpp"
#include "harness/sweep/sweep.hpp"
#include "matrix/store.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string class_of(const CellResult& r) {
  const Verdict direct = r.direct_verdict ? *r.direct_verdict : r.verdict;
  return verdict_passes(direct) ? "pass" : verdict_name(direct);
}

// A worker that could not start or died says nothing about the release's
// behaviour: such a probe is skipped, not classed.
bool infrastructure_fault(const CellResult& r) {
  if (r.verdict != Verdict::Error || r.direct_verdict) return false;
  for (const char* fault : {"[start-failed]", "[crash]", "[timeout]", "[protocol]"})
    if (r.error.find(fault) != std::string::npos) return true;
  return false;
}

struct Prober {
  const Pins& pins;
  const Spec& spec;
  Store& store;
  const BisectRequest& req;
  std::string held;  // the release held on the other side
  bool hold_producer;
  const Consumer* own;  // cpp-native or a check of the producer's own model (cpp-export, ...): no release is held
  const std::function<void(const std::string&)>& log;
  std::map<std::string, BisectProbe> done;
  std::vector<BisectProbe> order;

  const BisectProbe& probe(const std::string& release) {
    if (auto it = done.find(release); it != done.end()) return it->second;
    const auto t0 = Clock::now();
    BisectProbe p{release, "", "", "", 0};
    try {
      install_release(pins, release, log);
      if (!own) install_release(pins, held, log);
      Plan plan;
      plan.specs = {spec};
      const Release x{release, pins.extras_for(release), pins.find(release) ? pins.find(release)->reason : "not pinned: installed on demand"};
      const Release h{own ? release : held, pins.extras_for(own ? release : held), pins.find(held) ? pins.find(held)->reason : "not pinned: installed on demand"};
      plan.producers = {hold_producer ? h : x};
      plan.consumers = {own ? *own : release_consumer(hold_producer ? x : h)};
      plan.dtypes = {req.dtype};
      build_plan(plan, Shard{});
      SweepOptions opts;
      opts.quiet = true;
      const SweepSummary s = run_sweep(plan, pins, store, opts,
                                       {{"bisect", {{"spec", req.spec}, {"good", req.good.str()}, {"bad", req.bad.str()}}}});
      if (s.results.size() != 1) throw Error(fmt::format("the probe planned {} cells, not one", s.results.size()));
      const CellResult& r = s.results.front();
      p.verdict = verdict_name(r.verdict);
      p.detail = r.line();
      p.cls = infrastructure_fault(r) ? "skip" : class_of(r);
    } catch (const Error& e) {
      p.cls = "skip";
      p.detail = e.what();
    }
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (log) log(fmt::format("  {:<9} {:<10} {}", release, p.cls, p.cls == "skip" ? p.detail.substr(0, 200) : p.verdict));
    order.push_back(p);
    return done.emplace(release, p).first->second;
  }
};

int count_lines(const std::string& diff, char sign) {
  int n = 0;
  std::size_t pos = 0;
  while (pos < diff.size()) {
    const std::size_t end = diff.find('\n', pos);
    const std::string_view line(diff.data() + pos, (end == std::string::npos ? diff.size() : end) - pos);
    if (!line.empty() && line[0] == sign && line.rfind(std::string(3, sign), 0) != 0) ++n;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return n;
}

std::string run_diff(const fs::path& a, const fs::path& b) {
  return run_shell("diff -u " + shell_quote(a.string()) + " " + shell_quote(b.string()) + " 2>/dev/null").out;
}

}  // namespace

std::vector<FileChange> source_changes(const std::string& from, const std::string& to) {
  const fs::path a = release_sandbox(from) / "x_transformers", b = release_sandbox(to) / "x_transformers";
  std::set<std::string> files;
  for (auto& root : {a, b}) {
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(root, ec))
      if (e.path().extension() == ".py") files.insert(fs::relative(e.path(), root).string());
  }
  std::vector<FileChange> out;
  for (auto& f : files) {
    FileChange c{f};
    c.created = !fs::exists(a / f);
    c.deleted = !fs::exists(b / f);
    const std::string d = run_diff(c.created ? fs::path("/dev/null") : a / f, c.deleted ? fs::path("/dev/null") : b / f);
    c.added = count_lines(d, '+');
    c.removed = count_lines(d, '-');
    if (c.added || c.removed || c.created || c.deleted) out.push_back(c);
  }
  return out;
}

json BisectOutcome::to_json() const {
  json probes_j = json::array(), files = json::array();
  for (auto& p : probes)
    probes_j.push_back({{"release", p.release}, {"class", p.cls}, {"verdict", p.verdict}, {"detail", p.detail},
                        {"seconds", p.seconds}});
  for (auto& f : changed)
    files.push_back({{"file", f.file}, {"added", f.added}, {"removed", f.removed}, {"created", f.created}, {"deleted", f.deleted}});
  return {{"mode", mode},           {"candidates", candidates},   {"probes", probes_j},
          {"last_good", last_good}, {"first_bad", first_bad},     {"good_class", good_class},
          {"bad_class", bad_class}, {"skipped_between", skipped_between}, {"changed", files},
          {"seconds", seconds}};
}

BisectOutcome bisect(const Pins& pins, const std::vector<Spec>& catalogue, Store& store, const BisectRequest& req,
                     const std::function<void(const std::string&)>& log) {
  const auto t0 = Clock::now();
  if (!(req.good < req.bad))
    throw Error(fmt::format("--good {} is not before --bad {}: bisect walks from the good release up to the bad one",
                            req.good.str(), req.bad.str()));
  for (auto* v : {&req.good, &req.bad})
    if (!is_published(*v)) throw Error(fmt::format("x-transformers has no release {} (matrix/published.txt)", v->str()));
  if (!req.producer.empty() && !req.consumer.empty()) throw Error("give --producer or --consumer, not both");
  const Spec spec = select_specs(catalogue, {req.spec}).front();

  BisectOutcome o;
  const bool hold_producer = req.consumer.empty();
  const std::string held = hold_producer ? (req.producer.empty() ? req.good.str() : req.producer) : req.consumer;
  // A C++ consumer or a check of the producer's own model (docs/DEPLOYMENT.md)
  // holds no release: each probe is that consumer's cell of one producer.
  std::optional<Consumer> own;
  if (!hold_producer && (held == "cpp-native" || is_own_model_check(held)))
    own = select_consumers(pins, {held}).front();
  if (!own && (!Version::parse(held) || !is_published(*Version::parse(held))))
    throw Error(fmt::format("x-transformers has no release '{}' to hold (matrix/published.txt)", held));
  o.mode = (hold_producer ? "producer " : "consumer ") + held;
  std::vector<std::string> cands;
  for (auto& v : published_releases())
    if (req.good <= v && v <= req.bad) cands.push_back(v.str());
  o.candidates = static_cast<int>(cands.size());
  if (log) log(fmt::format("bisecting {} ({}), {} releases from {} to {}", spec.name, o.mode, cands.size(),
                           req.good.str(), req.bad.str()));

  Prober prober{pins, spec, store, req, held, hold_producer, own ? &*own : nullptr, log, {}, {}};
  const BisectProbe good = prober.probe(cands.front());
  const BisectProbe bad = prober.probe(cands.back());
  auto finish = [&] {
    o.probes = prober.order;
    o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  };
  if (good.cls == "skip" || bad.cls == "skip")
    throw Error(fmt::format("{} cannot be evaluated: {}", good.cls == "skip" ? good.release : bad.release,
                            good.cls == "skip" ? good.detail : bad.detail));
  if (good.cls == bad.cls)
    throw Error(fmt::format("no change found: {} and {} both give {} for {} ({}); nothing to bisect", good.release,
                            bad.release, good.cls, spec.name, o.mode));
  o.good_class = good.cls;
  o.bad_class = bad.cls;

  // A probe tells only when it has the good class or the bad one: a release
  // that cannot be installed or started, or that gives a third class (one
  // that fails on the spec itself), is skipped like `git bisect skip`.
  auto tells = [&](const BisectProbe& p) { return p.cls == good.cls || p.cls == bad.cls; };
  std::size_t lo = 0, hi = cands.size() - 1;  // lo: the good class; hi: the bad one
  while (hi - lo > 1) {
    // The middle, or the nearest release to it that tells.
    const std::size_t mid = lo + (hi - lo) / 2;
    std::optional<std::size_t> tried;
    for (std::size_t d = 0; d < hi - lo && !tried; ++d)
      for (std::size_t i : {mid + d, mid - d})
        if (i > lo && i < hi && tells(prober.probe(cands[i]))) {
          tried = i;
          break;
        }
    if (!tried) break;  // nothing between tells
    if (prober.probe(cands[*tried]).cls == good.cls) lo = *tried;
    else hi = *tried;
  }
  o.last_good = cands[lo];
  o.first_bad = cands[hi];
  for (std::size_t i = lo + 1; i < hi; ++i) {
    const BisectProbe& p = prober.probe(cands[i]);
    o.skipped_between.push_back(fmt::format("{} ({}: {})", p.release, p.cls, p.detail.substr(0, 200)));
  }
  o.changed = source_changes(o.last_good, o.first_bad);
  finish();
  return o;
}

}  // namespace xcompat
