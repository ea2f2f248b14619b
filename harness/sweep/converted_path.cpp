#include "harness/sweep/converted_path.hpp"

#include "harness/core/runtime.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include <fmt/format.h>

#include "harness/core/fault_points.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/causes.hpp"
#include "harness/convert/conversion.hpp"
#include "harness/convert/locate.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/identity.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/names.hpp"
#include "harness/core/paths.hpp"
#include "harness/worker/cell_reply.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

ReleasePoint point_of(const std::string& release, const json& versions) {
  return release_point(Version::parse(release).value_or(Version{}),
                       versions.is_object() ? versions.value("torch", "") : std::string());
}

std::vector<TensorInfo> tensors_of(const json& meta) {
  std::vector<TensorInfo> out;
  for (auto& p : meta.value("parameters", json::array()))
    out.push_back({p.at("name").get<std::string>(), dtype_from_name(p.at("dtype").get<std::string>()),
                   p.at("shape").get<std::vector<int64_t>>()});
  return out;
}

// The history's key patterns name a TransformerWrapper's tensors; a bare
// Decoder / Encoder (a "layers" spec) holds the same tensors without the
// `attn_layers.` its wrapper would give them: planned under that root
// (harness/convert/locate.hpp, as a user's bare layers are read), written
// without it.
bool bare_layers(const json& spec) { return spec.is_object() && spec.value("model", "") == "layers"; }

std::vector<TensorInfo> rooted(std::vector<TensorInfo> tensors, bool bare) {
  if (bare)
    for (auto& t : tensors) t.name = root_bare_layers_name(t.name);
  return tensors;
}

std::string unrooted(const std::string& name, bool bare) { return bare ? unroot_bare_layers_name(name) : name; }

// Converts the fixture's checkpoint once; later cells (and sweeps) reuse the
// file and the record of what was lost, written beside it.
// The files of the same conversion made by another history or converter
// ("<to>-<other identity>.<format>" and their records): no key names them
// any more, so they go when their successor is written.
// `to` is the file name's prefix: "<to>" for the plain conversion,
// "adapted-<to>" for the adapted one (neither prefix holds the other).
void remove_stale_conversions(const fs::path& out, const std::string& to, const std::string& format) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(out.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    const bool same_pair = name.rfind(to + "-", 0) == 0 &&
                           (name.ends_with("." + format) || name.ends_with("." + format + ".json") ||
                            name.ends_with("." + format + ".wide.safetensors"));
    const std::string mine = out.string();
    if (same_pair && e.path() != out && e.path().string() != mine + ".json" &&
        e.path().string() != mine + ".wide.safetensors")
      fs::remove(e.path(), ec);
  }
}

json converted_file(ConversionPlan& plan, const Fixture& fx, const std::string& format, const fs::path& out,
                    bool bare, const std::string& prefix) {
  const fs::path record = out.string() + ".json";
  if (fs::exists(out) && fs::exists(record)) return read_json_file(record);
  fs::create_directories(out.parent_path());
  remove_stale_conversions(out, prefix, format);
  auto reader = open_checkpoint(fx.dir / ("model." + format));
  std::vector<TensorInfo> outputs;
  for (auto& o : plan.outputs) {
    outputs.push_back(o.info);
    outputs.back().name = unrooted(o.info.name, bare);
  }
  auto writer = create_checkpoint(out, outputs, {{"converted_from", plan.from.release.str()},
                                                 {"x_transformers", plan.to.release.str()},
                                                 {"changes", plan.changes}});
  const auto lossy = run_conversion(plan, [&](const std::string& n) { return reader->read(unrooted(n, bare)); },
                                    [&](const TensorInfo& i, const TensorData& d) {
                                      TensorInfo named = i;
                                      named.name = unrooted(i.name, bare);
                                      writer->write(named, d);
                                      fault_point("conversion.mid-write");
                                    });
  writer->commit();
  fault_point("conversion.before-record");  // the file in place, its record of what was lost not yet
  json lost = json::array();
  for (auto& [name, m] : lossy) lost.push_back(fmt::format("{} dropped (largest |x| {:.3g})", name, m));
  // The adapters B's model needs for this file (what measure_dropped kept),
  // as the driver's evaluate and xcompat_adapter.adapt take them.
  json adapters = json::array();
  for (auto& a : plan.adapters) adapters.push_back({bare && a.module.rfind("attn_layers.", 0) == 0 ? unrooted(a.module, bare) : a.module, a.kind, a.shape, a.change_id});
  json r = {{"outcome", conversion_outcome_name(plan.outcome)}, {"lost_tensors", lost}, {"adapters", adapters}};
  write_json_file(record, r);
  return r;
}

