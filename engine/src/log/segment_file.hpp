// One segment file of the partition log: creating it (zeros written ahead as
// far as asked) and opening it with its header checked (format.hpp, Segment).
#pragma once

#include "log/log_layout.hpp"
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace evstore::detail {

// Creates segment `segment` of `partition` ready for appends: header written,
// zeros actually written up to `allocate_to` bytes (file::allocate; at most
// segment_size, default all of it), the file synced and the log directory
// synced, so that its name and size are durable. With a smaller allocate_to
// the file grows later (partition_writer_options::allocate_ahead).
//
// Why zeros written and not fallocate or a sparse file: appends then overwrite
// blocks that exist and are already written, and the fdatasync that makes them
// durable flushes data only; into unwritten (fallocated) extents or holes every
// fdatasync must also commit the file system's journal for the extent change.
// Issue 13 measured the overwrite loop syncing about twice as fast on an idle
// machine (bench/micro_bench.cpp: BareWriteSyncPreallocated against
// BareWriteSyncAppending measures the pair). The cost, one segment of zeros
// written and synced, is paid by prepare_next() off the hot path.
//
// An existing file is reused (a segment prepared before a crash) and brought
// back to that state; REQUIRES: it holds no record the log still needs.
[[nodiscard]] result<std::unique_ptr<file>> create_segment(file_system& fs, const std::string& store_dir,
                                                           std::uint16_t partition, std::uint64_t segment,
                                                           const log_geometry& g,
                                                           std::uint64_t allocate_to = UINT64_MAX);

// What open_segment found.
struct opened_segment {
  enum class state { missing, bad_header, ok };
  state what = state::missing;
  std::unique_ptr<evstore::file> handle;  // set unless missing
};

// Opens an existing segment and checks its header (kind, partition, segment
// number, size). A bad header is reported, not judged: at or past the log's
// end it is a creation a crash cut short (create_segment writes the header
// first and syncs last), before the end it is damage; the caller knows which.
[[nodiscard]] result<opened_segment> open_segment(file_system& fs, const std::string& store_dir,
                                                  std::uint16_t partition, std::uint64_t segment,
                                                  const log_geometry& g, open_mode mode);

}  // namespace evstore::detail
