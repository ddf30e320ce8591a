// A connection's deadline, set by its session before each read or write and
// checked by the server's periodic sweep (one timer for all connections,
// instead of arming and cancelling a timer around every operation).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace evstore::net {

class deadline {
 public:
  using clock = std::chrono::steady_clock;

  void expires_after(clock::duration d) {
    at_.store((clock::now() + d).time_since_epoch().count(), std::memory_order_relaxed);
  }
  void expires_never() { at_.store(never, std::memory_order_relaxed); }
  // True once, when `now` is past the deadline; the deadline is then cleared.
  bool take_expired(clock::time_point now) {
    auto at = at_.load(std::memory_order_relaxed);
    while (at != never && at <= now.time_since_epoch().count()) {
      if (at_.compare_exchange_weak(at, never, std::memory_order_relaxed)) return true;
    }
    return false;
  }

 private:
  static constexpr clock::rep never = std::numeric_limits<clock::rep>::max();
  std::atomic<clock::rep> at_{never};
};

// How often the sweep looks: an eighth of the shortest timeout, within
// [10 ms, 250 ms], so a deadline is enforced within about 12% of itself.
inline std::chrono::milliseconds sweep_interval(std::chrono::milliseconds shortest_timeout) {
  return std::clamp(shortest_timeout / 8, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
}

}  // namespace evstore::net