bool half(DType d) { return d == DType::BF16 || d == DType::F16; }

// A half-precision tensor as float32, exactly (every bf16 / f16 value is one).
TensorData widened(const TensorData& t) {
  if (!half(t.dtype)) return t;
  TensorData w{DType::F32, t.shape, {}};
  const auto values = t.to_doubles();
  w.bytes.resize(values.size() * sizeof(float));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float f = static_cast<float>(values[i]);
    std::memcpy(w.bytes.data() + i * sizeof(float), &f, sizeof(float));
  }
  return w;
}

// Whether the conversion computes on half-precision tensors (a scale, an
// offset, a fold): then the file holds its results rounded to that dtype,
// a rounding neither release's own computation makes.
bool computes_on_half(const ConversionPlan& plan) {
  for (auto& o : plan.outputs)
    if (half(o.info.dtype))
      for (auto& s : o.steps)
        if (s.kind == TensorStep::AddConstant || s.kind == TensorStep::Scale || s.kind == TensorStep::AddProduct) return true;
  return false;
}

// The same conversion of the fixture's weights widened to float32 first:
// what the converted file would hold were it not rounded to its dtype. The
// consumer's wide reference is computed on these (its rounding_bound then
// counts the conversion's rounding of the weights too). Beside `out`,
// "<out>.wide.safetensors".
fs::path wide_converted_file(const ConversionPlan& plan, const Fixture& fx, const std::string& format,
                             const fs::path& out, bool bare) {
  const fs::path wide = out.string() + ".wide.safetensors";
  if (fs::exists(wide)) return wide;
  ConversionPlan p = plan;
  std::vector<TensorInfo> outputs;
  for (auto& o : p.outputs) {
    if (half(o.info.dtype)) o.info.dtype = DType::F32;
    outputs.push_back(o.info);
    outputs.back().name = unrooted(o.info.name, bare);
  }
  auto reader = open_checkpoint(fx.dir / ("model." + format));
  {
    auto writer = create_checkpoint(wide, outputs, {{"converted_from", plan.from.release.str()},
                                                       {"x_transformers", plan.to.release.str()},
                                                       {"widened", "float32"}});
    run_conversion(p, [&](const std::string& n) { return widened(reader->read(unrooted(n, bare))); },
                   [&](const TensorInfo& i, const TensorData& d) {
                     TensorInfo named = i;
                     named.name = unrooted(i.name, bare);
                     writer->write(named, d);
                   });
    writer->commit();  // atomic: a file under the name is whole
  }
  return wide;
}

}  // namespace

// Two evaluations of one function, each off the exact result by rounding,
// differ by up to about twice that (four times in nmse).
constexpr int kRoundingFactor = 4;

// What rounding alone makes of the fixture's model in its dtype (nmse
// against a wider dtype, measured by the producer: xcompat_driver.py
// rounding_bound); NaN when not measured.
static double rounding_nmse(const Fixture& fx) {
  const json r = fx.meta.value("rounding", json::object());
  return r.contains("nmse") && r["nmse"].is_number() ? r["nmse"].get<double>() : NAN;
}

