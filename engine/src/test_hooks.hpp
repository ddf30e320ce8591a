// Test-only kill points: EVSTORE_KILL_POINT("name") kills the process with
// SIGKILL when the environment variable EVSTORE_KILL_AT is "name:N" and this is
// the N-th time the point is reached. Compiled only with EVSTORE_TEST_HOOKS
// (every build type but Release), so release builds carry no trace of it.
#pragma once

#if defined(EVSTORE_TEST_HOOKS)
namespace evstore::detail {
void kill_point(const char* name) noexcept;
}
#define EVSTORE_KILL_POINT(name) ::evstore::detail::kill_point(name)
#else
#define EVSTORE_KILL_POINT(name) ((void)0)
#endif
