// Runs one file's sync() on a thread of its own while the caller does other
// work: the durable flush overlaps the journal's fdatasync with its writes to
// the data files.
//
// Threading: start() and wait() are called by one thread (the flushing one),
// alternately: start, wait, start, wait, ...
#pragma once

#include "require.hpp"
#include "store/test_hooks.hpp"
#include <evstore/file_system.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace evstore::detail {

class background_sync {
 public:
  background_sync() : thread_([this] { run(); }) {}
  ~background_sync() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  background_sync(const background_sync&) = delete;
  background_sync& operator=(const background_sync&) = delete;

  // REQUIRES: no sync pending. `f` must stay alive until wait() returns.
  void start(file& f) {
    EVSTORE_REQUIRE(!awaited_);
    awaited_ = true;
    if (serial_io()) {  // test hook: the same order of file operations on every run
      const auto ec = f.sync();
      std::lock_guard lock(mutex_);
      result_ = ec;
      done_ = true;
      return;
    }
    {
      std::lock_guard lock(mutex_);
      target_ = &f;
      done_ = false;
    }
    cv_.notify_all();
  }

  [[nodiscard]] boost::system::error_code wait() {
    awaited_ = false;
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return done_; });
    return result_;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || target_ != nullptr; });
      if (stop_) return;
      file* f = target_;
      target_ = nullptr;
      lock.unlock();
      const auto ec = f->sync();
      lock.lock();
      result_ = ec;
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  file* target_ = nullptr;
  bool done_ = true;
  bool stop_ = false;
  boost::system::error_code result_;
  bool awaited_ = false;  // start() called, wait() not yet (the calling thread's only)
  std::thread thread_;    // last: started once the members above exist
};

}  // namespace evstore::detail
