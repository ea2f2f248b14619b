#pragma once
#include <string>

namespace xcompat {

// `xcompat worker --release V`: embeds CPython, imports release V from its
// sandbox (first on sys.path) and the driver module, then serves requests
// until stdin closes. Returns the exit code.
int run_python_worker(const std::string& release);

}  // namespace xcompat
