// `xcompat releases [--json] [--no-import-check]`: the pinned releases, their
// sandboxes, and whether each imports (through a real worker).
#include <fmt/format.h>

#include <iostream>
#include <mutex>

#include "harness/cli/commands.hpp"
#include "harness/convert/published.hpp"
#include "harness/core/error.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/parallel.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/sandbox.hpp"
#include "harness/worker/worker_process.hpp"

namespace xcompat::cli {

int install(const Common& c, const std::vector<std::string>& versions) {
  const Pins pins = load_pins(c.pins_path);
  for (auto& v : versions) {
    const auto parsed = Version::parse(v);
    if (!parsed || !is_published(*parsed)) {
      auto [below, above] = parsed ? published_neighbours(*parsed) : std::pair<std::optional<Version>, std::optional<Version>>{};
      throw Error(fmt::format("x-transformers has no release '{}'{}", v,
                              below || above ? fmt::format(" (published around it: {} and {})", below ? below->str() : "none",
                                                           above ? above->str() : "none")
                                             : ""));
    }
  }
  for (auto& v : versions) {
    const auto t0 = std::chrono::steady_clock::now();
    bool did = false;
    install_release(pins, v, [&](const std::string& line) {
      did = true;
      fmt::print(stderr, "{}\n", line);
    });
    fmt::print("{}: {} ({})\n", v, did ? "installed" : "already installed", release_sandbox(v).string());
    if (did)
      fmt::print(stderr, "  {:.1f} s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 0;
}

int releases(const Common& c, bool check_import) {
  const Pins pins = load_pins(c.pins_path);
  json rows = json::array();
  std::vector<Release> listed = pins.releases;
  for (auto& r : pins.releases) {
    const auto sandbox = release_sandbox(r.version);
    rows.push_back({{"version", r.version}, {"reason", r.reason}, {"extras", r.extras}, {"pinned", true},
                    {"sandbox", sandbox.string()}, {"installed", sandbox_installed(r.version)}});
  }
  // Releases installed on demand (bisect, check --install), not pinned: listed, never swept by default.
  for (auto& s : installed_sandboxes(pins)) {
    if (s.pinned) continue;
    listed.push_back({s.version, pins.extras_for(s.version), "not pinned: installed on demand"});
    rows.push_back({{"version", s.version}, {"reason", listed.back().reason}, {"extras", listed.back().extras},
                    {"pinned", false}, {"sandbox", release_sandbox(s.version).string()}, {"installed", true}});
  }
  if (check_import) {
    parallel_for(rows.size(), static_cast<int>(std::thread::hardware_concurrency()), [&](std::size_t i, int) {
      json& row = rows[i];
      if (!row["installed"].get<bool>()) {
        row["imports"] = false;
        row["import_error"] = "not installed; run scripts/setup";
        return;
      }
      const Consumer consumer = release_consumer(listed[i]);
      WorkerProcess w(worker_command(consumer), consumer.label());
      auto reply = w.request({{"op", "info"}}, std::chrono::seconds(60));
      row["imports"] = reply.ok();
      if (reply.ok()) {
        row["torch"] = reply.body["info"].value("torch", "");
        row["python"] = reply.body["info"].value("python", "");
        row["start_seconds"] = w.start_seconds_total();
      } else {
        row["import_error"] = reply.error;
      }
    });
  }
  bool all_ok = true;
  for (auto& row : rows) all_ok &= row["installed"].get<bool>() && row.value("imports", true);
  if (c.json) {
    std::cout << json{{"xcompat", XCOMPAT_VERSION}, {"torch_pin", pins.torch}, {"releases", rows}}.dump(2) << "\n";
    return all_ok ? 0 : 1;
  }
  fmt::print("{:<10} {:<9} {:<8} {:<12} {:<8} {}\n", "release", "installed", "imports", "torch", "python", "reason");
  for (auto& row : rows) {
    fmt::print("{:<10} {:<9} {:<8} {:<12} {:<8} {}\n", row["version"].get<std::string>(),
               row["installed"].get<bool>() ? "yes" : "NO",
               !row.contains("imports") ? "-" : (row["imports"].get<bool>() ? "yes" : "NO"),
               row.value("torch", "-"), row.value("python", "-"), row["reason"].get<std::string>());
    if (row.contains("import_error")) fmt::print("           {}\n", row["import_error"].get<std::string>());
  }
  return all_ok ? 0 : 1;
}

}  // namespace xcompat::cli
