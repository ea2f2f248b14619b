#include "harness/convert/fingerprint_report.hpp"

#include <algorithm>

#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

json FingerprintReport::to_json() const {
  json j = models.size() == 1 ? models.front().to_json() : json::object();
  j["models"] = json::array();
  for (auto& f : models) j["models"].push_back(f.to_json());
  j["others"] = others;
  return j;
}

FingerprintReport fingerprint_report(const std::vector<TensorInfo>& tensors, const json& record, const std::string& what,
                                     const std::string& key) {
  const Located located = locate_models(tensors);
  if (located.models.empty())
    throw Error(what + ": no x-transformers model found in it (no TransformerWrapper, XTransformer, Continuous / ViT "
                "wrapper or attention layers by their tensors; " + std::to_string(tensors.size()) +
                " tensors of something else)");
  FingerprintReport report;
  report.tensor_count = tensors.size();
  for (const LocatedModel* m : models_under(located, key))
    report.models.push_back(fingerprint_model(release_history(), *m, record, what));
  report.others = located.others;
  report.known = !report.models.empty() &&
                 std::all_of(report.models.begin(), report.models.end(), [](auto& f) { return !f.ranges.empty(); });
  return report;
}

}  // namespace xcompat
