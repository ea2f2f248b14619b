#include "harness/native/adapters.hpp"

#include <algorithm>

#include "harness/core/error.hpp"
#include "harness/native/attention.hpp"
#include "harness/native/norms.hpp"

namespace xcompat::native {

const std::vector<std::string>& adapter_kinds() {
  static const std::vector<std::string> kinds = {"output_bias", "layer_norm", "rotate_values", "identity",
                                                 "uniform_padded_queries"};
  return kinds;
}

static PortAdapter adapter_from(const nlohmann::json& a) {
  PortAdapter p;
  if (a.is_object()) {
    p.module = a.at("module").get<std::string>();
    p.kind = a.at("kind").get<std::string>();
    p.shape = a.value("shape", std::vector<int64_t>{});
    p.change = a.value("change", "");
  } else if (a.is_array() && a.size() == 4) {
    p.module = a[0].get<std::string>();
    p.kind = a[1].get<std::string>();
    p.shape = a[2].get<std::vector<int64_t>>();
    p.change = a[3].get<std::string>();
  } else {
    throw Error("an adapter is {module, kind, shape, change} or [module, kind, shape, change], not " + a.dump());
  }
  const auto& kinds = adapter_kinds();
  if (std::find(kinds.begin(), kinds.end(), p.kind) == kinds.end())
    throw Error("unknown adapter kind '" + p.kind + "' on " + p.module);
  return p;
}

std::vector<PortAdapter> adapters_from_json(const nlohmann::json& adapters) {
  if (adapters.is_null()) return {};
  if (!adapters.is_array()) throw Error("adapters: expected a list, got " + adapters.dump());
  std::vector<PortAdapter> out;
  try {
    for (auto& a : adapters) out.push_back(adapter_from(a));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("adapters: ") + e.what());
  }
  return out;
}

namespace {

// The port's path of a module the checkpoint names: its parameters' keys go
// through the release's renames, so a probe key under it does too.
std::string port_path(const KeyMap& map, const std::string& module) {
  const std::string probe = "xcompat_probe";
  const std::string key = map.to_port(module.empty() ? probe : module + "." + probe);
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

torch::nn::Module& find_module(torch::nn::Module& model, const std::string& path, const PortAdapter& a) {
  if (path.empty()) return model;
  for (auto& item : model.named_modules("", false))
    if (item.key() == path) return *item.value();
  throw NativeUnsupported("the " + a.kind + " adapter of " + a.module + " (" + a.change +
                          "): the port's model has no module " + path);
}

Tensor registered(torch::nn::Module& m, const std::string& name, const std::vector<int64_t>& shape, double fill) {
  if (auto* t = m.named_parameters(false).find(name)) return *t;  // adapted already
  return m.register_parameter(name, torch::full(shape, fill));
}

void apply(torch::nn::Module& m, const PortAdapter& a) {
  const auto refuse = [&](const char* what) {
    throw NativeUnsupported("the " + a.kind + " adapter of " + a.module + " (" + a.change + "): the port's module is " +
                            what);
  };
  auto* norm = dynamic_cast<Norm*>(&m);
  auto* linear = dynamic_cast<Linear*>(&m);
  auto* attention = dynamic_cast<Attention*>(&m);
  if (a.kind == "output_bias") {
    if (a.shape.empty()) refuse("given no shape for the bias");
    if (norm) norm->adapter.output_bias = registered(m, "xcompat_output_bias", a.shape, 0.0);
    else if (linear) linear->output_bias = registered(m, "xcompat_output_bias", a.shape, 0.0);
    else refuse("neither a norm nor a Linear");
  } else if (a.kind == "layer_norm") {
    if (!norm) refuse("not a norm");
    if (a.shape.empty()) refuse("given no shape for the norm");
    norm->adapter.layer_norm_weight = registered(m, "xcompat_layer_norm_weight", a.shape, 1.0);
    norm->adapter.layer_norm_bias = registered(m, "xcompat_layer_norm_bias", a.shape, 0.0);
  } else if (a.kind == "identity") {
    if (!norm) refuse("not a norm");
    norm->adapter.identity = true;
  } else if (a.kind == "rotate_values") {
    if (!attention) refuse("not an attention");
    // What releases before 1.20.0 computed (kRotaryKeysOnly's old side):
    // values rotated as the keys, wherever a rotary embedding is given.
    attention->options.rotate_values = true;
  } else if (a.kind == "uniform_padded_queries") {
    if (!attention) refuse("not an attention");
    // kKeyPaddingMaskOnly's old side: q_mask * k_mask, so a padded query's
    // row is fully masked, and attends uniformly (kZeroFullyMaskedRows's old
    // side; in a self-attention no other row is fully masked: a query keeps
    // itself as a key).
    attention->options.key_padding_mask_only = Era::Old;
    attention->options.zero_fully_masked_rows = Era::Old;
  }
}

}  // namespace

void apply_adapters(torch::nn::Module& model, const KeyMap& map, const std::vector<PortAdapter>& adapters) {
  for (auto& a : adapters) apply(find_module(model, port_path(map, a.module), a), a);
}

}  // namespace xcompat::native
