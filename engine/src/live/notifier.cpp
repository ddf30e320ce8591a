#include "live/notifier.hpp"

#include "store/test_hooks.hpp"

#include <algorithm>

namespace evstore::detail {

std::uint64_t notifier::wait(const std::string& stream, const std::function<bool()>& ready, callback wake) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      // Counted before the check (notifier.hpp): a publisher that missed the
      // count published before it, and the check sees its count.
      waiting_.fetch_add(1, std::memory_order_acq_rel);
      if (!ready()) {
        EVSTORE_TEST_POINT("notifier.wait.not_ready");
        const std::uint64_t id = next_id_++;
        waiters_[stream].push_back({id, std::move(wake)});
        return id;
      }
      waiting_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  wake();
  return 0;
}

bool notifier::cancel(const std::string& stream, std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = waiters_.find(stream);
  if (it == waiters_.end()) return false;
  auto& list = it->second;
  auto w = std::find_if(list.begin(), list.end(), [&](const waiter& x) { return x.id == id; });
  if (w == list.end()) return false;
  list.erase(w);
  if (list.empty()) waiters_.erase(it);
  waiting_.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

void notifier::notify(std::string_view stream) {
  std::vector<waiter> woken;
  {
    std::lock_guard lock(mutex_);
    auto it = waiters_.find(stream);
    if (it == waiters_.end()) return;
    woken = std::move(it->second);
    waiters_.erase(it);
    waiting_.fetch_sub(woken.size(), std::memory_order_acq_rel);
  }
  // Taken off the list, not yet woken: a cancel() now finds no waiter.
  EVSTORE_TEST_POINT("notifier.notify.taken");
  for (waiter& w : woken) w.wake();
}

void notifier::close() {
  std::vector<waiter> woken;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [stream, list] : waiters_) {
      for (waiter& w : list) woken.push_back(std::move(w));
    }
    waiting_.fetch_sub(woken.size(), std::memory_order_acq_rel);  // an RMW: see waiting_
    waiters_.clear();
  }
  for (waiter& w : woken) w.wake();
}

}  // namespace evstore::detail
