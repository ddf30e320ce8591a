// The format-1 reader's state (v1_reader.hpp), shared by its files:
// v1_reader.cpp (open: store.json, checkpoint, journal, catalog, the committed
// end of $all), v1_events.cpp (reading and checking events) and
// v1_carried_state.cpp (read-stream definitions, consumer checkpoints).
#pragma once

#include "format/format.hpp"
#include "journal/journal_overlay.hpp"
#include "migrate/v1_reader.hpp"

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace evstore::detail::migrate {

// A record that does not match its $all entry (or cannot be found), at a
// position: the end of the log past the checkpoint, corrupt_data before it.
struct v1_mismatch {
  std::uint64_t position = 0;
  std::string what;
  std::string file;  // relative to the store directory
  std::uint64_t offset = 0;
  // The partition of a stream created before the checkpoint is missing or its
  // header names another stream: damage even past the checkpoint.
  bool lost_partition = false;
};

// What read_batch() found: events [from, from + accepted) check out; then
// `mismatch`, if any, at from + accepted.
struct v1_batch {
  std::uint64_t accepted = 0;
  std::uint64_t commit_end = 0;  // one past the last accepted entry with the commit-end bit (0: none)
  std::optional<v1_mismatch> mismatch;
};

struct v1_reader::impl {
  struct stream {
    std::string name;
    std::string partition;  // absolute path
    std::uint64_t first_position = 0;
  };
  struct open_partition {
    std::uint32_t id = 0;
    overlay_source source;
  };

  // $all entries read with one read.
  static constexpr std::size_t entries_per_read = 4096;
  // Bytes of records read with one read (a larger record is read alone).
  static constexpr std::size_t run_bytes = std::size_t{4} << 20;

  file_system* fs = nullptr;
  std::string dir;
  overlay journal;              // frames after the checkpoint, never written to the store
  std::vector<stream> streams;  // by stream id
  std::optional<overlay_source> all;
  std::uint64_t all_entries = 0;  // entries the $all file (with the journal) holds
  std::uint64_t checkpoint_count = 0;
  std::uint64_t end = 0;
  std::uint64_t next = 0;
  v1_left_out left_out;
  // Open partitions, most recently used first, at most max_open_partitions.
  std::size_t max_open_partitions = 0;
  std::list<open_partition> partitions;
  std::unordered_map<std::uint32_t, std::list<open_partition>::iterator> partition_of;
  std::vector<std::byte> buffer;  // one run of records

  std::string relative(const std::string& path) const;
  // The error of a failed read, with the file and offset.
  error read_error(const error& e, const std::string& path, std::uint64_t offset) const;
  // store.json, checkpoint, journal, catalog, $all and its committed end (v1_reader.cpp).
  [[nodiscard]] result<void> open();
  // Reads and checks positions [from, from + n) (n <= entries_per_read),
  // appending them to `out` unless it is null (v1_events.cpp). Only failed
  // reads are errors; the first mismatch ends the batch.
  [[nodiscard]] result<v1_batch> read_batch(std::uint64_t from, std::uint64_t n, std::vector<v1_event>* out);
  // Entries [from, from + n) of $all as stored (fewer at the end of the file).
  [[nodiscard]] result<std::vector<std::byte>> read_entries(std::uint64_t from, std::uint64_t n);

 private:
  [[nodiscard]] result<void> read_store_json();
  [[nodiscard]] result<format::checkpoint> read_checkpoint();
  [[nodiscard]] result<void> read_journal(const format::checkpoint& cp);
  [[nodiscard]] result<std::uint64_t> read_head();
  [[nodiscard]] result<void> read_catalog(const format::checkpoint& cp);
  [[nodiscard]] result<void> find_committed_end();
  [[nodiscard]] result<std::uint64_t> count_decodable(std::uint64_t from);
  // The partition of stream `id`, its header checked; nullptr (and `why`) if
  // it is missing or names another stream.
  [[nodiscard]] result<const overlay_source*> partition(std::uint32_t id, std::string& why);
  [[nodiscard]] result<void> read_run(const std::vector<format::all_entry>& entries, std::size_t first,
                                      std::size_t last, std::uint64_t from, v1_batch& batch,
                                      std::vector<v1_event>* out);
};

}  // namespace evstore::detail::migrate