static bool within_rounding(const Fixture& fx, const CellReply& r) {
  const double bound = rounding_nmse(fx);
  return r.metrics && !std::isnan(bound) && r.metrics->nmse <= kRoundingFactor * bound;
}

// A converted cell whose weights carry over exactly compares two roundings
// of one function: the producer's outputs in its dtype (p, its distance to
// the wider dtype measured with the fixture) and the consumer's on the
// converted weights (c, measured by the consumer: measure_rounding). Their
// RMS distance is at most sqrt(p) + sqrt(c) of the reference's: within
// rounding when nmse <= factor * (sqrt(p) + sqrt(c))^2. Where the
// conversion computes on the half-precision weights, c is measured against
// its unrounded results (wide_converted_file), so it holds that rounding
// too. NaN when the consumer did not measure it.
static double both_sides_rounding(const Fixture& fx, const json& reply_body) {
  const json c = reply_body.value("rounding", json::object());
  const double p = rounding_nmse(fx);
  if (std::isnan(p) || !c.contains("nmse") || !c["nmse"].is_number()) return NAN;
  const double root = std::sqrt(p) + std::sqrt(c["nmse"].get<double>());
  return root * root;
}

// Arithmetic on half-precision weights (plan.rounding), on the plain and the
// adapted path alike: the consumer says what rounding makes of its own
// computation too (measure_rounding), and where the conversion computes on
// the weights themselves, its wide reference takes the unrounded results
// (rounding_weights), so that its measure holds the conversion's rounding
// (both_sides_rounding). A failure to write them is recorded in `record`.
static void ask_for_rounding(json& request, json& record, const ConversionPlan& plan, const PlannedCell& cell,
                             const Fixture& fx, const fs::path& out, bool bare) {
  if (plan.rounding.empty() || cell.key.dtype == "float32") return;
  request["measure_rounding"] = true;
  if (!computes_on_half(plan)) return;
  try {
    request["rounding_weights"] = wide_converted_file(plan, fx, cell.key.checkpoint, out, bare).string();
  } catch (const std::exception& e) {
    record["rounding_weights_error"] = std::string(e.what()).substr(0, 300);
  }
}

// A reader that cannot build the model: no conversion gives it one.
static bool cannot_build(const CellResult& direct) {
  for (auto& c : direct.causes.is_array() ? direct.causes : nlohmann::json::array())
    if (c.value("kind", "") == "unbuildable") return true;
  return false;
}

bool wants_conversion(const PlannedCell& cell, const CellResult& direct) {
  return cell.consumer->kind == "python" && release_of(cell.producer->version) != release_of(cell.consumer->name) &&
         (direct.verdict == Verdict::LoadFail || direct.verdict == Verdict::Drift) && !cannot_build(direct);
}

