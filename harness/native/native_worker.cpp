// `xcompat-native-worker --consumer cpp-native`: the libtorch port as a consumer.
// Requests (the same protocol as the release workers, docs/ARCHITECTURE.md):
//   info                                          -> {info: {...}}
//   evaluate {spec, fixture_dir, checkpoint, tolerance, repeats = 3,
//             release, args, adapters}
//            -> a CellReply (harness/worker/cell_reply.hpp): judged, LOAD_FAIL or UNSUPPORTED
//            A converted checkpoint is read as the release it was converted
//            to (`release`, default the fixture's), built with the arguments
//            the conversion names (`args`) and the adapters it needs
//            (`adapters`, adapters.hpp), and judged against the fixture's
//            outputs: the port as B's model, as the release workers do it.
// Exceptions (unreadable fixture, bad input) propagate: the loop answers them
// as errors. Only NativeUnsupported becomes an UNSUPPORTED cell.
#include "harness/native/native_worker.hpp"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "harness/checkpoint/safetensors.hpp"
#include "harness/convert/conversion.hpp"
#include "harness/core/compare.hpp"
#include "harness/native/state_dict.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/core/identity.hpp"
#include "harness/core/error.hpp"
#include "harness/core/json_file.hpp"
#include "harness/worker/worker_loop.hpp"
#include "harness/native/native_port.hpp"

namespace xcompat {

namespace {

namespace fs = std::filesystem;
using native::NativePort;
using native::NativeUnsupported;

json port_info() {
  return {{"consumer", "cpp-native"},
          {"identity", port_identity()},  // harness/core/identity.hpp: the port's sources, hashed at build time
          {"torch", TORCH_VERSION},
          {"threads", at::get_num_threads()},
          {"releases", {native::kOldestRelease.str(), native::kNewestRelease.str()}}};
}

json evaluate(const json& req) {
  const fs::path fixture_dir = req.at("fixture_dir").get<std::string>();
  const json& spec = req.at("spec");
  const std::string checkpoint = req.value("checkpoint", "model.safetensors");
  const int repeats = std::max(1, req.value("repeats", 3));
  json meta = read_json_file(fixture_dir / "meta.json");
  if (req.contains("release")) meta["release"] = req.at("release");
  const json built = req.contains("args") ? spec_with_args(spec, req.at("args")) : spec;
  const auto adapters = native::adapters_from_json(req.value("adapters", json()));

  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  try {
    const auto t0 = Clock::now();
    NativePort port(built, native::release_context_from_meta(meta));
    port.adapt(adapters);
    const auto t1 = Clock::now();
    const LoadReport report = port.load(native::read_checkpoint_file(fixture_dir / checkpoint));
    const auto t2 = Clock::now();
    json timing = {{"build_ms", ms(t0, t1)}, {"load_ms", ms(t1, t2)}};
    if (!report.empty()) {
      CellReply reply = CellReply::load_fail(report, native::load_error_message(report));
      reply.timing = timing;
      return reply.to_json();
    }
    const TensorMap inputs = read_safetensors(fixture_dir / "inputs.safetensors");
    std::vector<double> times;
    const TensorData logits = port.forward(inputs, repeats, &times);
    const auto t3 = Clock::now();
    std::sort(times.begin(), times.end());
    CellReply reply = judge_cell_output(logits, times[times.size() / 2], report, fixture_dir, req);
    timing["forward_ms"] = ms(t2, t3);
    timing["compare_ms"] = ms(t3, Clock::now());
    reply.timing = timing;
    return reply.to_json();
  } catch (const NativeUnsupported& e) {
    return CellReply::unsupported(std::string("cpp-native does not support ") + e.what()).to_json();
  }
}

// The port's cached decoding on a release's fixture (NativePort::decode),
// judged against that release's own eager logits at the same positions: a
// causal decoder's logits at position t do not depend on what follows, so
// the fixture's full forward is the uncached reference, and the cell is at
// once the port's cache check and its parity with the release.
json decode_parity(const json& req) {
  const fs::path fixture_dir = req.at("fixture_dir").get<std::string>();
  const json meta = read_json_file(fixture_dir / "meta.json");
  const int64_t steps = std::max(1, req.value("steps", 8));
  try {
    NativePort port(req.at("spec"), native::release_context_from_meta(meta));
    const LoadReport report = port.load(native::read_checkpoint_file(fixture_dir / req.value("checkpoint", "model.safetensors")));
    if (!report.empty()) return CellReply::load_fail(report, native::load_error_message(report)).to_json();
    const TensorMap inputs = read_safetensors(fixture_dir / "inputs.safetensors");
    std::vector<double> times;
    TensorData cached = port.decode(inputs, steps, &times);
    // Test hook: a cache that computes something else, to see the check fail.
    const char* hooks = std::getenv("XCOMPAT_TEST_HOOKS");
    if (const char* skew = std::getenv("XCOMPAT_TEST_DECODE_SKEW"); skew && hooks && std::string(hooks) == "1")
      cached = native::to_tensor_data_f32(native::to_torch(cached) + std::stod(skew));
    const TensorMap outputs = read_safetensors(fixture_dir / "outputs.safetensors");
    const torch::Tensor full = native::to_torch(outputs.at("logits"));
    const int64_t taken = cached.shape.at(1), n = full.size(1);
    const TensorData reference = native::to_tensor_data_f32(full.slice(1, n - taken, n));
    const Comparison c = compare_and_judge(cached, reference, Tolerance::from_json(req.value("tolerance", json::object())));
    CellReply reply;
    reply.verdict = c.verdict;
    reply.metrics = c.metrics;
    reply.error = c.reason;
    json out;
    out["step_ms"] = times;  // for scripts/bench: each call, the prompt first
    std::sort(times.begin(), times.end());
    reply.latency_ms = times[times.size() / 2];  // per decoding call
    out.update(reply.to_json());
    return out;
  } catch (const NativeUnsupported& e) {
    return CellReply::unsupported(std::string("cpp-native's cached decoding does not support ") + e.what()).to_json();
  }
}

}  // namespace

int run_native_worker() {
  at::set_num_threads(1);  // as the release workers (torch.set_num_threads(1))
  WorkerHandlers handlers{
      [] { return port_info(); },
      [](const json& req) -> json {
        const std::string op = req.value("op", "");
        if (op == "info") return {{"info", port_info()}};
        if (op == "evaluate") return evaluate(req);
        if (op == "decode_parity") return decode_parity(req);
        throw Error("cpp-native worker: unknown op '" + op + "'");
      }};
  return serve_worker(handlers);
}

}  // namespace xcompat
