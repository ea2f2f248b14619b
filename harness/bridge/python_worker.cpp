// Everything Python goes through this folder (the only files that include
// pybind11). Requests (docs/ARCHITECTURE.md, "Worker protocol"):
//   info                                   versions and paths
//   make_fixture {spec, out_dir}           -> {status: ok, meta} | {status: unsupported, reason}
//   evaluate {spec, fixture_dir, checkpoint, tolerance} -> a cell reply (verdict, metrics, ...)
//   decode_parity {spec, fixture_dir, tolerance, steps} -> a cell reply (cached against uncached)
//   export_artifact {spec, fixture_dir, kind, out_dir, cache_dir} -> {record} (xcompat_deploy.py)
//   debug {action: raise|signal|hang|exit} only with XCOMPAT_TEST_HOOKS=1
#include "harness/bridge/python_worker.hpp"

#include <fcntl.h>
#include <pybind11/embed.h>
#include <pybind11/stl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/compare.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/fd_channel.hpp"
#include "harness/worker/worker_loop.hpp"

namespace py = pybind11;

namespace xcompat {

namespace {

using Clock = std::chrono::steady_clock;

py::object to_python(const json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

json from_python(const py::handle& obj) {
  return json::parse(py::module_::import("json").attr("dumps")(obj).cast<std::string>());
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The interpreter's stdlib comes from the base Python the venv was made
// from; site-packages from the venv; x_transformers from the sandbox only.
// Returns the driver module (imported, x_transformers not yet).
py::object start_interpreter(const fs::path& venv) {
  // numpy's OpenBLAS starts a thread pool when it loads; the workers never
  // use it, and a zygote must stay single-threaded to fork safely.
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  const fs::path python = venv / "bin" / "python";
  if (!fs::exists(python)) throw Error("no Python in the venv " + venv.string() + "; run scripts/setup");
  const fs::path base_python = fs::canonical(python);
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
  py::module_::import("site").attr("addsitedir")(venv_site_packages(venv).string());
  py::list path = py::module_::import("sys").attr("path");
  path.insert(0, python_driver_dir().string());
  return py::module_::import("xcompat_driver");
}

// One release, bound to this interpreter: the worker's request handlers.
struct PythonRelease {
  std::string release;
  py::object driver;
  py::object unsupported;  // driver.Unsupported: a verdict (UNSUPPORTED)
  py::object broken;       // driver.Broken: the release fails on the spec

  // Puts the sandbox first on sys.path, imports x_transformers, and proves
  // it came from the sandbox with the pinned version. The hello's fields.
  json bind() {
    const auto t0 = Clock::now();
    const fs::path sandbox = release_sandbox(release);
    if (!fs::exists(sandbox / "x_transformers"))
      throw Error("release " + release + " is not installed (no " + (sandbox / "x_transformers").string() +
                  "); run scripts/setup");
    py::list path = py::module_::import("sys").attr("path");
    path.insert(0, sandbox.string());
    json info = from_python(driver.attr("bind_release")(sandbox.string()));
    unsupported = driver.attr("Unsupported");
    broken = driver.attr("Broken");
    const fs::path got = info.value("x_transformers_path", "");
    if (fs::weakly_canonical(got.parent_path()) != fs::weakly_canonical(sandbox))
      throw Error("x_transformers was imported from " + got.string() + ", not from the sandbox " + sandbox.string());
    if (info.value("x_transformers", "") != release)
      throw Error("sandbox " + sandbox.string() + " holds x-transformers " + info.value("x_transformers", "?") +
                  ", not " + release);
    info["release"] = release;
    info["consumer"] = release;
    info["pid"] = static_cast<int64_t>(getpid());
    info["bind_ms"] = ms_since(t0);
    return info;
  }

  json handle(const json& req) {
    const std::string op = req.value("op", "");
    try {
      if (op == "info") return {{"info", from_python(driver.attr("info")())}};
      if (op == "make_fixture") return make_fixture(req);
      if (op == "make_reference") return make_reference(req);
      if (op == "evaluate") return evaluate(req);
      if (op == "decode_parity") return decode_parity(req);
      if (op == "export_artifact") return export_artifact(req);
      if (op == "debug") {
        driver.attr("debug")(req.value("action", ""));
        return json::object();
      }
    } catch (py::error_already_set& e) {
      const std::string reason = py::str(e.value()).cast<std::string>();
      if (e.matches(unsupported))
        return op == "make_fixture" || op == "make_reference" ? json{{"status", "unsupported"}, {"reason", reason}}
                                    : CellReply::unsupported(reason).to_json();
      // A release failing on its own spec is recorded with the fixture; in
      // a consumer it is that cell's ERROR (an exception reply).
      if (e.matches(broken) && (op == "make_fixture" || op == "make_reference"))
        return {{"status", "broken"}, {"reason", reason}};
      throw Error(e.matches(broken) ? reason : e.what());
    }
    throw Error("unknown op '" + op + "'");
  }

  json make_fixture(const json& req) {
    const auto t0 = Clock::now();
    py::object meta = driver.attr("make_fixture")(to_python(req.at("spec")), req.at("out_dir").get<std::string>(),
                                                  XCOMPAT_VERSION);
    return {{"status", "ok"}, {"meta", from_python(meta)}, {"timing", {{"fixture_ms", ms_since(t0)}}}};
  }

  // A fixture made of a user's checkpoint (`xcompat check`): this release's
  // outputs for it, or the strict load's failure.
  json make_reference(const json& req) {
    const auto t0 = Clock::now();
    json r = from_python(driver.attr("make_reference")(to_python(req.at("spec")), req.at("checkpoint").get<std::string>(),
                                                      req.at("out_dir").get<std::string>(), XCOMPAT_VERSION));
    r["timing"] = {{"fixture_ms", ms_since(t0)}};
    return r;
  }

  json evaluate(const json& req) {
    const fs::path fixture_dir = req.at("fixture_dir").get<std::string>();
    // `checkpoint`: a file of the fixture, or an absolute path (a converted
    // checkpoint); `args`: constructor arguments a conversion names;
    // `adapters`: the adapters of B's model an adapted conversion needs;
    // `rounding_weights`: the conversion unrounded, for measure_rounding's
    // wide reference (a float32 safetensors file).
    py::dict r = driver.attr("evaluate")(to_python(req.at("spec")), fixture_dir.string(),
                                         req.value("checkpoint", "model.pt"), req.value("repeats", 3),
                                         to_python(req.value("args", json::object())),
                                         to_python(req.value("adapters", json::array())),
                                         req.value("measure_rounding", false),
                                         req.value("rounding_weights", std::string()));
    const LoadReport report = LoadReport::from_json(from_python(r["load_report"]));
    json timing = from_python(r["timing"]);
    if (r["status"].cast<std::string>() == "load_fail") {
      CellReply reply = CellReply::load_fail(report, r["error"].cast<std::string>());
      reply.timing = timing;
      return reply.to_json();
    }
    TensorData logits;
    logits.dtype = dtype_from_name(r["dtype"].cast<std::string>());
    logits.shape = r["shape"].cast<std::vector<int64_t>>();
    const std::string raw = r["logits"].cast<std::string>();
    logits.bytes.resize(raw.size());
    std::memcpy(logits.bytes.data(), raw.data(), raw.size());
    const auto t0 = Clock::now();
    CellReply reply = judge_cell_output(logits, r["latency_ms"].cast<double>(), report, fixture_dir, req);
    timing["compare_ms"] = ms_since(t0);
    reply.timing = timing;
    json out = reply.to_json();
    if (r.contains("rounding")) out["rounding"] = from_python(r["rounding"]);  // measure_rounding
    return out;
  }

  // A deployment artifact of a fixture's model (xcompat_deploy.py): the
  // export record, also written to <out_dir>/export.json. An export that
  // fails is a record, not an error: it is the cell's finding.
  json export_artifact(const json& req) {
    const auto t0 = Clock::now();
    json record = from_python(driver.attr("export_artifact")(
        to_python(req.at("spec")), req.at("fixture_dir").get<std::string>(), req.at("kind").get<std::string>(),
        req.at("out_dir").get<std::string>(), req.value("cache_dir", "")));
    return {{"record", record}, {"timing", {{"export_ms", ms_since(t0)}}}};
  }

  // Cached decoding against uncached forwards (driver.decode_parity), judged
  // like any cell: the uncached logits are the reference.
  json decode_parity(const json& req) {
    const auto t0 = Clock::now();
    py::dict r = driver.attr("decode_parity")(to_python(req.at("spec")), req.at("fixture_dir").get<std::string>(),
                                              req.value("steps", 8));
    auto tensor = [&](const char* field) {
      TensorData t;
      t.dtype = dtype_from_name(r["dtype"].cast<std::string>());
      t.shape = r["shape"].cast<std::vector<int64_t>>();
      const std::string raw = r[field].cast<std::string>();
      t.bytes.resize(raw.size());
      std::memcpy(t.bytes.data(), raw.data(), raw.size());
      return t;
    };
    const Comparison c = compare_and_judge(tensor("cached"), tensor("uncached"),
                                           Tolerance::from_json(req.value("tolerance", json::object())));
    CellReply reply;
    reply.latency_ms = r["latency_ms"].cast<double>();
    reply.verdict = c.verdict;
    reply.metrics = c.metrics;
    reply.error = c.reason;
    reply.timing = {{"forward_ms", ms_since(t0)}};
    json out = reply.to_json();
    out["step_ms"] = from_python(r["step_ms"]);  // for scripts/bench: the cached calls, the prompt first
    return out;
  }
};

int serve_release(const std::string& release, py::object driver) {
  PythonRelease worker{release, std::move(driver), {}, {}};
  WorkerHandlers handlers{[&] { return worker.bind(); }, [&](const json& req) { return worker.handle(req); }};
  int rc = serve_worker(handlers);
  // Leave the interpreter alive: finalising after torch was imported can hang
  // or crash in atexit handlers, and the process ends right here anyway.
  std::fflush(nullptr);
  _exit(rc);
}

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// --- zygote ------------------------------------------------------------------

constexpr int kZygoteSocket = 3;  // the main side's end of the socketpair

void zygote_reply(const json& j) {
  if (!send_line_with_fds(kZygoteSocket, j.dump(-1, ' ', false, json::error_handler_t::replace))) _exit(0);
}

// In the worker, after the second fork: its pipes become fds 0-2, the main
// side's XCOMPAT_* environment replaces the zygote's, then it is a worker.
[[noreturn]] void become_worker(const std::string& release, const json& env, const std::vector<int>& fds,
                                py::object driver) {
  ::close(kZygoteSocket);
  for (int i = 0; i < 3; ++i) dup2(fds[i], i);
  for (int fd : fds)
    if (fd > 2) ::close(fd);
  driver.attr("apply_environment")(to_python(env));
  serve_release(release, std::move(driver));
  _exit(0);
}

// zygote -> intermediate -> worker. The intermediate reports the worker's
// pid and exits, so the worker is re-parented to the main side (a child
// subreaper). Returns the worker's pid, or -1.
pid_t fork_worker(const std::string& release, const json& env, const std::vector<int>& fds, py::object driver) {
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) return -1;
  py::module_::import("sys").attr("stdout").attr("flush")();
  py::module_::import("sys").attr("stderr").attr("flush")();
  PyOS_BeforeFork();
  const pid_t intermediate = fork();
  if (intermediate == 0) {
    PyOS_AfterFork_Child();
    PyOS_BeforeFork();
    const pid_t worker = fork();
    if (worker != 0) {
      (void)!write(pid_pipe[1], &worker, sizeof worker);
      _exit(0);
    }
    PyOS_AfterFork_Child();
    ::close(pid_pipe[0]);
    ::close(pid_pipe[1]);
    become_worker(release, env, fds, std::move(driver));
  }
  PyOS_AfterFork_Parent();
  ::close(pid_pipe[1]);
  pid_t worker = -1;
  if (intermediate > 0) {
    if (read(pid_pipe[0], &worker, sizeof worker) != sizeof worker) worker = -1;
    waitpid(intermediate, nullptr, 0);
  }
  ::close(pid_pipe[0]);
  return worker;
}

}  // namespace

int run_python_worker(const std::string& release, const fs::path& venv) {
  py::object driver;
  try {
    driver = start_interpreter(venv);
  } catch (const std::exception& e) {
    // Answer the hello the main side waits for, with the reason.
    WorkerHandlers failing{[&]() -> json { throw Error(e.what()); }, [](const json&) { return json::object(); }};
    std::fflush(nullptr);
    _exit(serve_worker(failing));
  }
  return serve_release(release, std::move(driver));
}

int run_python_zygote(const fs::path& venv) {
  const auto t0 = Clock::now();
  py::object driver;
  try {
    driver = start_interpreter(venv);
    json preloaded = from_python(driver.attr("preload")());
    zygote_reply({{"ready", true},
                  {"pid", static_cast<int64_t>(getpid())},
                  {"venv", venv.string()},
                  {"preloaded", preloaded},
                  {"threads", thread_count()},
                  {"start_ms", ms_since(t0)}});
  } catch (const std::exception& e) {
    zygote_reply({{"ready", false}, {"error", std::string("zygote: ") + e.what()}});
    std::fflush(nullptr);
    _exit(1);
  }

  std::string buffer, line;
  for (;;) {
    std::vector<int> fds;
    if (read_line_with_fds(kZygoteSocket, buffer, line, fds, -1) != ChannelRead::Line) break;  // main side gone
    auto close_all = [&] {
      for (int fd : fds) ::close(fd);
    };
    json req;
    try {
      req = json::parse(line);
    } catch (const std::exception&) {
      close_all();
      zygote_reply({{"error", "malformed request"}});
      continue;
    }
    if (req.value("op", "") != "fork" || fds.size() != 3 || !req.contains("release")) {
      close_all();
      zygote_reply({{"error", "a fork request carries a release and three descriptors"}});
      continue;
    }
    // fork() copies only the calling thread: any other thread's locks would
    // stay locked forever in the child. Refuse rather than risk a hang.
    if (const int threads = thread_count(); threads != 1) {
      close_all();
      zygote_reply({{"error", "the zygote has " + std::to_string(threads) +
                                  " threads; forking it is unsafe (set XCOMPAT_WORKER_START=spawn)"}});
      continue;
    }
    const pid_t pid = fork_worker(req.value("release", ""), req.value("env", json::object()), fds, driver);
    close_all();
    if (pid > 0) zygote_reply({{"pid", static_cast<int64_t>(pid)}});
    else zygote_reply({{"error", std::string("fork failed: ") + std::strerror(errno)}});
  }
  std::fflush(nullptr);
  _exit(0);
}

}  // namespace xcompat
