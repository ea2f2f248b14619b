// Catch2 v2 only: the test runner's main(). v3 links Catch2WithMain instead.
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
