// Reads records of the format v2 partition log by locator, from any thread,
// through a file_cache shared with every other reader, so thousands of readers
// share a bounded set of descriptors.
//
// Threading: read() is safe from any thread; the cache is too (file_cache.hpp).
// A reader reads only what a writer has flushed: the owner hands out locators
// below partition_writer::written_end().
#pragma once

#include "format/format.hpp"
#include "io/file_cache.hpp"
#include "log/log_layout.hpp"
#include <evstore/error.hpp>

#include <memory>
#include <span>
#include <string>

namespace evstore::detail {

class partition_reader {
 public:
  partition_reader(std::shared_ptr<file_cache> cache, std::string store_dir, log_geometry geometry);

  // Reads out.size() bytes at `at`. Errors carry the segment file and the
  // in-segment offset: the OS's code for a failed read, corrupt_data for a
  // missing segment or one too short for the range.
  [[nodiscard]] result<void> read(log_locator at, std::span<std::byte> out) const;
  // read(), then the record framing checked (format::check_record_framing):
  // corrupt_data with file and offset if the bytes there are not that record.
  [[nodiscard]] result<void> read_record(log_locator at, std::span<std::byte> out) const;

  // Drops the cached descriptor of a segment (after truncate_partition removed it).
  void forget(std::uint16_t partition, std::uint64_t segment) const;

 private:
  std::shared_ptr<file_cache> cache_;
  std::string store_dir_;
  log_geometry geometry_;
};

}  // namespace evstore::detail
