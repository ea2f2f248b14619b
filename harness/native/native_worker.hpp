#pragma once

namespace xcompat {

// `xcompat worker --consumer cpp-native`: serves "info" and "evaluate"
// requests with the libtorch port (see harness/native/README.md).
int run_native_worker();

}  // namespace xcompat
