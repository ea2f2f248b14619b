#include "harness/convert/adapter_file.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"

namespace xcompat {

namespace {

// A Python string literal (JSON's escapes are Python's for these strings).
std::string py_string(const std::string& s) { return nlohmann::json(s).dump(); }

void replace_line(std::string& text, const std::string& starts_with, const std::string& by) {
  const auto at = text.rfind("\n" + starts_with);
  if (at == std::string::npos)
    throw Error("the adapter template has no line starting '" + starts_with + "' (harness/python/xcompat_adapter.py)");
  const auto end = text.find('\n', at + 1);
  text.replace(at + 1, end - at - 1, by);
}

}  // namespace

std::string adapter_file_text(const std::string& template_text, const nlohmann::json& adapters, const std::string& from,
                              const std::string& to, const std::string& command) {
  std::string list = "ADAPTERS = [\n";
  for (auto& a : adapters) {
    std::string shape;
    for (auto& d : a.at("shape")) shape += std::to_string(d.get<int64_t>()) + ", ";
    list += fmt::format("    ({}, {}, ({}), {}),\n", py_string(a.at("module")), py_string(a.at("kind")), shape,
                        py_string(a.at("change")));
  }
  list += "]";
  std::string text = template_text;
  replace_line(text, "ADAPTERS = ", list);
  replace_line(text, "FROM, TO = ", fmt::format("FROM, TO = {}, {}", py_string(from), py_string(to)));
  return fmt::format("# Written by `{}`: x-transformers {} -> {}.\n", command, from, to) + text;
}

void write_adapter_file(const std::filesystem::path& out, const nlohmann::json& adapters, const std::string& from,
                        const std::string& to, const std::string& command) {
  const auto source = python_driver_dir() / "xcompat_adapter.py";
  std::ifstream in(source);
  if (!in) throw Error("cannot read the adapter template " + source.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = adapter_file_text(buffer.str(), adapters, from, to, command);
  const auto tmp = out.string() + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) throw Error("cannot write " + tmp);
    o << text;
    if (!o.flush()) throw Error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, out);
}

}  // namespace xcompat
