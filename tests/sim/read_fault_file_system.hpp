// The simulation's read-side fault layer. The engine's fault_injecting_file_system
// fails mutating operations only; this wrapper adds what the simulation needs
// on the read side:
//   fail_read(k)            the k-th read_at from now by the calling thread fails
//                           once with EIO (the engine's own threads, e.g. an
//                           indexer starting at open, read at their own pace:
//                           counting them would make the k-th read differ);
//   on_first_read(suffix, f) the next read of a file whose path ends in `suffix`
//                           first calls f() on the reading thread (a point where
//                           the simulation interleaves other work, deterministically,
//                           because the reader waits for it).
// Everything else passes through.
//
// Threading: safe from any thread.
#pragma once

#include <evstore/file_system.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace evstore::sim {

class read_fault_file_system final : public file_system {
 public:
  explicit read_fault_file_system(std::shared_ptr<file_system> base);

  boost::system::result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override;
  error_code create_directories(const std::string& path) override { return base_->create_directories(path); }
  error_code sync_directory(const std::string& path) override { return base_->sync_directory(path); }
  bool exists(const std::string& path) override { return base_->exists(path); }
  error_code rename(const std::string& from, const std::string& to) override {
    return base_->rename(from, to);
  }
  error_code remove(const std::string& path) override { return base_->remove(path); }
  boost::system::result<std::vector<std::string>> list(const std::string& dir) override {
    return base_->list(dir);
  }
  boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& path) override {
    return base_->lock(path);
  }

  void fail_read(std::uint64_t k);
  void on_first_read(std::string suffix, std::function<void()> f);
  // Disarms both; true if the armed read fault fired since it was armed.
  bool clear();

  struct control;

 private:
  std::shared_ptr<file_system> base_;
  std::shared_ptr<control> control_;
};

}  // namespace evstore::sim
