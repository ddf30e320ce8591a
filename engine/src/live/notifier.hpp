// Wakes subscriptions waiting for new events in a stream.
//
// No lost wake-up, though a publisher skips the lock while nobody waits: a
// waiter first counts itself in waiting_, then runs its readiness check; a
// publisher first publishes its new counts, then reads waiting_ (has_waiters)
// and, if anyone waits, takes the lock in notify(). Both touch waiting_ only
// with read-modify-writes, so the two meet in waiting_'s modification order:
// either the publisher's comes first, then the waiter's increment
// synchronises with it and its check sees the new count; or the waiter's
// comes first, then the publisher sees it counted and notifies, and notify()
// waits for the lock the waiter holds until it is in the list. (A plain load
// in has_waiters() would need seq_cst fences or seq_cst loads on every count,
// which ThreadSanitizer cannot check; RMWs are ordered by happens-before alone.)
// Callbacks run outside the lock and must only post.
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
  // Whether notify() has anyone to wake. Publishers call it after publishing
  // their counts. A read-modify-write on purpose (see above): not a load.
  bool has_waiters() noexcept { return waiting_.fetch_add(0, std::memory_order_acq_rel) > 0; }

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
  // Waiters counted (registered or registering); only ever changed by RMWs,
  // so that any of them continues a publisher's release sequence.
  std::atomic<std::size_t> waiting_{0};
};

}  // namespace evstore::detail
