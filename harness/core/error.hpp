#pragma once
// One error type carried up unchanged to the process boundary (main or the
// worker loop), where it is printed once with its context.
#include <stdexcept>
#include <string>

namespace xcompat {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace xcompat
