// A file-system wrapper that fails operations on demand, for I/O-error and
// crash-point tests. Counts every *mutating* operation (open with create,
// write_at, write_gather, sync, truncate, allocate, create_directories,
// sync_directory, rename, remove) across all files it handed out.
//
//   fail_operation(k, ec, persistent)  the k-th mutating operation from now fails
//                                      with ec; with persistent, every later one too.
//   crash_after(k)                     k more mutating operations succeed, then every
//                                      later one fails with EIO and does nothing: the
//                                      process "died" at that point. Pair it with
//                                      memory_file_system::power_loss().
// Reads (read_at, size, open without create, list) are counted apart, so that
// arming a read fault leaves the numbering of mutating operations alone:
//   fail_read(k, ec, persistent)       the k-th read operation from now fails with
//                                      ec; with persistent, every later one too.
// exists() is never failed: it cannot report an error.
// sync_count(): the file syncs and directory syncs among them (what a durable
// write costs), for tests that count them.
//
// Threading: safe from any thread.
#pragma once

#include <evstore/file_system.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace evstore::testing {

class fault_injecting_file_system final : public file_system {
 public:
  explicit fault_injecting_file_system(std::shared_ptr<file_system> base);
  ~fault_injecting_file_system() override;

  [[nodiscard]] boost::system::result<std::unique_ptr<file>> open(const std::string& path,
                                                                  open_mode mode) override;
  [[nodiscard]] error_code create_directories(const std::string& path) override;
  [[nodiscard]] error_code sync_directory(const std::string& path) override;
  bool exists(const std::string& path) override;
  [[nodiscard]] error_code rename(const std::string& from, const std::string& to) override;
  [[nodiscard]] error_code remove(const std::string& path) override;
  [[nodiscard]] boost::system::result<std::vector<std::string>> list(const std::string& dir) override;
  [[nodiscard]] boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& path) override;

  std::uint64_t operation_count() const noexcept;
  std::uint64_t sync_count() const noexcept;
  void fail_operation(std::uint64_t k, error_code ec, bool persistent);
  void crash_after(std::uint64_t k);
  std::uint64_t read_count() const noexcept;
  void fail_read(std::uint64_t k, error_code ec, bool persistent);
  void clear_faults();  // write and read faults alike

  struct control;  // shared with the file objects

 private:
  std::shared_ptr<file_system> base_;
  std::shared_ptr<control> control_;
};

}  // namespace evstore::testing
