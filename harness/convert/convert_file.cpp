#include "harness/convert/convert_file.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/input_checks.hpp"
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
  result.spec = spec;

  const auto tensors = reader->tensors();
  // A foreign file would pass through "unchanged": say what it is instead.
  if (std::none_of(tensors.begin(), tensors.end(), [](const TensorInfo& t) {
        return t.name == model_prefix(t.name) + "token_emb.emb.weight";
      }))
    throw Error(req.in.string() + ": no token embedding (token_emb.emb.weight): not an x-transformers "
                "TransformerWrapper or XTransformer checkpoint");
  if (auto misfits = spec_misfits(spec, tensors); !misfits.empty())
    throw Error(fmt::format("{}: the spec does not fit the checkpoint: {}", req.in.string(), fmt::join(misfits, "; ")));
  const ModelFacts facts = facts_from_spec(spec);
  if (auto wrong = layout_mismatches(history, from, tensors, facts); !wrong.empty())
    throw Error(fmt::format("{}: the checkpoint does not have the layout release {} saves: {}{} (keys as another "
                            "release names them; is --from right?)",
                            req.in.string(), from.release.str(), fmt::join(wrong.begin(), wrong.begin() + std::min<size_t>(3, wrong.size()), ", "),
                            wrong.size() > 3 ? fmt::format(" and {} more", wrong.size() - 3) : ""));

  result.plan = plan_conversion(history, from, to, tensors, facts);
  ConversionPlan& plan = result.plan;
  if (plan.outcome == ConversionOutcome::Refused)
    throw Error(fmt::format("{}: converting from {} to {} is refused: {}", req.in.string(), from.release.str(),
                            to.release.str(), plan.refused));
  if (req.strict && !plan.lost_behaviour.empty())
    throw Error(fmt::format("{}: converting from {} to {} loses {} (--strict)", req.in.string(), from.release.str(),
                            to.release.str(), plan.lost_behaviour.front()));
  result.source_sha256 = sha256_file(req.in);
  if (req.dry_run) {
    // Still read what would be dropped: whether it is lost depends on its values.
    result.lossy_tensors = measure_dropped(plan, [&](const std::string& name) { return reader->read(name); });
    return result;
  }

  std::vector<TensorInfo> outputs;
  for (auto& o : plan.outputs) outputs.push_back(o.info);
  result.record = {{"xcompat", XCOMPAT_VERSION},
                   {"converted_from", from.release.str()},
                   {"x_transformers", to.release.str()},
                   {"source_sha256", result.source_sha256},
                   {"changes", plan.changes},
                   {"args", plan.args}};
  // The model the file is meant for: the spec as B builds it (its arguments
  // included), so converting the file again knows what it holds.
  const json built = spec_with_args(spec.is_object() ? spec : json::object(), plan.args);
  if (!built.empty()) result.record["spec"] = built;
  if (req.out.has_parent_path()) fs::create_directories(req.out.parent_path());
  auto writer = create_checkpoint(req.out, outputs, result.record);
  result.lossy_tensors =
      run_conversion(plan, [&](const std::string& name) { return reader->read(name); },
                     [&](const TensorInfo& info, const TensorData& data) { writer->write(info, data); });
  if (req.strict && !result.lossy_tensors.empty())
    throw Error(fmt::format("{}: converting from {} to {} drops {} (largest |x| {:.3g}) (--strict)", req.in.string(),
                            from.release.str(), to.release.str(), result.lossy_tensors.front().first,
                            result.lossy_tensors.front().second));
  writer->commit();
  result.written = true;
  return result;
}

}  // namespace xcompat
