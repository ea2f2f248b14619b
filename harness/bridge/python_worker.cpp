// The only translation unit that includes pybind11: everything Python goes
// through here. Requests (see docs/ARCHITECTURE.md):
//   info                                   versions and paths
//   make_fixture {spec, out_dir}           -> {status: ok, meta} | {status: unsupported, reason}
//   evaluate {spec, fixture_dir, checkpoint, tolerance} -> a cell reply (verdict, metrics, ...)
//   debug {action: raise|signal|hang|exit} only with XCOMPAT_TEST_HOOKS=1
#include "harness/bridge/python_worker.hpp"

#include <pybind11/embed.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <cstring>
#include <memory>
#include <unistd.h>

#include "harness/core/cell_eval.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/worker_loop.hpp"

namespace py = pybind11;

namespace xcompat {

namespace {

py::object to_python(const json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

json from_python(const py::handle& obj) {
  return json::parse(py::module_::import("json").attr("dumps")(obj).cast<std::string>());
}

// The interpreter's stdlib comes from the base Python the venv was made from;
// site-packages from the venv; x_transformers from the sandbox only.
void start_interpreter() {
  const fs::path base_python = fs::canonical(XCOMPAT_VENV_PYTHON);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 0;
  config.user_site_directory = 0;
  PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, base_python.c_str());
  if (PyStatus_Exception(st)) {
    PyConfig_Clear(&config);
    throw Error("cannot configure the embedded Python");
  }
  py::initialize_interpreter(&config, 0, nullptr, false);
}

struct PythonRelease {
  std::string release;
  py::object driver;
  py::object unsupported;  // driver.Unsupported

  json hello() {
    const fs::path sandbox = release_sandbox(release);
    if (!fs::exists(sandbox / "x_transformers"))
      throw Error("release " + release + " is not installed (no " + (sandbox / "x_transformers").string() +
                  "); run scripts/setup");
    start_interpreter();
    py::module_ sys = py::module_::import("sys");
    py::module_::import("site").attr("addsitedir")(venv_site_packages().string());
    py::list path = sys.attr("path");
    path.insert(0, python_driver_dir().string());
    path.insert(0, sandbox.string());
    driver = py::module_::import("xcompat_driver");
    unsupported = driver.attr("Unsupported");
    json info = from_python(driver.attr("info")());
    const fs::path got = info.value("x_transformers_path", "");
    if (fs::weakly_canonical(got.parent_path()) != fs::weakly_canonical(sandbox))
      throw Error("x_transformers was imported from " + got.string() + ", not from the sandbox " + sandbox.string());
    if (info.value("x_transformers", "") != release)
      throw Error("sandbox " + sandbox.string() + " holds x-transformers " + info.value("x_transformers", "?") +
                  ", not " + release);
    info["release"] = release;
    info["consumer"] = release;
    return info;
  }

  json handle(const json& req) {
    const std::string op = req.value("op", "");
    try {
      if (op == "info") return {{"info", from_python(driver.attr("info")())}};
      if (op == "make_fixture") return make_fixture(req);
      if (op == "evaluate") return evaluate(req);
      if (op == "debug") {
        driver.attr("debug")(req.value("action", ""));
        return json::object();
      }
    } catch (py::error_already_set& e) {
      if (e.matches(unsupported)) {
        std::string reason = py::str(e.value()).cast<std::string>();
        return op == "make_fixture" ? json{{"status", "unsupported"}, {"reason", reason}} : unsupported_reply(reason);
      }
      throw Error(e.what());
    }
    throw Error("unknown op '" + op + "'");
  }

  json make_fixture(const json& req) {
    py::object meta = driver.attr("make_fixture")(to_python(req.at("spec")), req.at("out_dir").get<std::string>(),
                                                  XCOMPAT_VERSION);
    return {{"status", "ok"}, {"meta", from_python(meta)}};
  }

  json evaluate(const json& req) {
    const fs::path fixture_dir = req.at("fixture_dir").get<std::string>();
    py::dict r = driver.attr("evaluate")(to_python(req.at("spec")), fixture_dir.string(),
                                         req.value("checkpoint", "model.pt"), req.value("repeats", 3));
    const LoadReport report = LoadReport::from_json(from_python(r["load_report"]));
    if (r["status"].cast<std::string>() == "load_fail") return load_fail_reply(report, r["error"].cast<std::string>());
    TensorData logits;
    logits.dtype = DType::F32;
    logits.shape = r["shape"].cast<std::vector<int64_t>>();
    const std::string raw = r["logits"].cast<std::string>();
    logits.bytes.resize(raw.size());
    std::memcpy(logits.bytes.data(), raw.data(), raw.size());
    return judge_cell_output(logits, r["latency_ms"].cast<double>(), report, fixture_dir, req);
  }
};

}  // namespace

int run_python_worker(const std::string& release) {
  PythonRelease worker{release, {}, {}};
  WorkerHandlers handlers{[&] { return worker.hello(); }, [&](const json& req) { return worker.handle(req); }};
  int rc = serve_worker(handlers);
  // Leave the interpreter alive: finalising after torch was imported can hang
  // or crash in atexit handlers, and the process ends right here anyway.
  std::fflush(nullptr);
  _exit(rc);
}

}  // namespace xcompat
