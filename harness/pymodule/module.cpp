// xcompat._core: the Python module over the C++ core (no torch, no libpython
// beyond the interpreter that imports it). Everything crosses as JSON text
// (reports, fingerprints: parsed by the Python package) or as raw tensor
// bytes with a dtype name and a shape (numpy uint8 arrays that own them), so
// this file knows neither torch nor numpy's dtypes; python/xcompat/ turns
// them into torch tensors when torch is there and numpy arrays otherwise.
//
// Errors: the C++ core's exceptions become typed Python exceptions with the
// same message the command line prints (CheckpointError, UnknownRelease,
// XcompatError for the rest).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <set>

#include "harness/checkpoint/checkpoint_error.hpp"
#include "harness/checkpoint/checkpoint_file.hpp"
#include "harness/convert/adapter_file.hpp"
#include "harness/convert/constructor_lines.hpp"
#include "harness/convert/fingerprint_report.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/convert/plan_models.hpp"
#include "harness/core/compare.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/verdict.hpp"
#include "harness/pymodule/api_core.hpp"
#include "harness/core/spec.hpp"

namespace py = pybind11;
using json = nlohmann::json;
using namespace xcompat;

namespace {

using api::InfoTuple;

std::vector<InfoTuple> tuples_from(const std::vector<TensorInfo>& infos) {
  std::vector<InfoTuple> out;
  for (auto& t : infos) out.emplace_back(t.name, dtype_name(t.dtype), t.shape);
  return out;
}

json json_arg(const std::string& text) { return text.empty() ? json() : json::parse(text); }

// The bytes move into the array's owner: no copy on the way out.
py::tuple tensor_to_python(TensorData&& data) {
  auto owner = std::make_unique<std::vector<std::byte>>(std::move(data.bytes));
  const std::size_t size = owner->size();
  std::byte* ptr = owner->data();
  py::capsule free_owner(owner.get(), [](void* p) { delete static_cast<std::vector<std::byte>*>(p); });
  owner.release();
  py::array_t<uint8_t> array({static_cast<py::ssize_t>(size)}, {1}, reinterpret_cast<uint8_t*>(ptr), free_owner);
  return py::make_tuple(dtype_name(data.dtype), data.shape, array);
}

// What the Python side hands over for one tensor: (dtype, shape, a buffer of its bytes).
TensorData tensor_from_python(const std::string& name, const py::object& given) {
  auto t = given.cast<py::tuple>();
  if (t.size() != 3) throw Error("tensor '" + name + "': expected (dtype, shape, bytes)");
  TensorData d;
  d.dtype = dtype_from_name(t[0].cast<std::string>());
  d.shape = t[1].cast<std::vector<int64_t>>();
  const py::buffer_info buf = t[2].cast<py::buffer>().request();
  const std::size_t bytes = static_cast<std::size_t>(buf.size * buf.itemsize);
  const auto numel = checked_numel(d.shape);
  if (!numel || static_cast<std::size_t>(*numel) * dtype_size(d.dtype) != bytes)
    throw Error("tensor '" + name + "': its bytes do not match its dtype and shape");
  d.bytes.resize(bytes);
  if (bytes) std::memcpy(d.bytes.data(), buf.ptr, bytes);
  return d;
}

// A checkpoint file opened with the restricted readers (no code in it runs).
struct PyCheckpoint {
  std::unique_ptr<CheckpointReader> reader;
  explicit PyCheckpoint(const std::string& path) : reader(open_checkpoint(path)) {}
  std::vector<InfoTuple> tensors() const { return tuples_from(reader->tensors()); }
  std::string record() const { return reader->xcompat_record().dump(); }
  py::tuple read(const std::string& name) {
    TensorData d;
    {
      py::gil_scoped_release unlocked;
      d = reader->read(name);
    }
    return tensor_to_python(std::move(d));
  }
};

// A planned conversion of tensors in memory; run() streams them through it.
struct PyConversion {
  PlannedModels planned;

  std::string report() const {
    json j = planned.result.to_json();
    json lines = json::array();
    for (auto& m : planned.result.models)
      for (auto& line : constructor_lines(m.plan.args, planned.result.spec)) lines.push_back(line);
    j["constructor"] = lines;
    return j.dump();
  }

