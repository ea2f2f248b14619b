#include "harness/core/fault_points.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace xcompat {

namespace {

struct KillAt {
  std::string point;
  long nth = 1;
  std::atomic<long> passed{0};
};

KillAt* armed() {
  static KillAt* k = [] () -> KillAt* {
    const char* hooks = std::getenv("XCOMPAT_TEST_HOOKS");
    const char* at = std::getenv("XCOMPAT_TEST_KILL_AT");
    if (!hooks || std::strcmp(hooks, "1") != 0 || !at || !*at) return nullptr;
    auto* k = new KillAt;
    std::string spec = at;
    if (auto colon = spec.find(':'); colon != std::string::npos) {
      k->nth = std::max(1L, std::atol(spec.c_str() + colon + 1));
      spec.resize(colon);
    }
    k->point = spec;
    return k;
  }();
  return k;
}

}  // namespace

void fault_point(const char* name) {
  KillAt* k = armed();
  if (!k || k->point != name) return;
  if (++k->passed >= k->nth) ::kill(getpid(), SIGKILL);
}

const std::vector<std::string>& fault_point_names() {
  static const std::vector<std::string> names = {
      "sweep.after-begin-run",  "fixture.before-request", "fixture.after-reply",    "fixture.after-publish",
      "sweep.after-fixtures",   "cell.before-evaluate",   "cell.after-evaluate",    "cell.before-conversion",
      "conversion.mid-write",   "checkpoint.before-rename", "conversion.before-record", "record.before-batch",
      "store.mid-transaction",  "store.after-commit",     "record.after-batch",     "sweep.before-finish",
      "sweep.after-finish",     "merge.mid-transaction",  "report.mid-pages",       "report.before-publish",
      "report.after-publish",   "gc.mid-transaction"};
  return names;
}

}  // namespace xcompat
