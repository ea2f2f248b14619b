#pragma once
// The torch axis. A release run under a torch other than the pins' default
// is a runtime of its own, named "<release>-torch<T>" ("2.31.10-torch2.14.1"):
// that name is the producer or consumer of its cells everywhere (store,
// report, query), so the cells that cross torches (2.31.10 saved under the
// default torch, loaded by 2.31.10 under 2.14.1) sit beside the others. The
// release part decides the sandbox, the release history and conversions; the
// torch part decides the venv (`.venv-torch-T`, made by `scripts/setup
// --torch T`).
#include <filesystem>
#include <string>
#include <string_view>

namespace xcompat {

struct Runtime {
  std::string release, torch;  // torch "" for the default torch
};

// "2.31.10" -> {2.31.10, ""}; "2.31.10-torch2.14.1" -> {2.31.10, 2.14.1}.
Runtime parse_runtime(std::string_view name);
// {R, ""} -> "R", {R, T} -> "R-torchT".
std::string runtime_name(const std::string& release, const std::string& torch);
// The release part of a producer or consumer name.
std::string release_of(std::string_view name);
// Whether the name is a release or a release under another torch.
bool is_runtime_name(std::string_view name);
// The venv a runtime runs in: the default venv, or .venv-torch-T (an Error
// naming `scripts/setup --torch T` when it is not there).
std::filesystem::path venv_of(std::string_view name);

}  // namespace xcompat
