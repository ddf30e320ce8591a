// A file system whose next read of one file (named by the end of its path)
// stops at a gate until released: a reader caught in the middle of its work,
// for tests of what may happen meanwhile.
#pragma once

#include "forwarding_file_system.hpp"
#include <evstore/file_system.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace evstore::test {

class paused_read_file_system final : public forwarding_file_system {
 public:
  explicit paused_read_file_system(std::shared_ptr<file_system> base)
      : forwarding_file_system(std::move(base)) {}

  // The next read of a file whose path ends with `suffix` waits for release().
  void pause_next_read(std::string suffix) {
    std::lock_guard lock(mutex_);
    suffix_ = std::move(suffix);
    armed_ = true;
    paused_ = released_ = false;
  }
  // Waits until that read is stopped at the gate.
  bool wait_until_paused() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return paused_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }

  boost::system::result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override {
    auto f = base_->open(path, mode);
    if (!f) return f;
    return std::unique_ptr<file>(std::make_unique<paused_file>(std::move(*f), *this, path));
  }

 private:
  void gate(const std::string& path) {
    std::unique_lock lock(mutex_);
    if (!armed_ || !path.ends_with(suffix_)) return;
    armed_ = false;
    paused_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }

  class paused_file final : public file {
   public:
    paused_file(std::unique_ptr<file> f, paused_read_file_system& fs, std::string path)
        : f_(std::move(f)), fs_(fs), path_(std::move(path)) {}
    boost::system::result<std::size_t> read_at(std::uint64_t o, std::span<std::byte> b) override {
      fs_.gate(path_);
      return f_->read_at(o, b);
    }
    error_code write_at(std::uint64_t o, const_buffer_span b) override { return f_->write_at(o, b); }
    error_code write_gather(std::uint64_t o, std::span<const const_buffer_span> b) override {
      return f_->write_gather(o, b);
    }
    error_code sync() override { return f_->sync(); }
    boost::system::result<std::uint64_t> size() override { return f_->size(); }
    error_code truncate(std::uint64_t s) override { return f_->truncate(s); }
    error_code allocate(std::uint64_t s) override { return f_->allocate(s); }

   private:
    std::unique_ptr<file> f_;
    paused_read_file_system& fs_;
    std::string path_;
  };

  std::mutex mutex_;
  std::condition_variable cv_;
  std::string suffix_;
  bool armed_ = false;
  bool paused_ = false;
  bool released_ = false;
};

// Releases the gate when it goes out of scope: a failed assertion must not
// leave a reader waiting at it forever.
struct pause_releaser {
  paused_read_file_system& fs;
  ~pause_releaser() { fs.release(); }
};

}  // namespace evstore::test
