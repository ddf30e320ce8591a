// A file system whose partition logs' fdatasync can be held at a gate: a
// durable flush stopped right before its fsync returns, for tests of what
// may happen then.
#pragma once

#include "forwarding_file_system.hpp"
#include <evstore/file_system.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

namespace evstore::test {

// Forwards to another file system; while closed, every sync() of a log
// segment (log/p...) waits for a permit: a flush stopped right before its fdatasync.
class gated_file_system final : public forwarding_file_system {
 public:
  explicit gated_file_system(std::shared_ptr<file_system> base) : forwarding_file_system(std::move(base)) {}

  void close_gate() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  void open_gate() {
    std::lock_guard lock(mutex_);
    closed_ = false;
    cv_.notify_all();
  }
  void permit_one() {
    std::lock_guard lock(mutex_);
    ++permits_;
    cv_.notify_all();
  }
  // Waits until a sync is blocked at the gate having used every permit.
  bool wait_until_waiting() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ > 0 && permits_ == 0; });
  }

  boost::system::result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override {
    auto f = base_->open(path, mode);
    if (!f || path.find("/log/p") == std::string::npos) return f;
    return std::unique_ptr<file>(std::make_unique<gated_file>(std::move(*f), *this));
  }

 private:
  class gated_file final : public file {
   public:
    gated_file(std::unique_ptr<file> f, gated_file_system& fs) : f_(std::move(f)), fs_(fs) {}
    boost::system::result<std::size_t> read_at(std::uint64_t o, std::span<std::byte> b) override {
      return f_->read_at(o, b);
    }
    error_code write_at(std::uint64_t o, const_buffer_span b) override { return f_->write_at(o, b); }
    error_code write_gather(std::uint64_t o, std::span<const const_buffer_span> b) override {
      return f_->write_gather(o, b);
    }
    error_code sync() override {
      {
        std::unique_lock lock(fs_.mutex_);
        ++fs_.waiting_;
        fs_.cv_.notify_all();
        fs_.cv_.wait(lock, [&] { return !fs_.closed_ || fs_.permits_ > 0; });
        if (fs_.closed_) --fs_.permits_;
        --fs_.waiting_;
        fs_.cv_.notify_all();
      }
      return f_->sync();
    }
    boost::system::result<std::uint64_t> size() override { return f_->size(); }
    error_code truncate(std::uint64_t s) override { return f_->truncate(s); }
    error_code allocate(std::uint64_t s) override { return f_->allocate(s); }

   private:
    std::unique_ptr<file> f_;
    gated_file_system& fs_;
  };

  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  int permits_ = 0;
  int waiting_ = 0;
};

// Opens the gate when it goes out of scope: a failed assertion must not leave
// a flush waiting at the gate forever (the store's destructor waits for it).
struct gate_opener {
  gated_file_system& gate;
  ~gate_opener() { gate.open_gate(); }
};

}  // namespace evstore::test
