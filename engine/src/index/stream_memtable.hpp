// The stream index's in-memory part: the most recent (stream name, version) ->
// $all position pairs, until freeze_and_write_run() turns them into a run file.
// For each name it holds one contiguous range of versions [first_version, +n);
// the runs hold the earlier ones.
//
// A hash table on the name's xxh3_64 (the key's own hash, computed once per add),
// and room for four positions reserved with each new stream: an add costs one
// probe and, for short streams, two allocations (node, positions) in all. sorted() puts the entries
// in the index's key order (stream_key.hpp) for writing a run.
//
// Threading: not synchronized. The stream index (stream_index.hpp) guards its
// live memtable with its lock; once frozen (no more add), any number of
// threads may read it without one.
#pragma once

#include "index/stream_key.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace evstore::detail {

class stream_memtable {
 public:
  struct entry {
    std::uint64_t first_version = 0;
    std::vector<std::uint64_t> positions;
    std::uint64_t end_version() const noexcept { return first_version + positions.size(); }
  };

  // REQUIRES: version == last_version(name) + 1 when the memtable holds name
  // (any version when it does not: the runs hold the earlier ones), and position
  // greater than every position added before.
  void add(std::string_view name, std::uint64_t version, std::uint64_t position);
  void add(std::uint64_t hash, std::string_view name, std::uint64_t version, std::uint64_t position);

  // Appends the positions of versions [from, from + max_count) that the memtable
  // holds, stopping at its last; returns how many (0: it does not hold `from`).
  std::size_t lookup(std::uint64_t hash, std::string_view name, std::uint64_t from, std::size_t max_count,
                     std::vector<std::uint64_t>& out) const;
  const entry* find(std::uint64_t hash, std::string_view name) const;
  std::optional<std::uint64_t> last_version(std::uint64_t hash, std::string_view name) const;
  // versions_below() of the name's entry: nullopt when the memtable does not
  // hold the name or holds none of its positions below all_count.
  std::optional<std::uint64_t> count_below(std::uint64_t hash, std::string_view name,
                                           std::uint64_t all_count) const;
  // A copy without the positions below `end` (a follower's memtable once the
  // writer's runs cover them): each stream keeps its versions from the first
  // position >= end on; a stream left with none is dropped.
  stream_memtable without_below(std::uint64_t end) const;

  bool empty() const noexcept { return streams_.empty(); }
  std::size_t stream_count() const noexcept { return streams_.size(); }
  std::uint64_t event_count() const noexcept { return events_; }
  // The $all positions it covers: [first_position, end_position), end one past the last added.
  std::uint64_t first_position() const noexcept { return first_position_; }
  std::uint64_t end_position() const noexcept { return end_position_; }
  // Estimate of the heap bytes it holds (tree nodes, names, position vectors).
  std::size_t byte_size() const noexcept { return bytes_; }

  struct key {
    std::uint64_t hash = 0;
    std::string name;
  };
  // Hashing and equality that accept (hash, name) views, so a lookup neither
  // rehashes nor copies the name.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(const key& k) const noexcept { return k.hash; }
    std::size_t operator()(const stream_key_view& k) const noexcept { return k.hash; }
  };
  struct key_equal {
    using is_transparent = void;
    bool operator()(const key& a, const key& b) const noexcept {
      return a.hash == b.hash && a.name == b.name;
    }
    bool operator()(const stream_key_view& a, const key& b) const noexcept {
      return a.hash == b.hash && a.name == b.name;
    }
    bool operator()(const key& a, const stream_key_view& b) const noexcept {
      return a.hash == b.hash && a.name == b.name;
    }
  };
  using map_type = std::unordered_map<key, entry, key_hash, key_equal>;
  using value_type = map_type::value_type;
  // The entries in key order (xxh3_64(name), name), for writing a run.
  std::vector<const value_type*> sorted() const;
  // Every entry, in no order.
  const map_type& streams() const noexcept { return streams_; }

 private:
  map_type streams_;
  std::uint64_t events_ = 0;
  std::uint64_t first_position_ = 0;
  std::uint64_t end_position_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace evstore::detail
