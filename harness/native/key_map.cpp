#include "harness/native/key_map.hpp"

#include <regex>

namespace xcompat::native {

namespace {
using Rewrite = std::function<std::optional<std::string>(const std::string&)>;

// Matches `pattern` (groups: prefix, suffix) and puts `middle` between them.
Rewrite rewrite(const char* pattern, std::string middle) {
  auto re = std::make_shared<std::regex>(pattern);
  return [re, middle](const std::string& key) -> std::optional<std::string> {
    std::smatch m;
    if (!std::regex_match(key, m, *re)) return std::nullopt;
    return m[1].str() + middle + m[2].str();
  };
}

// A norm's parameter: <path>.<name>, path = attn_layers.layers.<i>.0.<k> or attn_layers.final_norm.
constexpr const char* kNormParam = R"(^(.*attn_layers\.(?:layers\.\d+\.0\.\d|final_norm))\.(\w+)$)";

Rewrite rename_norm_param(std::map<std::string, std::string> names) {
  auto re = std::make_shared<std::regex>(kNormParam);
  return [re, names](const std::string& key) -> std::optional<std::string> {
    std::smatch m;
    if (!std::regex_match(key, m, *re)) return std::nullopt;
    auto it = names.find(m[2].str());
    if (it == names.end()) return std::nullopt;
    return m[1].str() + "." + it->second;
  };
}
}  // namespace

KeyMap::KeyMap(const ReleaseContext& ctx) {
  const ReleaseVersion& r = ctx.release;
  // to_port order: net -> ff, then ff.3 -> ff.2, then norm -> final_norm, then weight/bias -> gamma/beta
  if (era_of(kFeedForwardNamedFf, r) == Era::Old)
    renames_.push_back({&kFeedForwardNamedFf, "layers.<i>.1.net.* -> layers.<i>.1.ff.*",
                        rewrite(R"(^(.*\.layers\.\d+\.1\.)net(\..*)$)", "ff"),
                        rewrite(R"(^(.*\.layers\.\d+\.1\.)ff(\..*)$)", "net")});
  if (era_of(kFeedForwardFiltersNone, r) == Era::Old)
    renames_.push_back({&kFeedForwardFiltersNone, "layers.<i>.1.ff.3.* -> layers.<i>.1.ff.2.*",
                        rewrite(R"(^(.*\.layers\.\d+\.1\.ff\.)3(\..*)$)", "2"),
                        rewrite(R"(^(.*\.layers\.\d+\.1\.ff\.)2(\..*)$)", "3")});
  if (era_of(kFinalNormInAttentionLayers, r) == Era::Old)
    renames_.push_back({&kFinalNormInAttentionLayers, "norm.* -> attn_layers.final_norm.*",
                        rewrite(R"(^((?:encoder\.|decoder\.net\.)?)norm(\..*)$)", "attn_layers.final_norm"),
                        rewrite(R"(^((?:encoder\.|decoder\.net\.)?)attn_layers\.final_norm(\..*)$)", "norm")});
  if (era_of(kLayerNormGammaOnly, r) == Era::Old) {
    // Which names the release saves: nn.LayerNorm's weight/bias (< 1.27.0),
    // gamma + beta (1.27.0, or 1.27.1 - 1.30.x under torch < 2.1), weight
    // only (1.27.1 - 1.30.x under torch >= 2.1).
    std::map<std::string, std::string> back;
    if (era_of(kLayerNormCustomClass, r) == Era::Old) {
      back = {{"gamma", "weight"}, {"beta", "bias"}};
    } else if (era_of(kLayerNormTorchBiasless, r) == Era::New) {
      const bool torch_2_1 = ctx.torch_major > 2 || (ctx.torch_major == 2 && ctx.torch_minor >= 1);
      if (torch_2_1) back = {{"gamma", "weight"}};
    }
    renames_.push_back({&kLayerNormGammaOnly, "<norm>.weight / .bias -> <norm>.gamma / .beta",
                        rename_norm_param({{"weight", "gamma"}, {"bias", "beta"}}), rename_norm_param(back)});
  }
}

std::string KeyMap::to_port(const std::string& checkpoint_key) const {
  std::string key = checkpoint_key;
  for (const auto& r : renames_)
    if (auto k = r.to_port(key)) key = *k;
  return key;
}

std::string KeyMap::to_release(const std::string& port_key) const {
  std::string key = port_key;
  for (auto it = renames_.rbegin(); it != renames_.rend(); ++it)
    if (auto k = it->to_release(key)) key = *k;
  return key;
}

std::vector<std::string> KeyMap::descriptions() const {
  std::vector<std::string> out;
  for (const auto& r : renames_) out.push_back(std::string(r.description) + " (releases before " + r.until->first_new.str() + ")");
  return out;
}

}  // namespace xcompat::native
