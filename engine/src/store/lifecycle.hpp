// Streams that end: what a delete or a stream's metadata leaves readable.
//
// Every change (store::delete_stream, store::set_stream_metadata) is one event
// of the system stream "$lifecycle", appended by the writer like any other
// event, so it is as durable, recovered, followed and backed up as the events
// it hides. Its type is "$stream-lifecycle" and its data the stream's whole
// lifecycle after the change (docs/format.md, "The $lifecycle stream"):
//   {"stream":"order-1","truncateBefore":3,"maxCount":10,"maxAge":86400,
//    "acl":{"read":["alice"],"write":[]},"deletedBefore":3,"deleted":true,
//    "tombstoned":true}
// (members absent when unset). The latest event of a stream wins, so the
// table below is the fold of $lifecycle: the writer sets an entry when the
// flush that holds its event is published, an open and a follower's refresh
// fold the events they have not seen.
//
// Nothing is removed from the files here: hidden events stay on disk (and in
// the indexes and read streams that link them) and every read leaves them out
// (store_impl::read_visible). Appends, the indexer and the offline tools see
// every event.
//
// Threading: the table is read by any thread and changed by the writer's
// strand or the follower's refresh, under a reader/writer lock; empty() is a
// lock-free load, so a store that never deleted anything pays one atomic load
// per read.
#pragma once

#include <evstore/types.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace evstore::detail {

inline constexpr std::string_view lifecycle_stream = "$lifecycle";
inline constexpr std::string_view lifecycle_event_type = "$stream-lifecycle";
// The largest max_age taken (in milliseconds it still fits an int64).
inline constexpr std::chrono::seconds max_age_limit{std::int64_t{1} << 40};

struct stream_lifecycle {
  stream_metadata metadata;
  // A delete's cut: versions below it stay hidden whatever the metadata
  // says later (a metadata change replaces truncate_before, never this).
  std::uint64_t deleted_before = 0;
  // Soft-deleted at deleted_before: reads answer stream_deleted until an
  // append takes the stream past it.
  bool deleted = false;
  bool tombstoned = false;  // deleted for good: no write is taken any more
  bool unrestricted() const {
    return !deleted && !tombstoned && deleted_before == 0 && metadata == stream_metadata{};
  }
  friend bool operator==(const stream_lifecycle&, const stream_lifecycle&) = default;
};

// The data of `stream`'s $stream-lifecycle event.
std::string lifecycle_event_data(std::string_view stream, const stream_lifecycle& l);
// The stream and lifecycle of such an event's data; nullopt for anything else
// (an event of another shape is ignored, never fatal: the stream is readable).
std::optional<std::pair<std::string, stream_lifecycle>> parse_lifecycle_event(std::string_view data);

// Why an access list cannot be set (a name empty, too long or not printable
// ASCII, too many names); nullopt when it can.
std::optional<std::string> acl_problem(const stream_acl& acl);

// The first version of a stream of `count` events that a delete,
// truncate_before and max_count leave readable (max_age is per event: expired()).
std::uint64_t first_readable(const stream_lifecycle& l, std::uint64_t count);
// The wall clock in unix ms: what the writer stamps as committed_at and what
// max_age is measured against (reads, scavenging).
std::int64_t now_ms();
// True when max_age hides an event committed at `committed_at` (unix ms) at
// `now_ms`. REQUIRES: max_age within max_age_limit.
bool expired(const stream_lifecycle& l, std::int64_t committed_at, std::int64_t now_ms);
// True when a read of the stream answers stream_deleted: tombstoned, or
// soft-deleted with no event appended since.
bool reads_as_deleted(const stream_lifecycle& l, std::uint64_t count);

class lifecycle_table {
 public:
  bool empty() const noexcept { return size_.load(std::memory_order_acquire) == 0; }
  std::optional<stream_lifecycle> find(std::string_view stream) const;
  // Every entry, copied (the scavenger's list of streams to look at).
  std::vector<std::pair<std::string, stream_lifecycle>> snapshot() const;
  // Every stream starting with `prefix` whose metadata has an access list:
  // one atomic load while no stream has one, else a range of a sorted map.
  std::vector<std::pair<std::string, stream_acl>> access_lists(std::string_view prefix) const;
  // An unrestricted lifecycle removes the entry.
  void set(const std::string& stream, const stream_lifecycle& l);
  // Versions of $lifecycle folded so far (open and a follower's refresh).
  std::uint64_t folded() const noexcept { return folded_; }
  void set_folded(std::uint64_t n) noexcept { folded_ = n; }

 private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, stream_lifecycle, hash, std::equal_to<>> map_;
  std::atomic<std::size_t> size_{0};
  // The access lists again, by name: a prefix is a range (access_lists).
  std::map<std::string, stream_acl, std::less<>> acls_;
  std::atomic<std::size_t> acl_count_{0};
  std::uint64_t folded_ = 0;  // the folding thread's only
};

}  // namespace evstore::detail
