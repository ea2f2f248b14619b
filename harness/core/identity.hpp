#pragma once
// What a verdict depends on besides the fixture it reads, as hashes: every
// one goes into the cache keys (harness/sweep/plan.cpp) and the fixture keys
// (fixtures/fixture_cache.cpp), so an edit re-evaluates exactly what it can
// change. Nothing here is a number bumped by hand.
#include <filesystem>
#include <string>

namespace xcompat {

// The C++ port's sources (harness/native/), hashed at build time, the release
// history it reads (matrix/history.toml) and the libtorch it was built
// against: the cpp-native consumer's identity. (Tests
// stand in another port with XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_PORT_IDENTITY.)
std::string port_identity();

// The sources that judge an output (the comparison, the tensor and verdict
// types, the evaluate reply, the checkpoint readers), hashed at build time:
// the "harness build" part of every cell's key.
std::string judge_identity();
// The C++ worker that runs deployment artifacts: the port's sources and
// libtorch, without the release history (it reads none).
std::string native_runner_identity();

// The converter's sources (harness/convert/, the sweep's converted path),
// hashed at build time: part of a converted cell's key, with the history
// entries its chain crosses (harness/sweep/converted_path.hpp).
std::string converter_identity();

// SHA-256 of harness/python/xcompat_driver.py as it is now (read once per
// process): what builds models, writes fixtures and evaluates in a release.
std::string driver_source_hash();

// SHA-256 of harness/python/xcompat_deploy.py: what exports a fixture's model
// for the deployment consumers (part of their identity and of the artifact's
// directory, so an edit re-exports without remaking fixtures).
std::string deploy_source_hash();

// SHA-256 of the venv's installed distributions (the sorted names of its
// site-packages *.dist-info directories, which carry the versions): torch
// and everything the releases share.
std::string venv_lock_hash(const std::filesystem::path& venv);

}  // namespace xcompat
