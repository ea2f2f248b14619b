#pragma once
// The release worker executable (xcompat-python-worker): embedded CPython,
// one x-transformers release per process. Two ways to run:
//
//   --release V [--venv DIR]   import torch and release V, then serve
//                              requests on stdin/stdout (spawn mode)
//   --zygote [--venv DIR]      import torch and the shared packages once,
//                              then fork one release worker per request on
//                              fd 3 (harness/worker/zygote.hpp is the other side)
//
// Both end in the same worker: sandbox V first on sys.path, x_transformers
// proven to come from it, the JSON-line protocol of harness/worker/.
#include <filesystem>
#include <string>

namespace xcompat {

int run_python_worker(const std::string& release, const std::filesystem::path& venv);
int run_python_zygote(const std::filesystem::path& venv);

}  // namespace xcompat
