// A reader of format-1 stores (docs/format.md) for `evstore migrate`: the
// events in $all order with every field a migration carries, and the state
// beside them (read-stream definitions, durable consumer checkpoints).
//
// It stands apart from the format-1 engine (no store_impl, registry, file
// cache or writer), so that it keeps working once the engine writes format 2;
// it needs only the format-1 codecs (format/) and the journal reader
// (journal/). It never writes: a store that was not closed cleanly in durable
// mode is read through its journal frames after the checkpoint, held in
// memory (journal_overlay.hpp), as recovery would replay them.
//
// The committed end of $all is found as recovery finds it (store/recovery.cpp):
// past the checkpoint, entries are accepted while each decodes, names a known
// stream and matches a complete record; the end then moves back to the last
// entry with the commit-end bit. What lies beyond (a torn tail) is left out and
// reported (left_out()). Below that end every record is checked against its
// $all entry as it is read: a mismatch is corrupt_data naming the file and
// offset, never a skip.
//
// Memory: the catalog (stream id -> name), the journal frames after the
// checkpoint (bounded by the checkpoint interval and the journal's 64 MiB
// checkpoint trigger), at most max_open_files open partitions and what one
// next() reads: never the store's size.
//
// Threading: one thread at a time.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace evstore::detail::migrate {

// One event of $all with everything format 1 stores about it.
struct v1_event {
  std::string stream;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
  std::int64_t committed_at = 0;  // unix milliseconds
  std::optional<boost::uuids::uuid> id;
  std::string type;
  std::string data;      // JSON text ("null" for an event appended empty)
  std::string metadata;  // JSON text, empty if none
  // The append it was part of: its first position, its number of events, and
  // whether this event is its last.
  std::uint64_t commit_first_position = 0;
  std::uint32_t commit_count = 0;
  bool commit_end = false;
  friend bool operator==(const v1_event&, const v1_event&) = default;
};

// A read stream's definition as links/read_streams.json holds it.
struct v1_read_stream {
  std::string name;
  std::string filter_json;  // filter::to_json() of the stored filter (values keep their spelling)
  bool built = false;       // its back-fill finished
};

// A durable consumer's checkpoint (consumers/<enc stream>/<enc name>.consumer).
struct v1_consumer {
  std::string stream;
  std::string name;
  std::uint64_t position = 0;  // the next event number to deliver
  std::string state;           // JSON text, empty if none
};

// What open() left out at the end of $all, and why (a torn tail: a flush cut
// by a crash; events == 0 when the store ends cleanly).
struct v1_left_out {
  std::uint64_t events = 0;  // $all entries past the committed end that still decode
  std::string reason;
};

class v1_reader {
 public:
  // Opens the format-1 store in `dir` for reading. Errors: format_mismatch
  // when store.json names another format or version (saying which);
  // corrupt_data for a damaged store.json, catalog, checkpoint promise or
  // journal (file and offset); the file system's error for a failed read
  // (file and offset).
  // `max_open_files`: partitions kept open at once (least recently used
  // closed first). A run of records of a stream whose file was closed reopens
  // it, so a store whose appends interleave more streams than this reads
  // slower (4x for 1,000 streams with 64 open rather than 1,024).
  // REQUIRES: max_open_files > 0.
  [[nodiscard]] static result<v1_reader> open(file_system& fs, const std::string& dir,
                                              std::size_t max_open_files = 256);

  v1_reader(v1_reader&&) noexcept;
  v1_reader& operator=(v1_reader&&) noexcept;
  ~v1_reader();

  // The committed events of $all: known at open, for progress and ETA.
  std::uint64_t event_count() const;
  // Position of the next event next() returns (event_count() when done).
  std::uint64_t next_position() const;
  const v1_left_out& left_out() const;

  // Appends to `out` the next at most `max` events in $all order; returns how
  // many (0: every committed event has been read). Reads each run of
  // contiguous records of one partition with one read. Errors: corrupt_data
  // when a record does not match its $all entry, the file system's error for
  // a failed read, both with the file and offset; the reader then stays at
  // the first event of the failed call (and `out` as it was).
  // REQUIRES: max > 0.
  [[nodiscard]] result<std::size_t> next(std::vector<v1_event>& out, std::size_t max);

  // links/read_streams.json (none if absent), in its order.
  [[nodiscard]] result<std::vector<v1_read_stream>> read_streams() const;
  // Every checkpoint under consumers/, sorted by stream then name.
  [[nodiscard]] result<std::vector<v1_consumer>> consumers() const;

  struct impl;

 private:
  explicit v1_reader(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace evstore::detail::migrate
