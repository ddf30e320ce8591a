// EVSTORE_REQUIRE(condition): checks a `REQUIRES:` precondition written beside a
// function, where checking it is cheap. A broken one is a bug in the engine, never
// bad input (input errors are error codes), so it aborts at once with the condition,
// file and line rather than corrupt a store.
//
// On in Debug builds and in builds with test hooks (EVSTORE_TEST_HOOKS: the test
// suite, the simulation and the sanitizer builds run with it); compiled out of
// Release builds, where the condition is not evaluated.
#pragma once

#if !defined(NDEBUG) || defined(EVSTORE_TEST_HOOKS)
#include <cstdio>
#include <cstdlib>

#define EVSTORE_REQUIRE(condition)                                                       \
  do {                                                                                   \
    if (!(condition)) ::evstore::detail::require_failed(#condition, __FILE__, __LINE__); \
  } while (false)

namespace evstore::detail {
[[noreturn]] inline void require_failed(const char* condition, const char* file, int line) noexcept {
  std::fprintf(stderr, "evstore: REQUIRES failed: %s (%s:%d)\n", condition, file, line);
  std::abort();
}
}  // namespace evstore::detail
#else
#define EVSTORE_REQUIRE(condition) static_cast<void>(sizeof(!(condition)))
#endif
