#pragma once
// Catch2 v3 where available, v2 otherwise (Debian 12 ships v2).
#ifdef XCOMPAT_CATCH3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
