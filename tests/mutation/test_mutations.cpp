// The mutation tier: known breaks injected into copies of real fixtures
// (tests/data/mutate_fixture.py), each evaluated by two release consumers
// and cpp-native, from both checkpoint formats, through the real workers and
// the JSON protocol. Every mutation has the verdict it must produce; the
// tier prints the mutation table and its score and fails below 100%.
#include <fmt/format.h>

#include <map>

#include "catch.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/paths.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"
#include "support.hpp"

using namespace xcompat;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kSpecs = {"decoder-absolute", "decoder-glu", "decoder-rmsnorm"};
const std::string kProducer = "2.31.10";
const std::vector<std::string> kReleaseConsumers = {"2.31.10", "2.16.1"};  // the producer's layout, two releases

// The verdict each mutation must produce, whichever format is read (the
// truncations break one format and leave the other intact).
Verdict expected(const std::string& mutation, const std::string& format) {
  static const std::map<std::string, Verdict> by_mutation = {
      {"none", Verdict::Identical},          {"rename-key", Verdict::LoadFail},
      {"missing-key", Verdict::LoadFail},    {"extra-key", Verdict::LoadFail},
      {"transpose", Verdict::LoadFail},      {"transpose-kept-shape", Verdict::Drift},
      {"reshape", Verdict::LoadFail},        {"perturb-1e-3", Verdict::Drift},
      {"norm-scale-0.01", Verdict::Drift},   {"nan", Verdict::Drift},
      {"inf", Verdict::Drift},               {"float16", Verdict::Drift},
      {"flag-flip", Verdict::Drift}};
  if (mutation == "truncate-" + format) return Verdict::Error;
  if (mutation.rfind("truncate-", 0) == 0) return Verdict::Identical;
  return by_mutation.at(mutation);
}

const std::vector<std::string> kMutations = {
    "none",  "rename-key", "missing-key", "extra-key", "transpose", "transpose-kept-shape", "reshape", "perturb-1e-3",
    "norm-scale-0.01", "nan", "inf", "float16", "flag-flip", "truncate-pt", "truncate-safetensors"};

// One verdict class per reply: a worker's exception or crash is ERROR.
Verdict verdict_of(const WorkerReply& r) {
  if (!r.ok()) return Verdict::Error;
  return CellReply::from_json(r.body).verdict;
}

}  // namespace

TEST_CASE("every injected break is caught with its verdict, by every consumer, from both formats", "[mutation]") {
  test::TempDir state;
  std::string spec_args;
  for (auto& s : kSpecs) spec_args += " --spec " + s;
  auto made = test::xcompat(state.path, "fixtures --json --dtype float32 --release " + kProducer + spec_args);
  REQUIRE(made.exit_code == 0);
  std::map<std::string, fs::path> fixture_of;
  const json listing = json::parse(made.out);
  for (auto& row : listing["fixtures"]) fixture_of[row["spec"].get<std::string>()] = row["dir"].get<std::string>();
  REQUIRE(fixture_of.size() == kSpecs.size());

  std::vector<Consumer> consumers;
  for (auto& r : kReleaseConsumers) consumers.push_back(Consumer{r, "python", ""});
  consumers.push_back(native_consumer());
  std::map<std::string, std::unique_ptr<WorkerProcess>> workers;
  for (auto& c : consumers) workers[c.name] = std::make_unique<WorkerProcess>(worker_command(c), c.label());

  const std::string python = (default_venv() / "bin" / "python").string();
  const std::string mutate = std::string(XCOMPAT_TEST_DATA) + "/mutate_fixture.py";
  int caught = 0, total = 0;
  std::string table = "| spec | mutation | tensor | consumer | format | expected | verdict |\n|---|---|---|---|---|---|---|\n";
  for (auto& spec : kSpecs) {
    for (auto& mutation : kMutations) {
      const fs::path dir = state / ("mutated-" + spec + "-" + mutation);
      const std::string kind = mutation == "flag-flip" ? "none" : mutation;
      auto m = test::run_command("'" + python + "' '" + mutate + "' '" + fixture_of.at(spec).string() + "' '" +
                                 dir.string() + "' " + kind);
      REQUIRE(m.exit_code == 0);
      const std::string tensor = m.out.substr(0, m.out.find('\n'));
      json meta = json::parse(test::slurp(dir / "meta.json"));
      json consumer_spec = meta["spec"];
      // Same keys, other computation: the consumer builds the decoder as an
      // encoder (no causal mask).
      if (mutation == "flag-flip") consumer_spec["model"] = "encoder";
      for (auto& c : consumers)
        for (std::string format : {"pt", "safetensors"}) {
          const json req = {{"op", "evaluate"}, {"spec", consumer_spec}, {"fixture_dir", dir.string()},
                            {"checkpoint", "model." + format}, {"tolerance", Tolerance{}.to_json()}};
          const Verdict got = verdict_of(workers[c.name]->request(req, 120s));
          const Verdict want = expected(mutation, format);
          ++total;
          caught += got == want;
          table += fmt::format("| {} | {} | {} | {} | {} | {} | {}{} |\n", spec, mutation, tensor, c.name, format,
                               verdict_name(want), verdict_name(got), got == want ? "" : " **MISSED**");
        }
    }
  }
  fmt::print("{}\nmutation score: {} of {} caught ({:.1f}%)\n", table, caught, total, 100.0 * caught / total);
  if (const char* out = std::getenv("XCOMPAT_MUTATION_TABLE")) std::ofstream(out) << table;
  CHECK(caught == total);
}
