#include "harness/check/check_file.hpp"

#include <fmt/format.h>

#include <random>

#include "fixtures/fixture_cache.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/json_file.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/sandbox.hpp"
#include "harness/sweep/cell_phase.hpp"
#include "harness/sweep/converted_path.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"

namespace xcompat {

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto kCellTimeout = 180s;

std::string ranges_text(const Fingerprint& fp) {
  std::string s;
  for (auto& r : fp.ranges) s += (s.empty() ? "" : ", ") + r.str();
  return s.empty() ? "none known" : s;
}

// A: --from, the stamp, or the newest pinned release with the file's layout.
bool choose_producer(const Pins& pins, const CheckRequest& req, CheckOutcome& o) {
  const Fingerprint& fp = o.fingerprint;
  if (req.from) {
    o.from = *req.from;
    o.from_source = "--from";
  } else if (fp.stamped) {
    o.from = fp.stamped->str();
    o.from_source = "stamp";
  } else {
    for (auto it = pins.releases.rbegin(); it != pins.releases.rend(); ++it)
      if (auto v = Version::parse(it->version); v && fp.matches(*v)) {
        o.from = it->version;
        break;
      }
    if (o.from.empty() && req.install && !fp.ranges.empty()) o.from = fp.ranges.back().last.str();
    if (o.from.empty()) {
      o.cannot_tell = fmt::format("nothing says which release saved it (no stamp, no --from), and no pinned release "
                                  "has its layout (releases {}): pass --from V, with --install if V is not installed",
                                  ranges_text(fp));
      return false;
    }
    o.from_source = "fingerprint";
    o.from_note = fmt::format("the layout is that of releases {}; {} taken as the one that saved it (pass --from "
                              "for the exact release: behaviour inside the range may differ)",
                              ranges_text(fp), o.from);
  }
  if (!fp.ranges.empty() && !fp.matches(*Version::parse(o.from))) {
    o.cannot_tell = fmt::format("the tensors are named as releases {} name them, not as {} ({}) does", ranges_text(fp),
                                o.from, o.from_source);
    return false;
  }
  return true;
}

bool ensure_installed(const Pins& pins, const std::string& version, bool install, CheckOutcome& o) {
  if (sandbox_installed(version)) return true;
  if (!install) {
    o.cannot_tell = fmt::format("release {} is not installed: `xcompat install {}`, or pass --install", version, version);
    return false;
  }
  install_release(pins, version);
  return true;
}

// The spec every path builds: the user's, the stamp's, or the fingerprint's;
// the fingerprint's fills what a spec for a file does not say (inputs).
bool choose_spec(const CheckRequest& req, const json& record, const std::vector<TensorInfo>& tensors, CheckOutcome& o) {
  const json& inferred = o.fingerprint.spec;
  if (!req.spec.is_null()) {
    o.spec = req.spec;
    o.spec_source = "--spec-args";
  } else if (record.contains("spec") && record["spec"].is_object() && record["spec"].contains("model")) {
    o.spec = record["spec"];
    o.spec_source = "stamp";
  } else {
    o.spec = inferred;
    o.spec_source = "fingerprint";
  }
  for (const char* k : {"name", "seed", "batch", "seq_len", "mask"})
    if (!o.spec.contains(k) && inferred.contains(k)) o.spec[k] = inferred[k];
  if (!o.spec.contains("dtype") && inferred.contains("dtype")) o.spec["dtype"] = inferred["dtype"];
  if (auto misfits = spec_misfits(o.spec, tensors); !misfits.empty()) {
    o.cannot_tell = fmt::format("the spec ({}) does not fit the checkpoint: {}", o.spec_source, fmt::join(misfits, "; "));
    return false;
  }
  return true;
}

// A's outputs for the file, written once like a catalogue fixture.
bool make_reference(const fs::path& file, CheckOutcome& o) {
  o.reference_dir = state_dir() / "checks" / o.file_sha256.substr(0, 16) /
                    (o.from + "-" + sha256_hex(o.spec.dump()).substr(0, 12));
  if (fs::exists(o.reference_dir / "meta.json")) return true;
  fs::create_directories(o.reference_dir.parent_path());
  const fs::path tmp = o.reference_dir.string() + ".partial-" + std::to_string(std::random_device{}());
  fs::create_directories(tmp);
  const Consumer a{o.from, "python", ""};
  WorkerProcess w(worker_command(a), a.label());
  const WorkerReply reply =
      w.request({{"op", "make_reference"}, {"spec", o.spec}, {"checkpoint", file.string()}, {"out_dir", tmp.string()}},
                kCellTimeout);
  std::error_code ec;
  const std::string status = reply.ok() ? reply.body.value("status", "") : "";
  if (status != "ok") {
    fs::remove_all(tmp, ec);
    if (!reply.ok()) {
      o.cannot_tell = fmt::format("release {} failed making the reference: [{}] {}", o.from,
                                  worker_fault_name(reply.fault), reply.error.substr(0, 1000));
    } else if (status == "load_fail") {
      const LoadReport r = LoadReport::from_json(reply.body.value("load_report", json::object()));
      o.cannot_tell = fmt::format("release {} cannot load the file as the spec ({}) builds it: {} missing, {} "
                                  "unexpected, {} mis-shaped{} (is the release right? --from, --spec-args)",
                                  o.from, o.spec_source, r.missing.size(), r.unexpected.size(), r.misshaped.size(),
                                  r.missing.empty() ? "" : "; first missing: " + r.missing.front());
    } else {
      o.cannot_tell = fmt::format("release {} cannot run the spec ({}): {}", o.from, status, reply.body.value("reason", ""));
    }
    return false;
  }
  fs::rename(tmp, o.reference_dir, ec);
  if (ec) fs::remove_all(tmp, ec);  // made meanwhile by another check: that one stands
  return true;
}

CellResult evaluate_path(WorkerProcess& w, const CellKey& key, const CheckOutcome& o, const fs::path& file,
                         const Tolerance& tol) {
  const json request = {{"op", "evaluate"},        {"spec", o.spec},           {"fixture_dir", o.reference_dir.string()},
                        {"checkpoint", file.string()}, {"tolerance", tol.to_json()}};
  WorkerReply reply = w.request(request, kCellTimeout);
  if (!reply.ok() && reply.fault != WorkerFault::Exception) reply = w.request(request, kCellTimeout);
  CellResult r = cell_result_of(key, reply);
  r.tolerance_override = tol.reason;
  return r;
}

}  // namespace

