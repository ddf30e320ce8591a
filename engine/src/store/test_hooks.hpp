// Test-only hooks, compiled only with EVSTORE_TEST_HOOKS (every build type but
// Release), so release builds carry no trace of them.
//
// Kill points: EVSTORE_KILL_POINT("name") kills the process with SIGKILL when
// the environment variable EVSTORE_KILL_AT is "name:N" and this is the N-th
// time the point is reached.
//
// Test points: EVSTORE_TEST_POINT("name") calls the callback a test installed
// for that name (scoped_test_point), on whatever thread reaches the point: a
// test holds one thread there to force an interleaving with another. Without a
// callback a point costs one atomic load.
//
// serial_io(): true when the environment variable EVSTORE_SERIAL_IO is "1".
// The writer's file operations then run one after another on one thread (the
// journal's fdatasync inline instead of beside the data writes, checkpoint
// syncs in turn instead of on parallel threads), so that the deterministic
// simulation (tests/sim) sees them in the same order on every run. Always
// false without EVSTORE_TEST_HOOKS.
//
// link_sync_interval(normal): the indexer's time between syncs of the link
// files in durable mode (links/indexer.hpp). `normal`, unless a test set
// another with scoped_link_sync_interval (nullopt: none, the links are then
// synced only every checkpoint_interval events and at close); none under
// serial_io(), so that what a simulated power loss keeps never depends on the
// clock. Always `normal` without EVSTORE_TEST_HOOKS.
#pragma once

#include <chrono>
#include <optional>

#if defined(EVSTORE_TEST_HOOKS)
#include <functional>
#include <string>
#include <utility>

namespace evstore::detail {
void kill_point(const char* name) noexcept;
bool serial_io() noexcept;
void test_point(const char* name);
// Installs `callback` for the point `name` (an empty one removes it).
void set_test_point(const std::string& name, std::function<void()> callback);
std::optional<std::chrono::milliseconds> link_sync_interval(std::chrono::milliseconds normal) noexcept;

// Installs a test point's callback for its lifetime.
class scoped_test_point {
 public:
  scoped_test_point(std::string name, std::function<void()> callback) : name_(std::move(name)) {
    set_test_point(name_, std::move(callback));
  }
  ~scoped_test_point() { set_test_point(name_, {}); }
  scoped_test_point(const scoped_test_point&) = delete;
  scoped_test_point& operator=(const scoped_test_point&) = delete;

 private:
  std::string name_;
};

// Replaces link_sync_interval() for its lifetime (nullopt: no time-based sync).
class scoped_link_sync_interval {
 public:
  explicit scoped_link_sync_interval(std::optional<std::chrono::milliseconds> interval);
  ~scoped_link_sync_interval();
  scoped_link_sync_interval(const scoped_link_sync_interval&) = delete;
  scoped_link_sync_interval& operator=(const scoped_link_sync_interval&) = delete;
};
}  // namespace evstore::detail
#define EVSTORE_KILL_POINT(name) ::evstore::detail::kill_point(name)
#define EVSTORE_TEST_POINT(name) ::evstore::detail::test_point(name)
#else
namespace evstore::detail {
constexpr bool serial_io() noexcept { return false; }
constexpr std::optional<std::chrono::milliseconds> link_sync_interval(
    std::chrono::milliseconds normal) noexcept {
  return normal;
}
}  // namespace evstore::detail
#define EVSTORE_KILL_POINT(name) ((void)0)
#define EVSTORE_TEST_POINT(name) ((void)0)
#endif
