// Wakes subscriptions waiting for new events in a stream.
//
// A waiter registers with a readiness check, which runs under the lock. A
// publisher (the writer after a flush, a follower's refresh) first publishes
// its new counts, then calls notify(), which takes the same lock. So a waiter
// either sees the new count when it registers or is woken by the notify that
// follows: no lost wake-up. Callbacks run outside the lock and must only post.
//
// Threading: every member may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace evstore::detail {

class notifier {
 public:
  using callback = std::function<void()>;

  // Runs `wake` once, as soon as `ready()` holds: at once (returning 0) if it
  // holds now, else after a later notify(stream). Returns the waiter's id.
  std::uint64_t wait(const std::string& stream, const std::function<bool()>& ready, callback wake);
  // Forgets a waiter; false if it was already woken (or never waited).
  bool cancel(const std::string& stream, std::uint64_t id);
  // Wakes every waiter of `stream`.
  void notify(std::string_view stream);
  // Wakes every waiter, and from now on wait() wakes at once: the store closed.
  void close();
  bool has_waiters() const noexcept { return waiting_.load(std::memory_order_acquire) > 0; }

 private:
  struct waiter {
    std::uint64_t id;
    callback wake;
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<waiter>, string_hash, std::equal_to<>> waiters_;
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
  std::atomic<std::size_t> waiting_{0};
};

}  // namespace evstore::detail
