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
#pragma once

#if defined(EVSTORE_TEST_HOOKS)
#include <functional>
#include <string>
#include <utility>

namespace evstore::detail {
void kill_point(const char* name) noexcept;
void test_point(const char* name);
// Installs `callback` for the point `name` (an empty one removes it).
void set_test_point(const std::string& name, std::function<void()> callback);

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
}  // namespace evstore::detail
#define EVSTORE_KILL_POINT(name) ::evstore::detail::kill_point(name)
#define EVSTORE_TEST_POINT(name) ::evstore::detail::test_point(name)
#else
#define EVSTORE_KILL_POINT(name) ((void)0)
#define EVSTORE_TEST_POINT(name) ((void)0)
#endif
