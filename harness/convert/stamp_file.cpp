#include "harness/convert/stamp_file.hpp"

#include <fmt/format.h>

#include <fstream>
#include <random>

#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

void write_sidecar(const fs::path& file, const json& record) {
  fs::path target = file, tmp = file;
  target += ".xcompat.json";
  tmp += ".xcompat.json.tmp-" + std::to_string(std::random_device{}());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << record.dump(1) << "\n";
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(target.string() + ": write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) throw Error(target.string() + ": cannot replace: " + ec.message());
}

}  // namespace

StampResult stamp_file(const ReleaseHistory& history, const StampRequest& req) {
  check_release(history, req.release, "--release");
  if (!req.sidecar && req.out.empty()) throw Error("give --out FILE for a stamped copy, or --sidecar");
  if (!req.sidecar && fs::exists(req.out) && fs::equivalent(req.in, req.out))
    throw Error(req.out.string() + ": the stamped copy would replace the checkpoint; choose another --out, or --sidecar");
  auto reader = open_checkpoint(req.in);
  const auto& tensors = reader->tensors();
  StampResult result;
  // The layout alone, not an earlier stamp: a wrong stamp is what this replaces.
  result.fingerprint = fingerprint_tensors(history, tensors, json::object(), req.in.string());
  const Fingerprint& fp = result.fingerprint;
  if (!req.force && !fp.matches(req.release)) {
    std::vector<std::string> ranges;
    for (auto& r : fp.ranges) ranges.push_back(r.str());
    throw Error(fmt::format("{}: its tensors are named as {} name them, not as {} does (--force stamps anyway)",
                            req.in.string(), ranges.empty() ? "no known release" : fmt::format("releases {}", fmt::join(ranges, ", ")),
                            req.release.str()));
  }
  if (!req.spec.is_null())
    if (auto misfits = spec_misfits(req.spec, tensors); !misfits.empty())
      throw Error(fmt::format("{}: the spec does not fit the checkpoint: {}", req.in.string(), fmt::join(misfits, "; ")));

  result.record = {{"x_transformers", req.release.str()},
                   {"stamped_by", std::string("xcompat ") + XCOMPAT_VERSION},
                   {"source_sha256", sha256_file(req.in)}};
  if (!req.torch.empty()) result.record["torch"] = req.torch;
  if (!req.spec.is_null()) result.record["spec"] = req.spec;

  if (req.sidecar) {
    write_sidecar(req.in, result.record);
    result.written = req.in;
    result.written += ".xcompat.json";
    return result;
  }
  if (req.out.has_parent_path()) fs::create_directories(req.out.parent_path());
  auto writer = create_checkpoint(req.out, tensors, result.record);
  for (auto& t : tensors) writer->write(t, reader->read(t.name));
  writer->commit();
  result.written = req.out;
  return result;
}

}  // namespace xcompat
