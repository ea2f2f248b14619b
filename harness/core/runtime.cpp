#include "harness/core/runtime.hpp"

#include "harness/core/error.hpp"
#include "harness/core/names.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

namespace {
constexpr std::string_view kTorch = "-torch";
}

Runtime parse_runtime(std::string_view name) {
  const auto at = name.find(kTorch);
  if (at == std::string_view::npos) return {std::string(name), ""};
  return {std::string(name.substr(0, at)), std::string(name.substr(at + kTorch.size()))};
}

std::string runtime_name(const std::string& release, const std::string& torch) {
  return torch.empty() ? release : release + std::string(kTorch) + torch;
}

std::string release_of(std::string_view name) { return parse_runtime(name).release; }

bool is_runtime_name(std::string_view name) {
  const Runtime r = parse_runtime(name);
  return Version::parse(r.release).has_value() && (r.torch.empty() || Version::parse(r.torch).has_value());
}

std::filesystem::path venv_of(std::string_view name) {
  const Runtime r = parse_runtime(name);
  if (r.torch.empty()) return default_venv();
  const auto venv = project_root() / (".venv-torch-" + r.torch);
  if (!std::filesystem::exists(venv / "bin" / "python"))
    throw Error("torch " + r.torch + " has no venv (" + venv.string() + "): run scripts/setup --torch " + r.torch);
  return venv;
}

}  // namespace xcompat
