#include "harness/pymodule/api_core.hpp"

#include <map>

#include "harness/convert/fingerprint_report.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/core/error.hpp"

namespace xcompat::api {

using json = nlohmann::json;

std::vector<TensorInfo> tensor_infos(const std::vector<InfoTuple>& tuples) {
  std::vector<TensorInfo> out;
  out.reserve(tuples.size());
  for (auto& [name, dtype, shape] : tuples) {
    TensorInfo t{name, DType::F32, shape};
    try {
      t.dtype = dtype_from_name(dtype);
    } catch (const std::exception&) {
      throw Error("state dict: tensor '" + name + "' has dtype " + dtype + ", which no checkpoint format here holds");
    }
    if (!checked_numel(shape)) throw Error("state dict: tensor '" + name + "' has an impossible shape");
    out.push_back(std::move(t));
  }
  return out;
}

Version release_arg(const std::string& text, const std::string& role) {
  auto v = Version::parse(text);
  if (!v) throw UnknownRelease(role + " wants a release X.Y.Z, not '" + text + "'");
  return *v;
}

// JSON text from Python: "" is "not given"; anything unparsable is an Error.
static json json_arg(const std::string& text, const char* what) {
  if (text.empty()) return json();
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(std::string(what) + " is not JSON");
  return j;
}

json fingerprint_state_dict(const std::vector<InfoTuple>& tensors, const std::string& record_json,
                            const std::string& what, const std::string& key) {
  json record = json_arg(record_json, "the stamp");
  if (!record.is_object()) record = json::object();
  const FingerprintReport r = fingerprint_report(tensor_infos(tensors), record, what, key);
  json j = r.to_json();
  j["known"] = r.known;
  j["tensor_count"] = r.tensor_count;
  return j;
}

PlannedModels plan_state_dict(const std::vector<InfoTuple>& tensors, const std::string& from,
                              const std::string& from_torch, const std::string& to, const std::string& spec_json,
                              const std::string& key, bool strict, const std::string& optimizer,
                              const std::string& what, const std::string& from_source, bool adapters) {
  const ReleaseHistory& history = release_history();
  ReleasePoint a{release_arg(from, "from_")}, b{release_arg(to, "to")};
  check_release(history, b.release, "to");
  check_release(history, a.release, from_source == "from_" ? "from_" : "saved by (" + from_source + ")");
  if (auto t = parse_torch_version(from_torch)) {
    a.torch_major = t->first;
    a.torch_minor = t->second;
  }
  const OptimizerState opt = optimizer == "keep"   ? OptimizerState::Keep
                             : optimizer == "drop" ? OptimizerState::Drop
                                                   : OptimizerState::Refuse;
  json spec = json_arg(spec_json, "the spec");
  if (!spec.is_null() && !spec.is_object()) throw Error("the spec must be a JSON object");
  return plan_models(history, {what, tensor_infos(tensors), key, opt, a, b, from_source, spec, strict, adapters});
}

std::vector<std::pair<TensorInfo, std::string>> planned_outputs(const PlannedModels& planned) {
  std::map<std::string, std::string> same_as;
  for (std::size_t i = 0; i < planned.chosen.size(); ++i) {
    const LocatedModel& m = planned.model(i);
    std::map<std::string, const TensorInfo*> source_info;
    for (auto& t : m.tensors) source_info[t.name] = &t;
    for (auto& o : planned.result.models[i].plan.outputs) {
      std::string same;
      if (o.sources.size() == 1 && o.steps.empty() && source_info.count(o.sources[0])) {
        const TensorInfo& in = *source_info.at(o.sources[0]);
        if (in.dtype == o.info.dtype && in.shape == o.info.shape) same = m.file_name_of.at(o.sources[0]);
      }
      same_as[m.in_file(o.info.name)] = same;
    }
  }
  for (auto& n : planned.result.passed_through) same_as[n] = n;
  std::vector<std::pair<TensorInfo, std::string>> out;
  for (auto& t : planned.outputs) out.emplace_back(t, same_as[t.name]);
  return out;
}

}  // namespace xcompat::api
