// Recovery's walk over the tail of a format v2 partition log: every record from
// a known-good offset to the end of the log, and what ended it.
//
// What ends the log at offset X (the first place without a valid record):
//   clean  a length of 0 at X with only zeros after it in its segment, and no
//          next segment holding records (a missing or prepared, empty one);
//          zeros to the end of a segment followed by a next segment whose
//          first record would not have fit after X is a roll-over, not an end.
//   torn   a record at X that fails framing (format::check_record_framing),
//          or zeros at X followed by other bytes: what a power loss leaves of
//          a flush that was never acknowledged. Recovery cuts it
//          (truncate_partition) and reports it.
//   damage a bad record or zeros at X followed by a valid record that ends
//          more than `unsynced_window` bytes after X: corrupt_data naming the
//          segment file and the in-segment offset of X. The log is not cut.
// "Followed by a valid record" checks every byte offset after X in X's
// segment for a complete frame whose checksum and trailing length agree, and
// the first record of the next segment (whose first 4 KiB after the header
// tell junk from a prepared, empty segment). Why a window: a writer that syncs
// every flush (partition_writer.hpp) never has more than that many bytes
// written and not synced, and a disk may keep any of their sectors and lose
// others, so valid records can follow a torn one within the window without
// any acknowledged record being lost; beyond it, they can only be records
// that were synced after X was, so X was damaged after it was acknowledged.
// Damage within the window of the log's end cannot be told from a torn flush
// and is cut as one. An owner that flushes without sync passes
// unlimited_window: nothing past its last sync was acknowledged as durable.
//
// Cost: reads each segment from the start offset to its end once, in 1 MiB
// pieces into one buffer (the zeros after the end are read too, to tell a
// clean end from a hole), and the first record (or 4 KiB) of the segment after
// the end. The search for later frames runs only past a bad record and reads
// the rest of that segment at once.
#pragma once

#include "format/format.hpp"
#include "log/log_layout.hpp"
#include "log/partition_writer.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace evstore::detail {

inline constexpr std::uint64_t unlimited_window = std::numeric_limits<std::uint64_t>::max();

struct scan_options {
  // The writer's partition_writer_options::unsynced_window (durable owners), or
  // unlimited_window (owners that flush without sync).
  std::uint64_t unsynced_window = default_unsynced_window;
};

enum class log_end_kind : std::uint8_t { clean, torn };

struct log_scan {
  std::uint64_t end = 0;  // logical offset of the first byte without a valid record
  log_end_kind how = log_end_kind::clean;
  std::string detail;  // torn: what was found, the file and the in-segment offset
  std::uint64_t records = 0;
};

// Called for each record in order; `record` is valid during the call only.
using log_record_visitor = std::function<void(log_locator at, format::bytes record)>;

// Walks partition `partition` from `from` (a record boundary known good, e.g. 0
// or a checkpoint's end; normalized like partition_writer::open). corrupt_data
// if a segment that must hold records is missing or has a bad header, or for
// damage as above; the OS's code (with file and offset) for a failed read.
[[nodiscard]] result<log_scan> scan_partition_tail(file_system& fs, const std::string& store_dir,
                                                   std::uint16_t partition, const log_geometry& g,
                                                   std::uint64_t from, const log_record_visitor& visit,
                                                   const scan_options& options = {});

}  // namespace evstore::detail
