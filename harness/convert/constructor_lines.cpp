#include "harness/convert/constructor_lines.hpp"

#include <fmt/format.h>

namespace xcompat {

namespace {
// A value as Python writes it; a module as the constructor call that makes it.
std::string python_value(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_object() && v.value("module", "") == "Linear")
    return fmt::format("nn.Linear(dim, num_tokens, bias = {})", v.value("bias", true) ? "True" : "False");
  return v.dump();
}

}  // namespace

// The constructor calls that take the arguments, as a user writes them:
// "TransformerWrapper(..., to_logits = nn.Linear(dim, num_tokens, bias = True))".
std::vector<std::string> constructor_lines(const nlohmann::json& args, const nlohmann::json& spec) {
  const std::string model = spec.is_object() ? spec.value("model", "") : "";
  std::vector<std::string> out;
  for (auto& [section, values] : args.items()) {
    std::string call;
    for (auto& [k, v] : values.items()) {
      if (model == "xtransformer")  // XTransformer routes enc_ / dec_ arguments to its two models
        call += fmt::format(", enc_{0} = {1}, dec_{0} = {1}", k, python_value(v));
      else
        call += fmt::format(", {} = {}", k, python_value(v));
    }
    const std::string cls = model == "xtransformer" ? "XTransformer"
                            : section == "wrapper"  ? "TransformerWrapper"
                            : model == "encoder"    ? "Encoder"
                            : model == "decoder"    ? "Decoder"
                                                    : "Decoder / Encoder";
    out.push_back(cls + "(..." + call + ")");
  }
  return out;
}

}  // namespace xcompat
