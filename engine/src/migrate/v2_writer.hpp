// Writes a complete format-2 store (docs/format.md, "Directory")
// into an empty directory from events given in $all order: what `evstore
// migrate` writes from a format-1 store, and what the format-2 store opens.
//
// For each event, in order: its record (with its stream's name, format.hpp
// "Event record") appended to the partition log of its stream
// (log/partitioner.hpp), its 16-byte all.idx entry (format::all_entry2, bit
// 31 of the size on the last event of an append), and its (stream, version)
// -> position pair in the stream index, whose memtable is written out as a
// run at a byte bound. finish() then makes everything durable in this order:
// partition logs, all.idx, the stream index (a last run, then every run
// compacted into one, its manifest), index/checkpoint (format::checkpoint2:
// sequence 1, all_count, each partition's end), index/head (= all_count), and
// store.json LAST: a directory without store.json is not a store, so a crash
// before it leaves no half store (the caller removes the directory and starts
// again).
//
// The caller puts anything else the store keeps (links/read_streams.json,
// consumers/) into the directory before finish().
//
// Memory: the stream index's memtable (bounded by memtable_bytes), the
// records and entries buffered since the last write (bounded by
// write_buffer_bytes), and the events of the append in progress; never the
// store's size or its number of streams.
//
// Errors are sticky: after a failed add or finish every later call fails with
// that error; the directory is then garbage for the caller to remove.
//
// Threading: one thread at a time.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {
class partition_writer;
class stream_index;
}  // namespace evstore::detail

namespace evstore::detail::migrate {

inline constexpr std::uint64_t default_v2_segment_size = std::uint64_t{256} << 20;

struct v2_writer_options {
  // The store's partition count, in [1, 1000].
  std::uint32_t partitions = 1;
  // Size of every segment file: a multiple of 4096 in [8 KiB, 4 GiB].
  std::uint64_t segment_size = default_v2_segment_size;
  // The stream index's memtable is written out as a run once its estimate
  // reaches this (stream_memtable::byte_size(), ~136 bytes per stream).
  std::size_t memtable_bytes = std::size_t{64} << 20;
  // Records buffered before the partition logs and all.idx are written (not
  // synced: finish() syncs once).
  std::size_t write_buffer_bytes = std::size_t{8} << 20;
};

// One event, in $all order; its position is the number of events added before.
struct v2_event {
  std::string_view stream;
  std::uint64_t version = 0;      // the stream's previous version + 1 (0 first)
  std::int64_t committed_at = 0;  // unix milliseconds
  std::optional<std::array<std::byte, 16>> id;
  std::string_view type;
  std::string_view data;
  std::string_view metadata;
  bool commit_end = false;  // the last event of its append
};

// What finish() wrote.
struct v2_written {
  std::uint64_t events = 0;
  std::uint64_t streams = 0;        // streams with at least one event
  std::vector<std::uint64_t> ends;  // each partition's log end (the checkpoint's)
};

class v2_writer {
 public:
  // Starts a store in `dir`, which must be missing or empty (invalid_argument
  // otherwise): creates it, log/ with segment 0 of every partition, index/ and
  // index/all.idx. invalid_argument for options out of range.
  [[nodiscard]] static result<std::unique_ptr<v2_writer>> create(std::shared_ptr<file_system> fs,
                                                                 std::string dir, v2_writer_options options);

  v2_writer(const v2_writer&) = delete;
  v2_writer& operator=(const v2_writer&) = delete;
  ~v2_writer();

  // Adds the next event. An append is written once its last event
  // (commit_end) is added. invalid_argument (naming the position) for an
  // invalid stream name, a version that does not follow the stream's last
  // one, or a record too large for a segment; the file system's error (file
  // and offset) for a failed write.
  [[nodiscard]] result<void> add(const v2_event& e);

  // Makes the store durable and complete (see above). invalid_argument if the
  // last event added did not end its append.
  [[nodiscard]] result<v2_written> finish();

  // Events added so far in complete appends (the next event's position once
  // the append in progress is written).
  std::uint64_t events() const noexcept { return count_; }

 private:
  struct pending_event {
    std::string stream;
    std::uint64_t version = 0;
    std::int64_t committed_at = 0;
    std::optional<std::array<std::byte, 16>> id;
    std::string type;
    std::string data;
    std::string metadata;
  };

  v2_writer(std::shared_ptr<file_system> fs, std::string dir, v2_writer_options options);
  [[nodiscard]] result<void> open();
  [[nodiscard]] result<void> write_commit();
  [[nodiscard]] result<void> write_buffered(bool sync);
  [[nodiscard]] result<void> write_index_run();
  [[nodiscard]] result<void> write_small_file(const std::string& path, std::span<const std::byte> bytes);
  error fail(error e);

  std::shared_ptr<file_system> fs_;
  std::string dir_;
  v2_writer_options options_;
  std::vector<std::unique_ptr<partition_writer>> logs_;
  std::unique_ptr<stream_index> index_;
  std::unique_ptr<file> all_;
  std::uint64_t all_written_ = 0;       // entries in all.idx on disk
  std::vector<std::byte> all_buffer_;   // entries after them
  std::vector<pending_event> pending_;  // the append in progress
  std::vector<std::byte> record_;       // one encoded record
  std::uint64_t count_ = 0;
  std::uint64_t streams_ = 0;
  std::size_t buffered_ = 0;  // record bytes appended since the last write
  std::optional<error> failed_;
  bool finished_ = false;
};

}  // namespace evstore::detail::migrate