std::string conversion_identity(const ReleaseHistory& history, const PlannedCell& cell) {
  if (cell.consumer->kind != "python" || release_of(cell.producer->version) == release_of(cell.consumer->name))
    return "";
  const auto from = Version::parse(release_of(cell.producer->version)),
             to = Version::parse(release_of(cell.consumer->name));
  if (!from || !to) return "";
  // One per release pair (every spec, dtype and format of the pair shares
  // it): computed once, as a sweep asks for it for every cell.
  static std::mutex m;
  static std::map<std::tuple<const ReleaseHistory*, std::string, std::string>, std::string> memo;
  const auto key = std::make_tuple(&history, cell.producer->version, cell.consumer->name);
  {
    std::lock_guard lock(m);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  // Each crossed entry as the file writes it (every field: a condition, a
  // note, an op's anchor), where the history reads a model's width, and the
  // converter's own code. An entry outside the chain is not part of it.
  const Chain chain = change_chain(history, ReleasePoint{*from}, ReleasePoint{*to});
  json j = {{"refused", chain.refused}, {"up", json::array()}, {"down", json::array()},
            {"width", history.width}, {"converter", converter_identity()}};
  for (auto* c : chain.up) j["up"].push_back(c->written);
  for (auto* c : chain.down) j["down"].push_back(c->written);
  std::string id = sha256_hex(j.dump());
  std::lock_guard lock(m);
  return memo[key] = std::move(id);
}

// The adapted path of a cell whose conversion is lossy: planned again with
// the history's adapters (harness/convert/conversion.hpp, PlanOptions), the
// file written beside the plain one ("adapted-<to>-<chain>.<format>"), and
// B's model adapted (xcompat_adapter.py) before it loads that file strictly.
// {outcome, adapters, lost, verdict (ADAPTED when it passes), metrics,
// error}; {outcome} alone when no adapter carries what is lost.
static json adapted_path(const PlannedCell& cell, const Fixture& fx, const ReleaseHistory& history,
                         const ReleasePoint& from, const ReleasePoint& to, bool bare, const fs::path& plain,
                         WorkerProcess& worker, const Tolerance& tol, std::chrono::milliseconds timeout) {
  ConversionPlan plan = plan_conversion(history, from, to, rooted(tensors_of(fx.meta), bare),
                                        facts_from_spec(cell.spec->definition), PlanOptions{.adapters = true});
  json a = {{"outcome", conversion_outcome_name(plan.outcome)}};
  if (plan.adapters.empty() || plan.outcome == ConversionOutcome::Refused) return a;
  const fs::path out = plain.parent_path() / ("adapted-" + plain.filename().string());
  json done;
  try {
    done = converted_file(plan, fx, cell.key.checkpoint, out, bare, "adapted-" + to.release.str());
  } catch (const std::exception& e) {
    a["outcome"] = "refused";
    a["error"] = std::string("the conversion failed: ") + e.what();
    return a;
  }
  a["outcome"] = done.value("outcome", a["outcome"]);
  a["adapters"] = done.value("adapters", json::array());
  a["lost"] = done.value("lost_tensors", json::array());
  // Still lossy with its adapters (a lost computation, a tensor no adapter
  // takes), or nothing left to adapt (every adapted tensor held B's fill):
  // the plain path already said all there is.
  if (a["outcome"] != conversion_outcome_name(ConversionOutcome::Adapted)) return a;
  a["command"] = fmt::format("xcompat convert model.{} --from {} --to {} --spec {} --adapter adapter.py --out model-{}.{}",
                             cell.key.checkpoint, from.release.str(), to.release.str(), cell.key.spec,
                             to.release.str(), cell.key.checkpoint);
  json request = {{"op", "evaluate"},       {"spec", cell.spec->definition}, {"fixture_dir", fx.dir.string()},
                  {"checkpoint", out.string()}, {"args", plan.args},         {"tolerance", tol.to_json()},
                  {"adapters", a["adapters"]}};
  ask_for_rounding(request, a, plan, cell, fx, out, bare);
  const WorkerReply reply = worker.request(request, timeout);
  if (!reply.ok()) {
    a["verdict"] = verdict_name(Verdict::Error);
    a["error"] = fmt::format("[{}] {}", worker_fault_name(reply.fault), reply.error).substr(0, 2000);
    return a;
  }
  const CellReply r = CellReply::from_json(reply.body);
  a["verdict"] = verdict_name(verdict_passes(r.verdict) ? Verdict::Adapted : r.verdict);
  if (r.metrics) a["metrics"] = r.metrics->to_json();
  // Every tensor carried (the adapters hold the rest), and the releases
  // compute the same function: a DRIFT within what the two sides' roundings
  // make together is rounding (the caller names it).
  if (const double both = both_sides_rounding(fx, reply.body);
      r.verdict == Verdict::Drift && !plan.rounding.empty() && r.metrics && r.metrics->nmse <= kRoundingFactor * both) {
    a["rounding_both_sides"] = both;
    a["rounding"] = plan.rounding;
  }
  if (!r.error.empty()) a["error"] = r.error.substr(0, 2000);
  return a;
}

void add_converted_path(CellResult& result, const PlannedCell& cell, const Fixture& fx, const ReleaseHistory& history,
                        WorkerProcess& worker, const Tolerance& tol, std::chrono::milliseconds timeout) {
  const ReleasePoint from = point_of(release_of(cell.producer->version), fx.meta.value("versions", json::object()));
  const ReleasePoint to = point_of(release_of(cell.consumer->name), json::object());
  const bool bare = bare_layers(cell.spec->definition);
  ConversionPlan plan =
      plan_conversion(history, from, to, rooted(tensors_of(fx.meta), bare), facts_from_spec(cell.spec->definition));
  result.causes = causes_json(explain_cell(history, result, plan));
  // A direct DRIFT that only a rounding-only change would explain is
  // rounding only when it is within what rounding makes of this model.
  if (result.verdict == Verdict::Drift && result.metrics) {
    bool rounding = false, other = false;
    for (auto& c : result.causes) {
      const std::string k = c.value("kind", "");
      rounding |= k == "rounding";
      other |= k == "computation" || k == "argument" || k == "reshaped";
    }
    const double bound = rounding_nmse(fx);
    if (rounding && !other && !(result.metrics->nmse <= kRoundingFactor * bound))
      result.causes.push_back({{"kind", "unexplained"}, {"change", ""},
                               {"detail", std::isnan(bound) ? std::string("rounding was not measured for this fixture")
                                                            : fmt::format("nmse {:.3g} is beyond {} x the {:.3g} "
                                                                          "rounding alone makes of this model",
                                                                          result.metrics->nmse, kRoundingFactor, bound)}});
  }
  result.direct_verdict = result.verdict;

  json conv = plan.to_json();
  conv["command"] = fmt::format("xcompat convert model.{} --from {} --to {} --spec {} --out model-{}.{}",
                                cell.key.checkpoint, from.release.str(), to.release.str(), cell.key.spec,
                                to.release.str(), cell.key.checkpoint);
  if (plan.outcome == ConversionOutcome::Refused) {
    result.conversion = conv;
    return;
  }
  const std::string chain_id = conversion_identity(history, cell).substr(0, 12);
  if (!is_runtime_name(cell.producer->version)) require_release_name(cell.producer->version, "converted path");
  const fs::path out = child_path(state_dir() / "converted", cell.producer->version) / fx.dir.filename() /
                       fmt::format("{}-{}.{}", to.release.str(), chain_id, cell.key.checkpoint);
  json done;
  try {
    done = converted_file(plan, fx, cell.key.checkpoint, out, bare, to.release.str());
  } catch (const std::exception& e) {
    conv["outcome"] = "refused";
    conv["refused"] = std::string("the conversion failed: ") + e.what();
    result.conversion = conv;
    return;
  }
  conv["outcome"] = done.value("outcome", conv["outcome"]);
  for (auto& l : done.value("lost_tensors", json::array())) conv["lost"].push_back(l);

  json request = {{"op", "evaluate"},       {"spec", cell.spec->definition}, {"fixture_dir", fx.dir.string()},
                  {"checkpoint", out.string()}, {"args", plan.args},         {"tolerance", tol.to_json()}};
  ask_for_rounding(request, conv, plan, cell, fx, out, bare);
  const WorkerReply reply = worker.request(request, timeout);
  if (!reply.ok()) {
    conv["verdict"] = verdict_name(Verdict::Error);
    conv["error"] = fmt::format("[{}] {}", worker_fault_name(reply.fault), reply.error).substr(0, 2000);
    // Converted, and B fails on it: named by B's own error (a release that
    // cannot run the spec in this dtype at all, for one).
    result.causes.push_back({{"kind", "error"}, {"change", ""},
                             {"detail", "B fails on the converted checkpoint: " + reply.error.substr(0, 300)}});
  } else {
    const CellReply r = CellReply::from_json(reply.body);
    conv["verdict"] = verdict_name(r.verdict);
    if (r.metrics) conv["metrics"] = r.metrics->to_json();
    if (!r.error.empty()) conv["error"] = r.error.substr(0, 2000);
    if (!r.load_report.empty()) conv["load_report"] = r.load_report.to_json();
    if (verdict_passes(r.verdict)) {
      result.verdict = Verdict::Converted;
    } else if (conv["outcome"] != "lossy" && r.verdict == Verdict::Drift && !plan.rounding.empty() &&
               within_rounding(fx, r)) {
      // The weights carry over exactly; the releases compute the same
      // function with other rounding, beyond this dtype's tolerance but
      // within what rounding alone makes of this model (measured).
      result.causes.push_back({{"kind", "rounding"}, {"change", fmt::format("{}", fmt::join(plan.rounding, ", "))},
                               {"detail", fmt::format("converted losslessly; the releases round differently (nmse "
                                                      "{:.3g}, within {} x the {:.3g} rounding makes)",
                                                      r.metrics->nmse, kRoundingFactor, rounding_nmse(fx))}});
    } else if (const double both = both_sides_rounding(fx, reply.body);
               conv["outcome"] != "lossy" && r.verdict == Verdict::Drift && !plan.rounding.empty() && r.metrics &&
               r.metrics->nmse <= kRoundingFactor * both) {
      // Beyond the producer's rounding alone, within what the two sides'
      // roundings make together (both measured).
      conv["rounding_both_sides"] = both;
      result.causes.push_back({{"kind", "rounding"}, {"change", fmt::format("{}", fmt::join(plan.rounding, ", "))},
                               {"detail", fmt::format("converted losslessly; the releases round differently (nmse "
                                                      "{:.3g}, within {} x the {:.3g} the producer's and the "
                                                      "consumer's roundings make together)",
                                                      r.metrics->nmse, kRoundingFactor, both)}});
    } else if (conv["outcome"] != "lossy" && r.verdict == Verdict::Drift && !plan.rounding.empty()) {
      result.causes.push_back(
          {{"kind", "unexplained"}, {"change", ""},
           {"detail", std::isnan(rounding_nmse(fx))
                          ? std::string("converted losslessly, yet DRIFT; rounding was not measured for this fixture")
                          : fmt::format("converted losslessly, yet DRIFT: nmse {:.3g} is beyond {} x the {:.3g} "
                                        "rounding alone makes of this model",
                                        r.metrics ? r.metrics->nmse : NAN, kRoundingFactor, rounding_nmse(fx))}});
    } else if (conv["outcome"] != "lossy") {
      // Lossless by the history, yet not reproduced: the history is wrong
      // or incomplete here.
      result.causes.push_back({{"kind", "unexplained"}, {"change", ""},
                               {"detail", std::string("converted losslessly, yet ") + verdict_name(r.verdict)}});
    }
  }
  if (conv["outcome"] == "lossy" && !verdict_passes(result.verdict)) {
    conv["adapted"] = adapted_path(cell, fx, history, from, to, bare, out, worker, tol, timeout);
    if (conv["adapted"].value("verdict", "") == verdict_name(Verdict::Adapted)) result.verdict = Verdict::Adapted;
    else if (const json& ad = conv["adapted"]; ad.contains("rounding_both_sides"))
      result.causes.push_back(
          {{"kind", "rounding"}, {"change", fmt::format("{}", fmt::join(ad["rounding"], ", "))},
           {"detail", fmt::format("converted with adapters, losing nothing; the releases round differently (nmse "
                                  "{:.3g}, within {} x the {:.3g} the producer's and the consumer's roundings make "
                                  "together)",
                                  ad["metrics"].value("nmse", NAN), kRoundingFactor,
                                  ad["rounding_both_sides"].get<double>())}});
  }
  result.conversion = conv;
}

}  // namespace xcompat
