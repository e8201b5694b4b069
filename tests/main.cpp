// The test runner: doctest's main, alone in its translation unit so that the test files rebuild
// without it. Every TEST_CASE is also a ctest test (tests/CMakeLists.txt, doctest_discover_tests).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