int CheckOutcome::exit_code() const {
  if (!cannot_tell.empty() || !release) return 2;
  if (release->verdict == Verdict::Error && !release->direct_verdict) return 2;
  return !release->direct_verdict && verdict_passes(release->verdict) ? 0 : 3;
}

json CheckOutcome::to_json() const {
  json j = {{"file_sha256", file_sha256},   {"fingerprint", fingerprint.to_json()},
            {"from", from},                 {"from_source", from_source},
            {"from_note", from_note},       {"spec", spec},
            {"spec_source", spec_source},   {"reference_dir", reference_dir.string()},
            {"cannot_tell", cannot_tell},   {"convert_command", convert_command},
            {"exit_code", exit_code()}};
  j["release"] = release ? release->to_json() : json(nullptr);
  j["native"] = native ? native->to_json() : json(nullptr);
  return j;
}

CheckOutcome check_file(const Pins& pins, const ReleaseHistory& history, const CheckRequest& req) {
  CheckOutcome o;
  const fs::path file = fs::absolute(req.file);
  auto reader = open_checkpoint(file);
  const auto& tensors = reader->tensors();
  const json record = reader->xcompat_record();
  o.file_sha256 = sha256_file(file);
  const auto to = Version::parse(req.to);
  if (!to) throw Error("--to wants a release X.Y.Z, not '" + req.to + "'");
  check_release(history, *to, "--to");
  if (req.from) {
    const auto from = Version::parse(*req.from);
    if (!from) throw Error("--from wants a release X.Y.Z, not '" + *req.from + "'");
    check_release(history, *from, "--from");
  }
  o.fingerprint = fingerprint_tensors(history, tensors, record, req.file.string());
  if (!choose_producer(pins, req, o)) return o;
  if (!choose_spec(req, record, tensors, o)) return o;
  if (!ensure_installed(pins, o.from, req.install, o) || !ensure_installed(pins, req.to, req.install, o)) return o;
  if (!make_reference(file, o)) return o;

  Fixture fx;
  fx.state = Fixture::State::Ready;
  fx.dir = o.reference_dir;
  fx.meta = read_json_file(o.reference_dir / "meta.json");
  const Spec spec{o.spec.value("name", "check"), o.spec};
  const Release producer{o.from, pins.extras_for(o.from), ""};
  const Release consumer_release{req.to, pins.extras_for(req.to), ""};
  const std::string dtype = o.spec.value("dtype", "float32");
  const std::string format = reader->format();

  const Consumer b = release_consumer(consumer_release);
  {
    WorkerProcess w(worker_command(b), b.label());
    const CellKey key{spec.name, o.from, req.to, "cpu", dtype, format};
    const Tolerance tol = pins.tolerance_for(spec.name, req.to, dtype);
    CellResult r = evaluate_path(w, key, o, file, tol);
    const PlannedCell cell{key, &spec, &producer, &b};
    if (wants_conversion(cell, r)) add_converted_path(r, cell, fx, history, w, tol, kCellTimeout);
    if (r.verdict == Verdict::Converted) {
      const fs::path out = file.parent_path() / (file.stem().string() + "-" + req.to + file.extension().string());
      o.convert_command = fmt::format("xcompat convert {} --from {} --to {} --spec-args {} --out {}", file.string(),
                                      o.from, req.to, (o.reference_dir / "spec.json").string(), out.string());
      write_json_file(o.reference_dir / "spec.json", o.spec);
    }
    o.release = std::move(r);
  }
  if (req.native) {
    const Consumer n = native_consumer();
    WorkerProcess w(worker_command(n), n.label());
    const CellKey key{spec.name, o.from, n.name, "cpu", dtype, format};
    o.native = evaluate_path(w, key, o, file, pins.tolerance_for(spec.name, n.name, dtype));
  }
  return o;
}

}  // namespace xcompat
