// The append side of one partition of the format v2 log: a write buffer whose
// flush writes each segment it touches with one write and, when asked, one
// fdatasync (format.hpp, section Segment; log_layout.hpp for offsets).
//
// Threading: single-threaded. One thread (the store's flushing thread) owns the
// writer and makes every call, prepare_next() included; readers use
// partition_reader, never this object.
//
// Errors are sticky: after a failed write, sync or segment creation every later
// call fails with that first error, because the fate of the bytes written since
// the last good sync is unknown (the rule the store applies to its own writer).
//
// Durability: flush(true) returns once every record appended so far is synced.
// It writes at most `unsynced_window` bytes between two syncs (a longer flush
// is cut at record boundaries, one sync per piece), so after a power loss
// during a flush at most that many bytes can be torn; scan_partition_tail,
// given the same window, tells such a torn flush from damage to acknowledged
// records. An owner that flushes without sync leaves an unbounded unsynced
// region and must scan with an unlimited window. Rolling over to the next
// segment always syncs the old one first, whatever the flush asked for, so an
// unsynced region never spans two segments.
#pragma once

#include "format/format.hpp"
#include "log/log_layout.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace evstore::detail {

inline constexpr std::uint64_t default_unsynced_window = std::uint64_t{1} << 20;

struct partition_writer_options {
  std::shared_ptr<evstore::file_system> fs;
  std::string directory;  // the store directory (segments live in <directory>/log)
  std::uint16_t partition = 0;
  log_geometry geometry;
  std::uint64_t unsynced_window = default_unsynced_window;
  // How far ahead of the end segments are written with zeros before use
  // (segment_file.hpp says why). The default, the whole segment at creation,
  // suits a log synced on every flush; a store that flushes without sync
  // passes 0 (files grow by their appends: nothing is written twice), and one
  // that wants durability without paying a whole segment up front passes a
  // few MiB, extended by extend() off the append's latency.
  std::uint64_t allocate_ahead = UINT64_MAX;
};

class partition_writer {
 public:
  // Opens the partition for appends at logical offset `end` (normalized: an
  // offset in a header means that segment's first record): creates the log
  // directory and the segment as needed. REQUIRES: nothing after `end` holds a
  // record (recovery runs truncate_partition(end) first).
  [[nodiscard]] static result<std::unique_ptr<partition_writer>> open(partition_writer_options options,
                                                                      std::uint64_t end);
  // open() in two steps, for recovery, which reads everything before it
  // writes anything: attach() only reads (opens the segment that holds `end`,
  // or notes it missing when no record precedes `end` in it); ready() writes
  // (creates that segment, allocates ahead). ready() must succeed before
  // append() or flush(). The REQUIRES of open() applies once ready() runs.
  [[nodiscard]] static result<std::unique_ptr<partition_writer>> attach(partition_writer_options options,
                                                                        std::uint64_t end);
  [[nodiscard]] result<void> ready();

  partition_writer(const partition_writer&) = delete;
  partition_writer& operator=(const partition_writer&) = delete;
  ~partition_writer();

  // Copies a framed record (format.hpp, Event record) into the buffer and
  // returns where it will be. No I/O. invalid_argument unless `record` is
  // exactly one record that passes format::check_record_framing and fits in a
  // segment.
  [[nodiscard]] result<log_locator> append(format::bytes record);

  // Writes the buffered records (one write per segment touched, unless longer
  // than the unsynced window) and, with sync, fdatasyncs each segment touched.
  [[nodiscard]] result<void> flush(bool sync);

  // True once the current segment is past half full (or the buffer already
  // rolled over) and the next segment is not prepared yet.
  bool should_prepare_next() const;
  // Creates the segment after the one being written (create_segment: zeros
  // written, synced), so the roll-over in a later flush allocates nothing. The
  // owner runs it after acknowledging a flush, off the append's latency. A
  // flush that rolls over without it creates the segment itself.
  [[nodiscard]] result<void> prepare_next();

  // True when allocate_ahead is set and less than half of it is left between
  // the end and the allocated part of the current segment.
  bool should_extend() const;
  // Writes zeros up to allocate_ahead past the end (within the segment) and
  // syncs them; the owner runs it after acknowledging a flush, like
  // prepare_next(). A flush that would write past the allocated part extends
  // first by itself.
  [[nodiscard]] result<void> extend();

  std::uint64_t end() const { return end_; }              // after every appended record
  std::uint64_t written_end() const { return written_; }  // after every flushed record
  std::uint64_t synced_end() const { return synced_; }    // every record below is durable
  std::uint16_t partition() const { return options_.partition; }

 private:
  // Bytes buffered for one segment, starting at logical offset `start`.
  struct run {
    std::uint64_t segment = 0;
    std::uint64_t start = 0;
    std::vector<std::byte> bytes;
  };

  explicit partition_writer(partition_writer_options options);
  result<void> fail(error e);
  result<void> attach_segment_at(std::uint64_t end);
  result<void> roll_to(std::uint64_t segment);
  result<void> write_run(const run& r, bool sync);
  result<void> write_piece(std::uint64_t offset, format::bytes piece, bool sync);
  result<void> sync_current();
  // Allocates the current segment up to in-segment offset `to` plus
  // allocate_ahead (capped at the segment's size), then syncs it.
  result<void> allocate_to(std::uint64_t to);
  std::uint64_t allocation_target(std::uint64_t to) const;
  std::string current_name() const;

  partition_writer_options options_;
  std::uint64_t segment_ = 0;    // the segment current_ holds
  std::uint64_t allocated_ = 0;  // bytes of current_ known written (zeros or records)
  std::unique_ptr<file> current_;
  std::unique_ptr<file> next_;  // segment_ + 1, prepared
  std::vector<run> runs_;       // the buffer; runs_[0, runs_used_) hold bytes
  std::size_t runs_used_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t synced_ = 0;
  std::optional<error> failed_;
};

}  // namespace evstore::detail
