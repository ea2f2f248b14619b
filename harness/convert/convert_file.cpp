#include "harness/convert/convert_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/container_tree.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/convert/locate.hpp"
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

namespace {

// Optimizer states among the tensors that pass through: torch's
// Optimizer.state_dict() keeps per-parameter state under `state.<index>.`,
// indexed by the order of the model's parameters.
std::vector<std::string> optimizer_places(const std::vector<std::string>& names) {
  std::set<std::string> places;
  for (auto& n : names) {
    for (std::size_t at = 0; (at = n.find("state.", at)) != std::string::npos; at += 6) {
      if (at != 0 && n[at - 1] != '.') continue;
      std::size_t i = at + 6;
      const std::size_t digits = i;
      while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i]))) ++i;
      if (i > digits && i < n.size() && n[i] == '.') {
        places.insert(n.substr(0, at));
        break;
      }
    }
  }
  return {places.begin(), places.end()};
}

bool under_place(const std::string& name, const std::string& place) { return name.rfind(place, 0) == 0; }

}  // namespace

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
  result.spec = spec;

  // Every model in the file (or under --key); everything else passes through.
  const Located located = locate_models(reader->tensors());
  if (located.models.empty())
    throw Error(req.in.string() + ": no x-transformers model in it (no TransformerWrapper, XTransformer, Continuous / "
                "ViT wrapper or attention layers by their tensors)");
  const std::vector<const LocatedModel*> chosen = models_under(located, req.key);
  std::set<std::string> converted_names;
  for (const LocatedModel* m : chosen) {
    const std::string where = chosen.size() > 1 || !m->prefix.empty() ? " (" + place_name(m->prefix) + ")" : "";
    if (auto misfits = spec_misfits(spec, m->tensors); !misfits.empty())
      throw Error(fmt::format("{}{}: the spec does not fit the checkpoint: {}", req.in.string(), where, fmt::join(misfits, "; ")));
    const ModelFacts facts = facts_from_spec(spec);
    if (auto wrong = layout_mismatches(history, from, m->tensors, facts); !wrong.empty())
      throw Error(fmt::format("{}{}: the checkpoint does not have the layout release {} saves: {}{} (keys as another "
                              "release names them; is --from right?)",
                              req.in.string(), where, from.release.str(),
                              fmt::join(wrong.begin(), wrong.begin() + std::min<size_t>(3, wrong.size()), ", "),
                              wrong.size() > 3 ? fmt::format(" and {} more", wrong.size() - 3) : ""));
    ModelConversion mc{m->prefix, model_kind_name(m->kind), plan_conversion(history, from, to, m->tensors, facts), {}};
    if (mc.plan.outcome == ConversionOutcome::Refused)
      throw Error(fmt::format("{}{}: converting from {} to {} is refused: {}", req.in.string(), where,
                              from.release.str(), to.release.str(), mc.plan.refused));
    if (req.strict && !mc.plan.lost_behaviour.empty())
      throw Error(fmt::format("{}{}: converting from {} to {} loses {} (--strict)", req.in.string(), where,
                              from.release.str(), to.release.str(), mc.plan.lost_behaviour.front()));
    for (auto& [name, _] : m->canonical_of) converted_names.insert(name);
    result.models.push_back(std::move(mc));
  }
  result.plan = result.models.front().plan;
  for (auto& t : reader->tensors())
    if (!converted_names.count(t.name)) result.passed_through.push_back(t.name);

  // An optimizer state indexed by the parameters' order is no longer valid
  // once the parameters change: said, and kept or dropped only when asked.
  const bool parameters_change = std::any_of(result.models.begin(), result.models.end(), [](auto& m) {
    return m.plan.outcome != ConversionOutcome::Unchanged;
  });
  result.optimizer = optimizer_places(result.passed_through);
  if (!result.optimizer.empty() && parameters_change) {
    std::string places;
    for (auto& p : result.optimizer) places += (places.empty() ? "" : ", ") + place_name(p);
    if (req.optimizer == OptimizerState::Refuse)
      throw Error(fmt::format("{}: the optimizer state at {} is indexed by the order of the model's parameters, which "
                              "the conversion changes: it cannot stay valid. Pass --optimizer drop (write the file "
                              "without it: training resumes with a fresh optimizer) or --optimizer keep (as it is, at "
                              "your own risk)",
                              req.in.string(), places));
    if (req.optimizer == OptimizerState::Drop) {
      std::erase_if(result.passed_through, [&](const std::string& n) {
        return std::any_of(result.optimizer.begin(), result.optimizer.end(), [&](auto& p) { return under_place(n, p); });
      });
      result.optimizer_action = "dropped";
    } else {
      result.optimizer_action = "kept";
    }
  }

  result.source_sha256 = sha256_file(req.in);
  auto source_of = [&](const LocatedModel& m) {
    return [&](const std::string& name) { return reader->read(m.file_name_of.at(name)); };
  };
  if (req.dry_run) {
    // Still read what would be dropped: whether it is lost depends on its values.
    for (std::size_t i = 0; i < chosen.size(); ++i)
      result.models[i].lossy_tensors = measure_dropped(result.models[i].plan, source_of(*chosen[i]));
    result.lossy_tensors = result.models.front().lossy_tensors;
    return result;
  }

  std::vector<TensorInfo> outputs;
  for (std::size_t i = 0; i < chosen.size(); ++i)
    for (auto& o : result.models[i].plan.outputs) {
      TensorInfo info = o.info;
      info.name = chosen[i]->in_file(o.info.name);
      outputs.push_back(std::move(info));
    }
  std::map<std::string, TensorInfo> info_of;
  for (auto& t : reader->tensors()) info_of[t.name] = t;
  for (auto& n : result.passed_through) outputs.push_back(info_of.at(n));
  std::set<std::string> seen;
  for (auto& o : outputs)
    if (!seen.insert(o.name).second)
      throw Error(fmt::format("{}: the converted model's tensor '{}' would overwrite another tensor of the file",
                              req.in.string(), o.name));

  result.record = {{"xcompat", XCOMPAT_VERSION},
                   {"converted_from", from.release.str()},
                   {"x_transformers", to.release.str()},
                   {"source_sha256", result.source_sha256},
                   {"changes", result.plan.changes},
                   {"args", result.plan.args}};
  if (!located.models.empty() && (chosen.size() > 1 || !chosen.front()->prefix.empty())) {
    json places = json::array();
    for (auto* m : chosen) places.push_back(m->prefix);
    result.record["models"] = places;
  }
  // The model the file is meant for: the spec as B builds it (its arguments
  // included), so converting the file again knows what it holds.
  const json built = spec_with_args(spec.is_object() ? spec : json::object(), result.plan.args);
  if (!built.empty()) result.record["spec"] = built;
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
  auto writer = create_checkpoint(req.out, outputs, result.record, tree ? &*tree : nullptr);
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
