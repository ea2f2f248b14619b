#include "harness/check/check_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>

#include "fixtures/fixture_cache.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/convert/locate.hpp"
#include "harness/convert/published.hpp"
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

bool ensure_installed(const Pins& pins, const std::string& version, bool install, std::string& cannot_tell) {
  if (sandbox_installed(version)) return true;
  if (!install) {
    cannot_tell = fmt::format("release {} is not installed: `xcompat install {}`, or pass --install", version, version);
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

// The model, as its own state_dict() names it, in a flat file every path
// loads: the file itself when it is one already, else a copy keyed by the
// file's content and the model's place.
// A file the releases load as it is: safetensors, or a .pt holding one flat
// dict of tensors (not a container, not a pickled module).
bool flat_state_dict(const CheckpointReader& reader) {
  const PtNode* root = reader.tree();
  if (!root) return true;
  return root->kind == PtNode::Kind::Dict &&
         std::all_of(root->children.begin(), root->children.end(),
                     [](auto& c) { return c.second.kind == PtNode::Kind::Tensor; });
}

fs::path stage_model(const fs::path& file, CheckpointReader& reader, const LocatedModel& m, bool alone,
                     const std::string& sha) {
  if (alone && m.prefix.empty() && flat_state_dict(reader)) return file;
  const std::string ext = std::string(".") + reader.format();
  const fs::path out = state_dir() / "checks" / sha.substr(0, 16) / ("model-" + sha256_hex(m.prefix).substr(0, 12) + ext);
  if (fs::exists(out)) return out;
  fs::create_directories(out.parent_path());
  std::vector<TensorInfo> infos;
  for (auto& t : m.tensors) {
    TensorInfo i = t;
    i.name = m.file_name_of.at(t.name).substr(m.prefix.size());
    infos.push_back(std::move(i));
  }
  std::sort(infos.begin(), infos.end(), [](auto& a, auto& b) { return a.name < b.name; });
  auto writer = create_checkpoint(out, infos, json::object());
  for (auto& i : infos) writer->write(i, reader.read(m.prefix + i.name));
  writer->commit();
  return out;
}

// A's outputs for the file, written once like a catalogue fixture, under a
// directory named by the file's content (the converted path keys its files
// by that name: two files never share one).
bool make_reference(const fs::path& staged, const CheckOutcome& o, CheckStretch& s) {
  const std::string sha = o.file_sha256.substr(0, 16);
  s.reference_dir = state_dir() / "checks" / sha /
                    fmt::format("{}-{}-{}-{}", sha, sha256_hex(o.model_prefix).substr(0, 8), s.from,
                                sha256_hex(o.spec.dump()).substr(0, 12));
  if (fs::exists(s.reference_dir / "meta.json")) return true;
  fs::create_directories(s.reference_dir.parent_path());
  const fs::path tmp = s.reference_dir.string() + ".partial-" + std::to_string(std::random_device{}());
  fs::create_directories(tmp);
  const Consumer a{s.from, "python", ""};
  WorkerProcess w(worker_command(a), a.label());
  const WorkerReply reply =
      w.request({{"op", "make_reference"}, {"spec", o.spec}, {"checkpoint", staged.string()}, {"out_dir", tmp.string()}},
                kCellTimeout);
  std::error_code ec;
  const std::string status = reply.ok() ? reply.body.value("status", "") : "";
  if (status != "ok") {
    fs::remove_all(tmp, ec);
    if (!reply.ok()) {
      s.cannot_tell = fmt::format("release {} failed making the reference: [{}] {}", s.from,
                                  worker_fault_name(reply.fault), reply.error.substr(0, 1000));
    } else if (status == "load_fail" && o.conditional()) {
      // Every release of the stretch names and shapes tensors as this one
      // does: none of them saved this file (as the spec builds the model).
      const LoadReport r = LoadReport::from_json(reply.body.value("load_report", json::object()));
      s.excluded = fmt::format("not saved here: {} cannot load the file as the spec ({}) builds it ({} missing, {} "
                               "unexpected, {} mis-shaped{})",
                               s.from, o.spec_source, r.missing.size(), r.unexpected.size(), r.misshaped.size(),
                               r.misshaped.empty() ? "" : ": " + r.misshaped.front());
    } else if (status == "load_fail") {
      const LoadReport r = LoadReport::from_json(reply.body.value("load_report", json::object()));
      s.cannot_tell = fmt::format("release {} cannot load the file as the spec ({}) builds it: {} missing, {} "
                                  "unexpected, {} mis-shaped{} (is the release right? --from, --spec-args)",
                                  s.from, o.spec_source, r.missing.size(), r.unexpected.size(), r.misshaped.size(),
                                  r.missing.empty() ? "" : "; first missing: " + r.missing.front());
    } else {
      s.cannot_tell = fmt::format("release {} cannot run the spec ({}): {}", s.from, status, reply.body.value("reason", ""));
    }
    return false;
  }
  fs::rename(tmp, s.reference_dir, ec);
  if (ec) fs::remove_all(tmp, ec);  // made meanwhile by another check: that one stands
  return true;
}

CellResult evaluate_path(WorkerProcess& w, const CellKey& key, const CheckOutcome& o, const CheckStretch& s,
                         const fs::path& staged, const Tolerance& tol) {
  const json request = {{"op", "evaluate"},          {"spec", o.spec},           {"fixture_dir", s.reference_dir.string()},
                        {"checkpoint", staged.string()}, {"tolerance", tol.to_json()}};
  WorkerReply reply = w.request(request, kCellTimeout);
  if (!reply.ok() && reply.fault != WorkerFault::Exception) reply = w.request(request, kCellTimeout);
  CellResult r = cell_result_of(key, reply);
  r.tolerance_override = tol.reason;
  return r;
}

// Whether a change of the history concerns this model: its key condition
// matches one of the tensors, its argument condition may hold for the spec
// (an XTransformer's either model), and, for rounding-only changes, the
// model is in half precision.
bool concerns(const HistoryChange& c, const std::vector<TensorInfo>& tensors, const json& spec) {
  if (c.rounding_only() && spec.value("dtype", "float32") == "float32") return false;
  if (c.when && std::none_of(tensors.begin(), tensors.end(), [&](auto& t) { return c.when->match(t.name).has_value(); }))
    return false;
  if (spec.value("model", "") == "xtransformer")
    return spec_condition_holds(c, spec_for_prefix(spec, "encoder.")).value_or(true) ||
           spec_condition_holds(c, spec_for_prefix(spec, "decoder.net.")).value_or(true);
  return spec_condition_holds(c, spec).value_or(true);
}

// The release that measures a stretch: an installed pin, else the newest
// installed release, else (with --install) the newest published; never B
// when another would do.
void choose_stretch_producer(const Pins& pins, const CheckRequest& req, CheckStretch& s) {
  const auto first = *Version::parse(s.first), last = *Version::parse(s.last);
  std::vector<std::string> inside;
  for (auto& v : published_releases())
    if (first <= v && v <= last) inside.push_back(v.str());
  auto pinned = [&](const std::string& v) {
    return std::any_of(pins.releases.begin(), pins.releases.end(), [&](auto& r) { return r.version == v; });
  };
  std::string chosen;
  for (int pass = 0; pass < 2 && chosen.empty(); ++pass)
    for (auto it = inside.rbegin(); it != inside.rend() && chosen.empty(); ++it)
      if (*it != req.to && (pass == 1 || pinned(*it)) && sandbox_installed(*it)) chosen = *it;
  if (!chosen.empty()) {
    s.from = chosen;
    s.from_note = fmt::format("{} ({}) measures the releases {}", chosen, pinned(chosen) ? "pinned" : "installed", s.range());
    return;
  }
  for (auto it = inside.rbegin(); it != inside.rend() && chosen.empty() && req.install; ++it)
    if (*it != req.to) chosen = *it;
  if (!chosen.empty()) {
    s.from = chosen;
    s.from_note = fmt::format("{} (installed now) measures the releases {}", chosen, s.range());
    return;
  }
  if (std::find(inside.begin(), inside.end(), req.to) != inside.end()) {
    s.same_as_to = true;
    s.from_note = fmt::format("{} lies in this stretch: no change of the release history between a release of {} and "
                              "it, so it computes the same (said by the history, not measured: no other release of "
                              "the stretch is installed; --install measures it)",
                              req.to, s.range());
    return;
  }
  s.cannot_tell = fmt::format("no release of {} is installed: pass --install (installs {}), or --from if you know "
                              "which release saved it",
                              s.range(), inside.empty() ? s.last : inside.back());
}

void measure_stretch(const Pins& pins, const CheckRequest& req, const CheckOutcome& o, const fs::path& staged,
                     const std::string& format, WorkerProcess& b_worker, std::optional<WorkerProcess>& native_worker,
                     const ReleaseHistory& history, CheckStretch& s) {
  if (!ensure_installed(pins, s.from, req.install, s.cannot_tell)) return;
  if (!make_reference(staged, o, s)) return;
  Fixture fx;
  fx.state = Fixture::State::Ready;
  fx.dir = s.reference_dir;
  fx.meta = read_json_file(s.reference_dir / "meta.json");
  const Spec spec{o.spec.value("name", "check"), o.spec};
  const Release producer{s.from, pins.extras_for(s.from), ""};
  const Release consumer_release{req.to, pins.extras_for(req.to), ""};
  const std::string dtype = o.spec.value("dtype", "float32");
  const Consumer b = release_consumer(consumer_release);
  const CellKey key{spec.name, s.from, req.to, "cpu", dtype, format};
  const Tolerance tol = pins.tolerance_for(spec.name, req.to, dtype);
  CellResult r = evaluate_path(b_worker, key, o, s, staged, tol);
  const PlannedCell cell{key, &spec, &producer, &b};
  if (wants_conversion(cell, r)) add_converted_path(r, cell, fx, history, b_worker, tol, kCellTimeout);
  if (r.verdict == Verdict::Converted || r.verdict == Verdict::Adapted) {
    const fs::path file = fs::absolute(req.file);
    const fs::path out = file.parent_path() / (file.stem().string() + "-" + req.to + file.extension().string());
    write_json_file(s.reference_dir / "spec.json", o.spec);
    // ADAPTED: B's model needs the adapter the conversion writes
    // (xcompat.load_state_dict applies it itself).
    s.convert_command = fmt::format("xcompat convert {} --from {} --to {} --spec-args {}{}{} --out {}", file.string(),
                                    s.from, req.to, (s.reference_dir / "spec.json").string(),
                                    req.key.empty() ? "" : " --key " + req.key,
                                    r.verdict == Verdict::Adapted ? " --adapter " + (file.parent_path() / "adapter.py").string() : "",
                                    out.string());
  }
  s.release = std::move(r);
  if (native_worker) {
    const Consumer n = native_consumer();
    const CellKey nkey{spec.name, s.from, n.name, "cpu", dtype, format};
    s.native = evaluate_path(*native_worker, nkey, o, s, staged, pins.tolerance_for(spec.name, n.name, dtype));
  }
}

}  // namespace

std::vector<std::pair<Version, Version>> behaviour_stretches(const ReleaseHistory& history,
                                                             const std::vector<ReleaseRange>& ranges,
                                                             const std::vector<TensorInfo>& tensors, const json& spec) {
  std::set<Version> splits;  // the first release of a new stretch
  const auto& published = published_releases();
  for (auto& c : history.changes) {
    if (!concerns(c, tensors, spec)) continue;
    splits.insert(c.at);
    if (c.after)  // not bisected: the change may start at any release after `after`
      if (auto it = std::upper_bound(published.begin(), published.end(), *c.after); it != published.end())
        splits.insert(*it);
  }
  std::vector<std::pair<Version, Version>> out;
  for (auto& r : ranges) {
    std::optional<std::pair<Version, Version>> cur;
    for (auto& v : published) {
      if (!r.contains(v)) continue;
      if (cur && splits.count(v)) {
        out.push_back(*cur);
        cur.reset();
      }
      if (!cur) cur = std::make_pair(v, v);
      else cur->second = v;
    }
    if (cur) out.push_back(*cur);
  }
  return out;
}

int CheckStretch::exit_code() const {
  if (same_as_to || !excluded.empty()) return 0;
  if (!cannot_tell.empty() || !release) return 2;
  if (release->verdict == Verdict::Error && !release->direct_verdict) return 2;
  return !release->direct_verdict && verdict_passes(release->verdict) ? 0 : 3;
}

json CheckStretch::to_json() const {
  json j = {{"first", first},         {"last", last},         {"from", from},
            {"from_note", from_note}, {"same_as_to", same_as_to}, {"excluded", excluded},
            {"reference_dir", reference_dir.string()},
            {"cannot_tell", cannot_tell}, {"convert_command", convert_command}, {"exit_code", exit_code()}};
  j["release"] = release ? release->to_json() : json(nullptr);
  j["native"] = native ? native->to_json() : json(nullptr);
  return j;
}

int CheckOutcome::exit_code() const {
  if (!cannot_tell.empty() || stretches.empty()) return 2;
  // Where no stretch could have saved the file, nothing was measured.
  if (std::all_of(stretches.begin(), stretches.end(), [](auto& s) { return !s.excluded.empty(); })) return 2;
  int worst = 0;
  for (auto& s : stretches) {
    const int e = s.exit_code();
    if (e == 3) return 3;  // breaks when saved there: never "safe"
    worst = std::max(worst, e);
  }
  return worst;
}

json CheckOutcome::to_json() const {
  json j = {{"file_sha256", file_sha256}, {"models", models},           {"model_prefix", model_prefix},
            {"fingerprint", fingerprint.to_json()}, {"from_source", from_source}, {"conditional", conditional()},
            {"spec", spec},               {"spec_source", spec_source}, {"staged", staged.string()},
            {"cannot_tell", cannot_tell}, {"exit_code", exit_code()}};
  j["stretches"] = json::array();
  for (auto& s : stretches) j["stretches"].push_back(s.to_json());
  // One stretch (A known, or one behaviour in the whole range): its answer is the answer.
  const CheckStretch* only = stretches.size() == 1 ? &stretches.front() : nullptr;
  j["from"] = only ? only->from : "";
  j["from_note"] = only ? only->from_note : "";
  j["reference_dir"] = only ? only->reference_dir.string() : "";
  j["convert_command"] = only ? only->convert_command : "";
  j["release"] = only && only->release ? only->release->to_json() : json(nullptr);
  j["native"] = only && only->native ? only->native->to_json() : json(nullptr);
  if (only && cannot_tell.empty() && !only->cannot_tell.empty()) j["cannot_tell"] = only->cannot_tell;
  return j;
}

CheckOutcome check_file(const Pins& pins, const ReleaseHistory& history, const CheckRequest& req) {
  CheckOutcome o;
  const fs::path file = fs::absolute(req.file);
  auto reader = open_checkpoint(file);
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

  // 1. Which model.
  const Located located = locate_models(reader->tensors());
  for (auto& m : located.models) o.models.push_back(m.to_json());
  if (located.models.empty())
    throw Error(req.file.string() + ": no x-transformers model found in it (no TransformerWrapper, XTransformer, "
                "Continuous / ViT wrapper or attention layers by their tensors)");
  const auto chosen = models_under(located, req.key);
  if (chosen.size() > 1) {
    std::string where;
    for (auto* m : chosen) where += fmt::format("{}{} at {}", where.empty() ? "" : ", ", model_kind_name(m->kind), place_name(m->prefix));
    o.cannot_tell = fmt::format("the file holds {} x-transformers models ({}): pass --key with the one to check "
                                "(e.g. --key {})",
                                chosen.size(), where, chosen.front()->prefix.empty() ? "''" : chosen.front()->prefix.substr(0, chosen.front()->prefix.size() - 1));
    return o;
  }
  const LocatedModel& model = *chosen.front();
  o.model_prefix = model.prefix;
  o.fingerprint = fingerprint_model(history, model, record, req.file.string());
  if (!choose_spec(req, record, model.tensors, o)) return o;

  // 2. Who saved it: one release, or every stretch of the range.
  if (req.from || o.fingerprint.stamped) {
    CheckStretch s;
    s.first = s.last = s.from = req.from ? *req.from : o.fingerprint.stamped->str();
    o.from_source = req.from ? "--from" : "stamp";
    s.from_note = "saved by " + s.from + " (" + o.from_source + ")";
    if (!o.fingerprint.ranges.empty() && !o.fingerprint.matches(*Version::parse(s.from))) {
      o.cannot_tell = fmt::format("the tensors are named as releases {} name them, not as {} ({}) does",
                                  ranges_text(o.fingerprint), s.from, o.from_source);
      return o;
    }
    o.stretches.push_back(std::move(s));
  } else {
    o.from_source = "fingerprint";
    if (o.fingerprint.ranges.empty()) {
      o.cannot_tell = fmt::format("no release between {} and {} names its tensors this way, and nothing says which "
                                  "release saved it: pass --from V",
                                  history.oldest.str(), history.newest.str());
      return o;
    }
    for (auto& [first, last] : behaviour_stretches(history, o.fingerprint.ranges, model.tensors, o.spec)) {
      CheckStretch s;
      s.first = first.str();
      s.last = last.str();
      choose_stretch_producer(pins, req, s);
      o.stretches.push_back(std::move(s));
    }
  }
  std::string b_missing;
  if (!ensure_installed(pins, req.to, req.install, b_missing)) {
    o.cannot_tell = b_missing;
    return o;
  }

  // 3. The paths, per stretch; one worker for B and one for the port serve them all.
  o.staged = stage_model(file, *reader, model, located.others.empty() && located.models.size() == 1, o.file_sha256);
  const Consumer b = release_consumer(Release{req.to, pins.extras_for(req.to), ""});
  WorkerProcess b_worker(worker_command(b), b.label());
  std::optional<WorkerProcess> native_worker;
  if (req.native) {
    const Consumer n = native_consumer();
    native_worker.emplace(worker_command(n), n.label());
  }
  for (auto& s : o.stretches)
    if (!s.from.empty() && s.cannot_tell.empty())
      measure_stretch(pins, req, o, o.staged, reader->format(), b_worker, native_worker, history, s);
  return o;
}

}  // namespace xcompat
