#include "harness/convert/convert_file.hpp"

#include <fmt/format.h>


#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/container_tree.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/convert/locate.hpp"
#include "harness/convert/plan_models.hpp"
#include "harness/core/cell.hpp"
#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/json_file.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;


std::optional<Provenance> provenance_of(const fs::path& checkpoint) {
  const json record = open_checkpoint(checkpoint)->xcompat_record();
  for (auto key : {"x_transformers", "release"})
    if (record.contains(key) && record[key].is_string())
      if (auto v = Version::parse(record[key].get<std::string>())) {
        Provenance p{*v, std::nullopt, "stamp", record.value("spec", json())};
        if (record.contains("torch") && record["torch"].is_string()) p.torch = parse_torch_version(record["torch"]);
        return p;
      }
  const fs::path meta_path = checkpoint.parent_path() / "meta.json";
  if (fs::exists(meta_path)) {
    const json meta = read_json_file(meta_path);
    if (auto v = Version::parse(meta.value("release", ""))) {
      Provenance p{*v, std::nullopt, "meta.json", meta.value("spec", json())};
      if (meta.contains("versions")) p.torch = parse_torch_version(meta["versions"].value("torch", ""));
      return p;
    }
  }
  return std::nullopt;
}

json ConvertResult::to_json() const {
  json lost = json::array();
  for (auto& [name, m] : lossy_tensors) lost.push_back({{"tensor", name}, {"max_abs", figure_to_json(m)}});
  json j = plan.to_json();
  j["lossy_tensors"] = lost;
  j["adapters"] = adapters;
  j["source_sha256"] = source_sha256;
  j["from_source"] = from_source;
  j["written"] = written;
  j["models"] = json::array();
  for (auto& m : models) {
    json ml = json::array();
    for (auto& [name, v] : m.lossy_tensors) ml.push_back({{"tensor", name}, {"max_abs", figure_to_json(v)}});
    j["models"].push_back({{"prefix", m.prefix}, {"kind", m.kind}, {"plan", m.plan.to_json()}, {"lossy_tensors", ml}});
  }
  j["passed_through"] = passed_through;
  j["optimizer"] = optimizer;
  j["optimizer_action"] = optimizer_action;
  j["container"] = container;
  return j;
}

ConvertResult convert_file(const ReleaseHistory& history, const ConvertRequest& req) {
  ConvertResult result;
  if (!req.dry_run && fs::exists(req.out) && fs::exists(req.in) && fs::equivalent(req.in, req.out))
    throw Error(req.out.string() + ": the output would replace the checkpoint being converted; choose another --out");
  check_release(history, req.to, "--to");
  auto reader = open_checkpoint(req.in);
  std::optional<Provenance> prov = provenance_of(req.in);
  ReleasePoint from, to;
  if (req.from) {
    from.release = *req.from;
    result.from_source = "--from";
  } else if (prov) {
    from.release = prov->release;
    result.from_source = prov->source;
  } else {
    throw Error(req.in.string() + ": which release saved it is not recorded in the file (no xcompat stamp, no "
                "meta.json beside it); pass --from");
  }
  if (auto t = req.from_torch ? req.from_torch : (prov ? prov->torch : std::nullopt)) {
    from.torch_major = t->first;
    from.torch_minor = t->second;
  }
  check_release(history, from.release, result.from_source == "--from" ? "--from" : "saved by (" + result.from_source + ")");
  to.release = req.to;
  json spec = req.spec;
  if (spec.is_null() && prov) spec = prov->spec;
  PlannedModels planned = plan_models(history, {req.in.string(), reader->tensors(), req.key, req.optimizer, from, to,
                                                result.from_source, spec, req.strict, req.adapters});
  std::vector<const LocatedModel*> chosen;
  for (std::size_t i = 0; i < planned.chosen.size(); ++i) chosen.push_back(&planned.model(i));
  auto source_of = [&](const LocatedModel& m) {
    return [&](const std::string& name) { return reader->read(m.file_name_of.at(name)); };
  };
  // The plans settled (what they drop or adapt read) before the result is
  // taken from them: it reports the settled outcomes.
  settle_plans(planned, [&](std::size_t i) { return source_of(planned.model(i)); });
  result = planned.result;  // from_source as the request gave it
  result.source_sha256 = sha256_file(req.in);
  if (req.dry_run) return result;

  std::map<std::string, TensorInfo> info_of;
  for (auto& t : reader->tensors()) info_of[t.name] = t;
  result.record = conversion_record(planned, result.source_sha256);
  // The container's shape kept where the output can hold it: the models'
  // entries replaced in the dict that held them, a dropped optimizer cut out.
  std::optional<PtNode> tree;
  const std::string ext = req.out.extension().string();
  if (reader->tree() && ext != ".safetensors") {
    std::vector<ModelRewrite> rewrites;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      ModelRewrite w;
      for (auto& [name, _] : chosen[i]->canonical_of) w.old_paths.insert(name);
      for (auto& o : result.models[i].plan.outputs) w.new_paths.push_back(chosen[i]->in_file(o.info.name));
      rewrites.push_back(std::move(w));
    }
    tree = rewrite_container(*reader->tree(), rewrites,
                             result.optimizer_action == "dropped" ? result.optimizer : std::vector<std::string>{});
    result.container = tree ? "the same container shape"
                            : "flat: a state dict by path (the file is a pickled module, or a model's tensors are not "
                              "the entries of one dict)";
  } else {
    result.container = ext == ".safetensors" ? "flat: safetensors holds a state dict by path" : "flat";
  }
  if (req.out.has_parent_path()) fs::create_directories(req.out.parent_path());
  auto writer = create_checkpoint(req.out, planned.outputs, result.record, tree ? &*tree : nullptr);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const LocatedModel& m = *chosen[i];
    ModelConversion& mc = result.models[i];
    mc.lossy_tensors = run_conversion(mc.plan, source_of(m), [&](const TensorInfo& info, const TensorData& data) {
      TensorInfo named = info;
      named.name = m.in_file(info.name);
      writer->write(named, data);
    });
    if (req.strict && !mc.lossy_tensors.empty())
      throw Error(fmt::format("{} ({}): converting from {} to {} drops {} (largest |x| {:.3g}) (--strict)",
                              req.in.string(), place_name(m.prefix), from.release.str(), to.release.str(),
                              mc.lossy_tensors.front().first, mc.lossy_tensors.front().second));
  }
  for (auto& n : result.passed_through) writer->write(info_of.at(n), reader->read(n));
  result.lossy_tensors = result.models.front().lossy_tensors;
  writer->commit();
  result.written = true;
  return result;
}

}  // namespace xcompat
