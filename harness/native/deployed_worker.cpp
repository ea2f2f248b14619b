// The deployment consumers' worker: a release's exported artifact, loaded and
// run as a C++ deployment would (TorchScript through torch::jit::load, an
// AOTInductor package through AOTIModelPackageLoader). Requests:
//   info
//   evaluate {spec, fixture_dir, artifact_dir, tolerance, repeats = 3}
//            -> a CellReply: judged against the fixture's outputs, or
//               LOAD_FAIL when libtorch cannot load what the release exported
// The artifact is read only when its sha256 is the one export.json recorded:
// a TorchScript archive is code, and only xcompat's own exports are run.
#include "harness/native/deployed_worker.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/json_file.hpp"
#include "harness/native/state_dict.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/worker_loop.hpp"

namespace xcompat {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Runner = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

std::string first_line(const std::string& s) { return s.substr(0, std::min(s.find('\n'), std::size_t{400})); }

// libtorch's internal asserts start with where they fired and a plea to
// report them; what went wrong follows on the same line.
std::string informative_line(const std::string& what) {
  // The TorchScript interpreter's first line says only that an operation
  // failed; what failed is its last line.
  if (what.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    std::string last;
    std::size_t start = 0;
    while (start < what.size()) {
      const auto end = std::min(what.find('\n', start), what.size());
      if (what.find_first_not_of(" \t", start) < end) last = what.substr(start, end - start);
      start = end + 1;
    }
    return last.substr(last.find_first_not_of(" \t")).substr(0, 400);
  }
  std::string line = first_line(what);
  const std::string plea = "please report a bug to PyTorch. ";
  if (auto at = line.find(plea); at != std::string::npos) line = line.substr(at + plea.size());
  return line;
}

// Loads the artifact; returns its runner and the stamp the release wrote into it.
Runner load_artifact(const std::string& consumer, const fs::path& file, json& stamp) {
  if (consumer == "cpp-torchscript") {
    torch::jit::ExtraFilesMap extra{{"xcompat.json", ""}};
    auto module = std::make_shared<torch::jit::Module>(torch::jit::load(file.string(), torch::kCPU, extra));
    module->eval();
    stamp = json::parse(extra["xcompat.json"].empty() ? "{}" : extra["xcompat.json"]);
    return [module](const std::vector<at::Tensor>& args) {
      std::vector<torch::jit::IValue> in(args.begin(), args.end());
      return module->forward(in).toTensor();
    };
  }
  auto loader = std::make_shared<torch::inductor::AOTIModelPackageLoader>(file.string());
  const auto meta = loader->get_metadata();
  auto it = meta.find("xcompat");
  stamp = json::parse(it == meta.end() ? "{}" : it->second);
  return [loader](const std::vector<at::Tensor>& args) { return loader->run(args).at(0); };
}

// The stamp compiled into the artifact names the release that exported it.
// Inductor's cache (shared by the releases, TORCHINDUCTOR_CACHE_DIR) hands
// a release whose exported program is identical to another's that one's
// compiled package, stamp included: the same artifact, named by the release
// that compiled it first. It is accepted where export.json, whose sha256
// covers the file, names the fixture's release and the stamps agree in
// everything else (spec, dtype, kind, torch, format).
bool stamp_names_fixture(const json& stamp, const json& record, const std::string& release) {
  if (stamp.value("producer", "") != "xcompat") return false;
  if (stamp.value("x_transformers", "") == release) return true;
  const json recorded = record.value("stamp", json::object());
  if (recorded.value("x_transformers", "") != release) return false;
  json a = stamp, b = recorded;
  a.erase("x_transformers");
  b.erase("x_transformers");
  return a == b;
}

json evaluate(const std::string& consumer, const json& req) {
  const fs::path fixture_dir = req.at("fixture_dir").get<std::string>();
  const fs::path artifact_dir = req.at("artifact_dir").get<std::string>();
  const int repeats = std::max(1, req.value("repeats", 3));
  const json record = read_json_file(artifact_dir / "export.json");
  const json meta = read_json_file(fixture_dir / "meta.json");
  if (record.value("status", "") != "ok") throw Error("the artifact in " + artifact_dir.string() + " was not exported");
  const fs::path file = artifact_dir / record.at("file").get<std::string>();
  if (sha256_file(file) != record.at("sha256").get<std::string>())
    throw Error(file.string() + " does not match its sha256 in export.json: not loaded");

  const auto t0 = Clock::now();
  json stamp;
  Runner run;
  try {
    run = load_artifact(consumer, file, stamp);
  } catch (const std::exception& e) {  // libtorch cannot read what the release exported: a finding
    CellReply reply = CellReply::load_fail({}, consumer + " cannot load the artifact: " + informative_line(e.what()));
    reply.timing = {{"load_ms", ms(t0, Clock::now())}};
    return reply.to_json();
  }
  if (!stamp_names_fixture(stamp, record, meta.value("release", "")))
    throw Error("the artifact's stamp (" + stamp.dump() + ") does not name the fixture's release " +
                meta.value("release", "?"));
  const auto t1 = Clock::now();

  auto args_from = [&](const fs::path& file, const char* what) {
    const TensorMap inputs = read_safetensors(file);
    std::vector<at::Tensor> args;
    for (auto& name : record.at("inputs")) {
      auto it = inputs.find(name.get<std::string>());
      if (it == inputs.end()) throw Error(std::string(what) + " have no input '" + name.get<std::string>() + "'");
      args.push_back(native::to_torch(it->second));
    }
    return args;
  };
  c10::InferenceMode guard;
  std::vector<double> times;
  at::Tensor out, probe_out;
  // The probe: inputs the artifact was not made from (another seed, and for
  // a trace another length), with the release's eager outputs on them. A
  // trace that baked in a branch or a shape passes on its own inputs and
  // drifts here.
  const bool probed = record.contains("probe") && !record["probe"].is_null() &&
                      fs::exists(artifact_dir / "probe_inputs.safetensors");
  try {
    const auto args = args_from(fixture_dir / "inputs.safetensors", "the fixture's inputs");
    for (int i = 0; i < repeats; ++i) {
      const auto s = Clock::now();
      out = run(args);
      times.push_back(ms(s, Clock::now()));
    }
    if (probed) probe_out = run(args_from(artifact_dir / "probe_inputs.safetensors", "the probe inputs"));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // it loads and does not run: the cell's finding, not a worker fault
    CellReply reply;
    reply.verdict = Verdict::Error;
    reply.error = consumer + ": the artifact loads but does not run" + (out.defined() ? " on other inputs: " : ": ") +
                  informative_line(e.what());
    reply.timing = {{"load_ms", ms(t0, t1)}};
    return reply.to_json();
  }
  const auto t2 = Clock::now();
  std::sort(times.begin(), times.end());
  const double latency = times[times.size() / 2];
  CellReply reply = judge_cell_output(native::to_tensor_data(out), latency, {}, fixture_dir, req);
  if (probed) {
    // The worse of the two judgements stands (DRIFT over CLOSE over IDENTICAL).
    CellReply other = judge_against(native::to_tensor_data(probe_out), latency, {}, artifact_dir / "probe_outputs.safetensors", req);
    if (static_cast<int>(other.verdict) > static_cast<int>(reply.verdict)) {
      other.error = "on inputs it was not " + std::string(consumer == "cpp-torchscript" ? "traced" : "exported") +
                    " on: " + other.error + (record.contains("trace_check")
                                                  ? "; the tracer's check: " + record["trace_check"].get<std::string>()
                                                  : "");
      reply = other;
    }
  }
  reply.timing = {{"load_ms", ms(t0, t1)}, {"forward_ms", ms(t1, t2)}, {"compare_ms", ms(t2, Clock::now())}};
  return reply.to_json();
}

}  // namespace

int run_deploy_worker(const char* consumer_name) {
  const std::string consumer = consumer_name;
  at::set_num_threads(1);  // as every other worker
  WorkerHandlers handlers{
      [consumer] { return json{{"consumer", consumer}, {"torch", TORCH_VERSION}, {"threads", at::get_num_threads()}}; },
      [consumer](const json& req) -> json {
        const std::string op = req.value("op", "");
        if (op == "info") return {{"info", {{"consumer", consumer}, {"torch", TORCH_VERSION}}}};
        if (op == "evaluate") return evaluate(consumer, req);
        throw Error(consumer + " worker: unknown op '" + op + "'");
      }};
  return serve_worker(handlers);
}

}  // namespace xcompat
