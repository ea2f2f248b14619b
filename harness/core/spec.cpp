#include "harness/core/spec.hpp"

#include <fmt/format.h>

#include <set>

#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/select.hpp"
#include "harness/core/toml_file.hpp"

namespace xcompat {

std::vector<std::string> Spec::features() const {
  std::vector<std::string> out;
  for (auto& f : definition.value("features", json::array())) out.push_back(f.get<std::string>());
  return out;
}

std::string Spec::content_hash() const { return sha256_hex(definition.dump()); }

std::vector<std::string> Spec::dtypes(const std::vector<std::string>& wanted) const {
  if (!definition.contains("dtypes")) return wanted;
  std::vector<std::string> out;
  for (auto& d : wanted)
    for (auto& own : definition["dtypes"])
      if (own == d) out.push_back(d);
  return out;
}

Spec Spec::variant(const std::string& dtype) const {
  Spec v{name, definition};
  v.definition.erase("dtypes");
  v.definition["dtype"] = dtype;
  return v;
}

std::vector<Spec> load_specs(const std::filesystem::path& path) {
  json j = parse_toml_file(path);
  const std::string where = path.string();
  std::vector<Spec> specs;
  std::set<std::string> seen;
  const json spec_list = j.value("spec", json::array());
  for (auto& s : spec_list) {
    Spec spec;
    spec.name = require_string(s, "name", where + " [[spec]]");
    const std::string at = where + " spec '" + spec.name + "'";
    const std::string model = require_string(s, "model", at);
    if (model != "decoder" && model != "encoder" && model != "xtransformer")
      throw Error(at + ": model must be decoder, encoder or xtransformer, not '" + model + "'");
    for (auto key : {"seed", "batch", "seq_len"})
      if (!s.contains(key) || !s[key].is_number_integer()) throw Error(at + ": missing integer '" + key + "'");
    if (model == "xtransformer" ? !s.contains("xtransformer") : !s.contains("layers") || !s.contains("wrapper"))
      throw Error(at + ": missing constructor arguments (wrapper/layers or xtransformer)");
    if (!seen.insert(spec.name).second) throw Error(where + ": spec " + spec.name + " defined twice");
    spec.definition = s;
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) throw Error(where + ": no [[spec]] entries");
  return specs;
}

std::vector<Spec> select_specs(const std::vector<Spec>& specs, const std::vector<std::string>& wanted) {
  return select_by_name(specs, wanted, [](const Spec& s) { return s.name; }, "spec");
}

}  // namespace xcompat
