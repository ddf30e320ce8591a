// A reader/writer lock that lets a waiting writer in before new readers: the
// stream index's one writer thread (adds after each flush, the short swaps of
// freeze and compaction) must not wait behind a steady stream of overlapping
// lookups, which glibc's default rwlock (and so std::shared_mutex) allows.
// Meets the SharedMutex requirements (std::unique_lock, std::shared_lock).
// Not recursive: a thread holding it shared must not take it again while a
// writer may be waiting (the writer-preferring kind would deadlock).
#pragma once

#include <pthread.h>

namespace evstore::detail {

class writer_preferring_mutex {
 public:
  writer_preferring_mutex() noexcept {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~writer_preferring_mutex() { pthread_rwlock_destroy(&lock_); }
  writer_preferring_mutex(const writer_preferring_mutex&) = delete;
  writer_preferring_mutex& operator=(const writer_preferring_mutex&) = delete;

  void lock() noexcept { pthread_rwlock_wrlock(&lock_); }
  bool try_lock() noexcept { return pthread_rwlock_trywrlock(&lock_) == 0; }
  void unlock() noexcept { pthread_rwlock_unlock(&lock_); }
  void lock_shared() noexcept { pthread_rwlock_rdlock(&lock_); }
  bool try_lock_shared() noexcept { return pthread_rwlock_tryrdlock(&lock_) == 0; }
  void unlock_shared() noexcept { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace evstore::detail
