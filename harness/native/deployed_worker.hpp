#pragma once

namespace xcompat {

// `xcompat-native-worker --consumer cpp-torchscript | cpp-export`: runs the
// deployment artifact a release exported of its fixture model
// (fixtures/artifact_phase.hpp) with libtorch, torch::jit::load or
// AOTIModelPackageLoader, and judges its output against the release's eager
// outputs. Serves "info" and "evaluate" (docs/DEPLOYMENT.md).
int run_deploy_worker(const char* consumer);

}  // namespace xcompat
