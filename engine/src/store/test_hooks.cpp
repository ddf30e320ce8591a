#include "store/test_hooks.hpp"

#if defined(EVSTORE_TEST_HOOKS)
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace evstore::detail {
namespace {

struct kill_spec {
  std::string name;
  long target = 0;
};

kill_spec parse() {
  kill_spec k;
  const char* v = std::getenv("EVSTORE_KILL_AT");
  if (v == nullptr) return k;
  const char* colon = std::strrchr(v, ':');
  if (colon == nullptr) return k;
  k.name.assign(v, colon);
  k.target = std::strtol(colon + 1, nullptr, 10);
  return k;
}

struct test_points {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const std::function<void()>>, std::less<>> callbacks;
};

test_points& points() {
  static test_points p;
  return p;
}

// Any callback installed: the common case (none) skips the lock.
std::atomic<bool> any_test_point{false};

// scoped_link_sync_interval's value in milliseconds: -1 none set, -2 no interval.
constexpr std::int64_t interval_unset = -1;
constexpr std::int64_t interval_none = -2;
std::atomic<std::int64_t> link_sync_override{interval_unset};

}  // namespace

void kill_point(const char* name) noexcept {
  static const kill_spec spec = parse();
  static std::atomic<long> hits{0};
  if (spec.target <= 0 || spec.name != name) return;
  if (hits.fetch_add(1) + 1 == spec.target) std::raise(SIGKILL);
}

bool serial_io() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("EVSTORE_SERIAL_IO");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

std::optional<std::chrono::milliseconds> link_sync_interval(std::chrono::milliseconds normal) noexcept {
  const std::int64_t v = link_sync_override.load(std::memory_order_acquire);
  if (v == interval_none || (v == interval_unset && serial_io())) return std::nullopt;
  return v == interval_unset ? normal : std::chrono::milliseconds(v);
}

scoped_link_sync_interval::scoped_link_sync_interval(std::optional<std::chrono::milliseconds> interval) {
  link_sync_override.store(interval ? interval->count() : interval_none, std::memory_order_release);
}

scoped_link_sync_interval::~scoped_link_sync_interval() {
  link_sync_override.store(interval_unset, std::memory_order_release);
}

void test_point(const char* name) {
  if (!any_test_point.load(std::memory_order_acquire)) return;
  std::shared_ptr<const std::function<void()>> callback;
  {
    test_points& p = points();
    std::lock_guard lock(p.mutex);
    auto it = p.callbacks.find(std::string_view(name));
    if (it == p.callbacks.end()) return;
    callback = it->second;
  }
  (*callback)();  // outside the lock: it may block, or reach another point
}

void set_test_point(const std::string& name, std::function<void()> callback) {
  test_points& p = points();
  std::lock_guard lock(p.mutex);
  if (callback) {
    p.callbacks[name] = std::make_shared<const std::function<void()>>(std::move(callback));
  } else {
    p.callbacks.erase(name);
  }
  any_test_point.store(!p.callbacks.empty(), std::memory_order_release);
}

}  // namespace evstore::detail
#endif
