// The stream index's listing: streams in the index's key order (xxh3_64(name),
// name), each with its number of versions below a $all count, merged across
// the memtables and the runs, resuming after a cursor key.
//
// A memtable is a hash table, so its part of a page is picked by one pass over
// it (memtable_candidates: the `limit + 1` least keys after the cursor whose
// count is not zero, copied, so that the live memtable's lock is held for that
// pass only); a run is walked with a run_cursor from the block holding the
// cursor, one block in memory at a time, for as many streams as the page needs.
// A stream's count is the largest that any source gives it: the newest source
// with a position below all_count knows it (versions_below.hpp).
#pragma once

#include "index/index_run_reader.hpp"
#include "index/stream_memtable.hpp"
#include <evstore/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

struct listed_stream {
  std::uint64_t hash = 0;  // stream_hash(name): the key is (hash, name)
  std::string name;
  std::uint64_t count = 0;  // versions with a position below the page's all_count
};

struct stream_page {
  std::vector<listed_stream> streams;
  // Streams follow the page's last: pass its name as the next page's cursor.
  bool more = false;
};

// Where a page starts: after the key of `after_name`; from the first stream
// when `after_name` is empty (no stream has an empty name).
struct list_cursor {
  explicit list_cursor(std::string_view after_name)
      : name(after_name), hash(after_name.empty() ? 0 : stream_hash(after_name)) {}
  bool from_start() const noexcept { return name.empty(); }
  // True when (h, n) comes after the cursor.
  bool before(std::uint64_t h, std::string_view n) const noexcept {
    return from_start() || h > hash || (h == hash && n > name);
  }
  std::string_view name;
  std::uint64_t hash;
};

// The `limit + 1` least keys after the cursor among the memtable's streams
// with a version below all_count, sorted, with their memtable counts.
std::vector<listed_stream> memtable_candidates(const stream_memtable& m, const list_cursor& after,
                                               std::size_t limit, std::uint64_t all_count);

// A page of at most `limit` streams: the merge of the memtables' candidates
// (each from memtable_candidates with the same arguments) and the runs.
[[nodiscard]] result<stream_page> merge_stream_page(
    std::vector<std::vector<listed_stream>> memtables,
    const std::vector<std::shared_ptr<const index_run_reader>>& runs, const list_cursor& after,
    std::size_t limit, std::uint64_t all_count);

}  // namespace evstore::detail
