#include "harness/convert/plan_models.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "harness/convert/input_checks.hpp"
#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

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

PlannedModels plan_models(const ReleaseHistory& history, const ModelsRequest& req) {
  PlannedModels out;
  ConvertResult& result = out.result;
  result.from_source = req.from_source;
  result.spec = req.spec;
  const json& spec = req.spec;
  const ReleasePoint& from = req.from;
  const ReleasePoint& to = req.to;

  // Every model among the tensors (or under `key`); everything else passes through.
  out.located = locate_models(req.tensors);
  const Located& located = out.located;
  if (located.models.empty())
    throw Error(req.what + ": no x-transformers model in it (no TransformerWrapper, XTransformer, Continuous / "
                "ViT wrapper or attention layers by their tensors)");
  const std::vector<const LocatedModel*> chosen = models_under(located, req.key);
  std::set<std::string> converted_names;
  for (const LocatedModel* m : chosen) {
    const std::string where = chosen.size() > 1 || !m->prefix.empty() ? " (" + place_name(m->prefix) + ")" : "";
    if (auto misfits = spec_misfits(spec, m->tensors); !misfits.empty())
      throw Error(fmt::format("{}{}: the spec does not fit the checkpoint: {}", req.what, where, fmt::join(misfits, "; ")));
    const ModelFacts facts = facts_from_spec(spec);
    if (auto wrong = layout_mismatches(history, from, m->tensors, facts); !wrong.empty())
      throw Error(fmt::format("{}{}: the checkpoint does not have the layout release {} saves: {}{} (keys as another "
                              "release names them; is --from right?)",
                              req.what, where, from.release.str(),
                              fmt::join(wrong.begin(), wrong.begin() + std::min<size_t>(3, wrong.size()), ", "),
                              wrong.size() > 3 ? fmt::format(" and {} more", wrong.size() - 3) : ""));
    ModelConversion mc{m->prefix, model_kind_name(m->kind), plan_conversion(history, from, to, m->tensors, facts, PlanOptions{req.adapters}), {}};
    if (mc.plan.outcome == ConversionOutcome::Refused)
      throw Error(fmt::format("{}{}: converting from {} to {} is refused: {}", req.what, where, from.release.str(),
                              to.release.str(), mc.plan.refused));
    if (req.strict && !mc.plan.lost_behaviour.empty())
      throw Error(fmt::format("{}{}: converting from {} to {} loses {} (--strict)", req.what, where,
                              from.release.str(), to.release.str(), mc.plan.lost_behaviour.front()));
    for (auto& [name, _] : m->canonical_of) converted_names.insert(name);
    result.models.push_back(std::move(mc));
    out.chosen.push_back(static_cast<std::size_t>(m - located.models.data()));
  }
  result.plan = result.models.front().plan;
  for (auto& t : req.tensors)
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
                              req.what, places));
    if (req.optimizer == OptimizerState::Drop) {
      std::erase_if(result.passed_through, [&](const std::string& n) {
        return std::any_of(result.optimizer.begin(), result.optimizer.end(), [&](auto& p) { return under_place(n, p); });
      });
      result.optimizer_action = "dropped";
    } else {
      result.optimizer_action = "kept";
    }
  }

  // B's tensors, as the input names them: each model's outputs, then what passes through.
  for (std::size_t i = 0; i < out.chosen.size(); ++i)
    for (auto& o : result.models[i].plan.outputs) {
      TensorInfo info = o.info;
      info.name = out.model(i).in_file(o.info.name);
      out.outputs.push_back(std::move(info));
    }
  std::map<std::string, const TensorInfo*> info_of;
  for (auto& t : req.tensors) info_of[t.name] = &t;
  for (auto& n : result.passed_through) out.outputs.push_back(*info_of.at(n));
  std::set<std::string> seen;
  for (auto& o : out.outputs)
    if (!seen.insert(o.name).second)
      throw Error(fmt::format("{}: the converted model's tensor '{}' would overwrite another tensor of the file",
                              req.what, o.name));
  return out;
}

json conversion_record(const PlannedModels& planned, const std::string& source_sha256) {
  const ConvertResult& result = planned.result;
  json record = {{"xcompat", XCOMPAT_VERSION},
                 {"converted_from", result.plan.from.release.str()},
                 {"x_transformers", result.plan.to.release.str()},
                 {"source_sha256", source_sha256},
                 {"changes", result.plan.changes},
                 {"args", result.plan.args}};
  if (planned.chosen.size() > 1 || !planned.model(0).prefix.empty()) {
    json places = json::array();
    for (std::size_t i = 0; i < planned.chosen.size(); ++i) places.push_back(planned.model(i).prefix);
    record["models"] = places;
  }
  // The model the file is meant for: the spec as B builds it (its arguments
  // included), so converting the file again knows what it holds.
  const json built = spec_with_args(result.spec.is_object() ? result.spec : json::object(), result.plan.args);
  if (!built.empty()) record["spec"] = built;
  return record;
}

void settle_plans(PlannedModels& planned, const std::function<TensorSource(std::size_t)>& source_of) {
  ConvertResult& result = planned.result;
  result.adapters = json::array();
  for (std::size_t i = 0; i < planned.chosen.size(); ++i) {
    const LocatedModel& m = planned.model(i);
    ConversionPlan& plan = result.models[i].plan;
    const auto before = plan.adapters;
    result.models[i].lossy_tensors = measure_dropped(plan, source_of(i));
    for (auto& a : before)
      if (std::none_of(plan.adapters.begin(), plan.adapters.end(), [&](auto& kept) { return kept.key == a.key; }))
        std::erase_if(planned.outputs, [&](const TensorInfo& t) { return t.name == m.in_file(a.key); });
    for (auto& a : plan.adapters) {
      if (a.key.empty()) {
        // A behaviour (no tensor): the module as the input would name a
        // tensor of it, less the tensor's name.
        const std::string probe = m.in_file(a.module + ".weight");
        result.adapters.push_back({{"module", probe.substr(0, probe.size() - std::string(".weight").size())},
                                   {"kind", a.kind}, {"shape", a.shape}, {"change", a.change_id}, {"tensor", ""}});
        continue;
      }
      // The module as the input names it: the parameter's file name less the parameter.
      const std::string key = m.in_file(a.key);
      const std::string module = key.substr(0, key.size() - (a.key.size() - a.module.size()));
      result.adapters.push_back({{"module", module}, {"kind", a.kind}, {"shape", a.shape}, {"change", a.change_id},
                                 {"tensor", key}});
    }
  }
  result.plan = result.models.front().plan;
  result.lossy_tensors = result.models.front().lossy_tensors;
}

}  // namespace xcompat
