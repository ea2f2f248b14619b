#pragma once
// Catch2 v3 where available, v2 otherwise (Debian 12 ships v2). Tests use
// the v2 spellings `Approx` and `Catch::Contains`; v3 gets them here.
#ifdef XCOMPAT_CATCH3
#include <catch2/catch_all.hpp>
#include <string>
using Catch::Approx;
namespace Catch {
inline auto Contains(const std::string& s) { return Matchers::ContainsSubstring(s); }
}  // namespace Catch
#else
#include <catch2/catch.hpp>
#endif
