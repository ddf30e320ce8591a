// The file-system seam. Every file operation of the engine goes through these
// two interfaces, so that tests can run the engine on memory, inject I/O
// errors at the k-th operation and simulate power loss.
//
// Implementations: posix_file_system() (the real one); for tests, the test
// doubles of evstore::testing (library evstore::testing, headers under
// <evstore/testing/>, not installed): memory_file_system (tracks what is
// durable, simulates power loss) and fault_injecting_file_system (wraps
// another and fails operations on demand).
//
// Threading: a file_system and its files may be used from any thread; one file
// object may be read concurrently with one writer (pread/pwrite semantics).
// Paths are '/'-separated strings; the engine passes paths under the store
// directory only.
#pragma once

#include <evstore/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace evstore {

using boost::system::error_code;

using const_buffer_span = std::span<const std::byte>;

class file {
 public:
  virtual ~file() = default;
  file() = default;
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  // Reads up to buf.size() bytes at offset; fewer only at end of file.
  [[nodiscard]] virtual boost::system::result<std::size_t> read_at(std::uint64_t offset,
                                                                   std::span<std::byte> buf) = 0;
  // Writes all of buf at offset (extends the file if needed).
  [[nodiscard]] virtual error_code write_at(std::uint64_t offset, const_buffer_span buf) = 0;
  // Writes the buffers back to back starting at offset, as one pwritev where possible.
  [[nodiscard]] virtual error_code write_gather(std::uint64_t offset,
                                                std::span<const const_buffer_span> bufs) = 0;
  // fdatasync: everything written so far survives power loss once this returns ok.
  [[nodiscard]] virtual error_code sync() = 0;
  [[nodiscard]] virtual boost::system::result<std::uint64_t> size() = 0;
  [[nodiscard]] virtual error_code truncate(std::uint64_t size) = 0;
  // Grows the file to `size` bytes of zeros with real blocks behind them, so that later
  // overwrites need no metadata update (cheap fdatasync). No-op if already that large.
  [[nodiscard]] virtual error_code allocate(std::uint64_t size) = 0;
  // The range reads as zeros from now on, and the file system may free the
  // blocks wholly inside it (posix: fallocate PUNCH_HOLE, KEEP_SIZE). The
  // default writes zeros: correct everywhere, frees nothing.
  [[nodiscard]] virtual error_code release(std::uint64_t offset, std::uint64_t length);
};

// An advisory lock held for the lifetime of the object.
class file_lock {
 public:
  virtual ~file_lock() = default;
};

enum class open_mode {
  read_only,         // fails with no_such_file_or_directory if missing
  read_write,        // fails if missing
  read_write_create  // creates the file if missing (mode 0600)
};

class file_system {
 public:
  virtual ~file_system() = default;

  [[nodiscard]] virtual boost::system::result<std::unique_ptr<file>> open(const std::string& path,
                                                                          open_mode mode) = 0;
  // Creates the directory and its parents (mode 0700). Ok if it exists.
  [[nodiscard]] virtual error_code create_directories(const std::string& path) = 0;
  // fsync of a directory: makes creations, renames and removals in it durable.
  [[nodiscard]] virtual error_code sync_directory(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  [[nodiscard]] virtual error_code rename(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual error_code remove(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, unordered.
  [[nodiscard]] virtual boost::system::result<std::vector<std::string>> list(const std::string& dir) = 0;
  // Exclusive, non-blocking lock of `path` (created if needed). Fails with
  // errc::store_locked when another holder has it.
  [[nodiscard]] virtual boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& path) = 0;
};

// The real file system (POSIX calls: pread, pwritev, fdatasync, flock ...).
std::shared_ptr<file_system> posix_file_system();

}  // namespace evstore
