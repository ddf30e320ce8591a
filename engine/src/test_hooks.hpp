// Test-only kill points: EVSTORE_KILL_POINT("name") kills the process with
// SIGKILL when the environment variable EVSTORE_KILL_AT is "name:N" and this is
// the N-th time the point is reached. Compiled only with EVSTORE_TEST_HOOKS
// (every build type but Release), so release builds carry no trace of it.
#pragma once

//
// serial_io(): true when the environment variable EVSTORE_SERIAL_IO is "1".
// The writer's file operations then run one after another on one thread (the
// journal's fdatasync inline instead of beside the data writes, checkpoint
// syncs in turn instead of on parallel threads), so that the deterministic
// simulation (tests/sim) sees them in the same order on every run. Always
// false without EVSTORE_TEST_HOOKS.
#if defined(EVSTORE_TEST_HOOKS)
namespace evstore::detail {
void kill_point(const char* name) noexcept;
bool serial_io() noexcept;
}
#define EVSTORE_KILL_POINT(name) ::evstore::detail::kill_point(name)
#else
namespace evstore::detail {
constexpr bool serial_io() noexcept { return false; }
}
#define EVSTORE_KILL_POINT(name) ((void)0)
#endif