  // Every tensor B's dict holds: (name, dtype, shape, the input it is, unchanged, or None).
  std::vector<std::tuple<std::string, std::string, std::vector<int64_t>, std::optional<std::string>>> outputs() const {
    std::vector<std::tuple<std::string, std::string, std::vector<int64_t>, std::optional<std::string>>> out;
    for (auto& [info, same] : api::planned_outputs(planned))
      out.emplace_back(info.name, dtype_name(info.dtype), info.shape,
                       same.empty() ? std::nullopt : std::optional<std::string>(same));
    return out;
  }

  // Computes the tensors that are not an input unchanged: fetch(name) gives
  // an input as (dtype, shape, bytes), emit(name, (dtype, shape, array))
  // takes an output. Returns the lossy tensors' JSON (name, largest |x|).
  std::string run(const py::function& fetch, const py::function& emit) {
    // What would be dropped or adapted is read first: an adapter whose
    // tensor holds what B implies is not needed, and B's tensors are known.
    settle_plans(planned, [&](std::size_t i) -> TensorSource {
      const LocatedModel& m = planned.model(i);
      return [&fetch, &m](const std::string& name) {
        const std::string file_name = m.file_name_of.at(name);
        return tensor_from_python(file_name, fetch(file_name));
      };
    });
    json lossy = json::array();
    std::set<std::string> computed;
    for (auto& [name, dtype, shape, src] : outputs())
      if (!src) computed.insert(name);
    for (std::size_t i = 0; i < planned.chosen.size(); ++i) {
      const LocatedModel& m = planned.model(i);
      ConversionPlan plan = planned.result.models[i].plan;
      std::erase_if(plan.outputs, [&](const OutputTensor& o) { return !computed.count(m.in_file(o.info.name)); });
      auto lost = run_conversion(
          plan, [&](const std::string& name) {
            const std::string file_name = m.file_name_of.at(name);
            return tensor_from_python(file_name, fetch(file_name));
          },
          [&](const TensorInfo& info, const TensorData& data) {
            TensorData copy = data;
            emit(m.in_file(info.name), tensor_to_python(std::move(copy)));
          });
      for (auto& [name, magnitude] : lost) lossy.push_back({{"tensor", m.in_file(name)}, {"max_abs", magnitude}});
      // The dropped tensors' values settled the outcome: the report says it from now on.
      ModelConversion& done = planned.result.models[i];
      done.plan.outcome = plan.outcome;
      done.lossy_tensors = lost;
    }
    planned.result.plan.outcome = planned.result.models.front().plan.outcome;
    planned.result.lossy_tensors = planned.result.models.front().lossy_tensors;
    return lossy.dump();
  }
};

PyConversion plan_conversion_py(const std::vector<InfoTuple>& tensors, const std::string& from,
                                const std::string& from_torch, const std::string& to, const std::string& spec,
                                const std::string& key, bool strict, const std::string& optimizer,
                                const std::string& what, const std::string& from_source, bool adapters) {
  return PyConversion{
      api::plan_state_dict(tensors, from, from_torch, to, spec, key, strict, optimizer, what, from_source, adapters)};
}

std::string convert_path(const std::string& in, const std::string& out, const std::string& from, const std::string& to,
                         const std::string& spec, const std::string& key, bool strict, const std::string& optimizer,
                         bool dry_run, bool adapters) {
  ConvertRequest req;
  req.in = in;
  req.out = out;
  req.to = api::release_arg(to, "to");
  if (!from.empty()) req.from = api::release_arg(from, "from_");
  req.spec = json_arg(spec);
  req.key = key;
  req.strict = strict;
  req.adapters = adapters;
  req.dry_run = dry_run;
  req.optimizer = optimizer == "keep" ? OptimizerState::Keep : optimizer == "drop" ? OptimizerState::Drop : OptimizerState::Refuse;
  ConvertResult result;
  {
    py::gil_scoped_release unlocked;
    result = convert_file(release_history(), req);
  }
  json j = result.to_json();
  json lines = json::array();
  for (auto& m : result.models)
    for (auto& line : constructor_lines(m.plan.args, result.spec)) lines.push_back(line);
  j["constructor"] = lines;
  return j.dump();
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "xcompat's C++ core: checkpoint readers, the release history, fingerprint and conversion";
  // Translators are tried newest first: the subclasses after their base.
  auto& base = py::register_exception<Error>(m, "XcompatError");
  py::register_exception<CheckpointError>(m, "CheckpointError", base.ptr());
  py::register_exception<UnknownRelease>(m, "UnknownRelease", base.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const json::exception& e) {
      PyErr_SetString(PyExc_ValueError, (std::string("bad JSON: ") + e.what()).c_str());
    }
  });

  m.def("version", [] { return std::string(XCOMPAT_VERSION); });
  m.def("set_data_root", [](const std::string& root) { set_data_root(root); },
        "Where matrix/history.toml and the other data files are (the installed package's data/).");
  m.def("state_dir", [] { return state_dir().string(); });
  m.def("project_root", [] { return project_root().string(); });
  m.def("history_range", [] {
    const ReleaseHistory& h = release_history();
    return std::make_pair(h.oldest.str(), h.newest.str());
  });
  m.def("check_release", [](const std::string& v, const std::string& role) {
    check_release(release_history(), api::release_arg(v, role), role);
  });

  py::class_<PyCheckpoint>(m, "Checkpoint", "A checkpoint file read by the restricted readers (no pickle code runs).")
      .def(py::init<const std::string&>())
      .def("tensors", &PyCheckpoint::tensors, "[(name, dtype, shape)] in name order")
      .def("record", &PyCheckpoint::record, "the xcompat stamp as JSON text ({} when none)")
      .def("format", [](const PyCheckpoint& c) { return std::string(c.reader->format()); })
      .def("read", &PyCheckpoint::read, "one tensor: (dtype, shape, uint8 array of its bytes)");

  m.def("provenance", [](const std::string& path) -> std::string {
    auto p = provenance_of(path);
    if (!p) return "null";
    json j = {{"release", p->release.str()}, {"source", p->source}, {"spec", p->spec}};
    if (p->torch) j["torch"] = fmt::format("{}.{}", p->torch->first, p->torch->second);
    return j.dump();
  }, "Who saved a checkpoint: its stamp, else a fixture's meta.json beside it (null when neither says).");
  m.def("fingerprint_tensors",
        [](const std::vector<InfoTuple>& tensors, const std::string& record, const std::string& what,
           const std::string& key) { return api::fingerprint_state_dict(tensors, record, what, key).dump(); });

  m.def("release_sandboxes", [] { return release_sandboxes().string(); });
  m.def("extras_for", [](const std::string& version) {
    return load_pins(default_pins_path()).extras_for(version);
  }, "The packages a release imports besides torch (its pin's, else its era's: matrix/pins.toml).");
  // One output judged against a reference exactly as a matrix cell is
  // (harness/core/compare.hpp), with the pins' tolerance for the spec.
  m.def("judge", [](const py::object& out, const std::string& reference, const std::string& spec_name,
                    const std::string& consumer) {
    TensorData got = tensor_from_python("output", out);
    TensorData want = open_checkpoint(reference)->read("logits");
    const Tolerance tol = load_pins(default_pins_path()).tolerance_for(spec_name, consumer, 
                                                                     want.dtype == DType::BF16  ? "bfloat16"
                                                                     : want.dtype == DType::F16 ? "float16"
                                                                                                : "float32");
    const Comparison c = compare_and_judge(got, want, tol);
    json j = {{"verdict", verdict_name(c.verdict)}, {"reason", c.reason}, {"tolerance", tol.to_json()}};
    if (c.metrics) j["metrics"] = c.metrics->to_json();
    return j.dump();
  });

  py::class_<PyConversion>(m, "Conversion")
      .def("report", &PyConversion::report)
      .def("outputs", &PyConversion::outputs)
      .def("run", &PyConversion::run);
  m.def("plan_state_dict", &plan_conversion_py);
  m.def("convert_file", &convert_path);
  m.def("write_adapter", [](const std::string& path, const std::string& adapters, const std::string& from,
                            const std::string& to, const std::string& command) {
    write_adapter_file(path, json_arg(adapters), from, to, command);
  });
}
