#pragma once
// The one exception type the checkpoint readers and writers throw. Callers can
// catch it to turn any unreadable, malformed or hostile file into a clean
// "this checkpoint is bad" verdict instead of a crash; code that does not
// catch it sees an xcompat::Error (a std::runtime_error) like any other.
#include <filesystem>
#include <string>

#include "harness/core/error.hpp"

namespace xcompat {

class CheckpointError : public Error {
 public:
  // what() reads "<file>: <problem>", so the message alone locates the fault.
  CheckpointError(const std::filesystem::path& file, const std::string& problem)
      : Error(file.string() + ": " + problem) {}
};

}  // namespace xcompat
