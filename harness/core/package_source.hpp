#pragma once
// Where x-transformers releases come from: PyPI by default, or the package
// source in $XCOMPAT_PACKAGE_SOURCE (`--package-source` on the commands that
// install): a directory of wheels (pip --no-index --find-links), or an index
// URL (pip --index-url). Every install (sandbox.cpp) and every listing of
// published releases (`xcompat track`) goes through here.
#include <string>
#include <vector>

#include "harness/core/version.hpp"

namespace xcompat {

// "" for PyPI.
std::string package_source();
// "PyPI" or the source as given.
std::string package_source_label();
// pip's arguments for the source (none for PyPI).
std::vector<std::string> pip_source_args();

// Every x-transformers release the source publishes, ascending. Bounded in
// time (pip's own timeouts, and a hard limit): a source that cannot be
// reached is an Error that says so, never a hang.
std::vector<Version> list_published_releases();

}  // namespace xcompat
