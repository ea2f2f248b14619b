#pragma once
// Named points where the reliability tests kill the process
// (tests/release/test_kill_points.cpp, docs/RELIABILITY.md). With
// XCOMPAT_TEST_HOOKS=1 and XCOMPAT_TEST_KILL_AT=<point>[:<n>], the n-th pass
// (1st by default) through <point> SIGKILLs this process: no destructor, no
// flush, as a power cut or the OOM killer would. Without the variables a
// point costs one branch on a cached flag.
#include <string>
#include <vector>

namespace xcompat {

void fault_point(const char* name);

// Every point, in the order a sweep meets them (then merge and report).
const std::vector<std::string>& fault_point_names();

}  // namespace xcompat
