// Value types of the public API: events as appended and as recorded, expected
// versions, read options and append results.
#pragma once

#include <boost/uuid/uuid.hpp>

#include <cassert>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore {

// An event as the application appends it.
struct event_data {
  std::string type;      // required, 1..max_type_bytes bytes
  std::string data;      // JSON text; empty means `null`
  std::string metadata;  // JSON text, or empty for none
  // Client-chosen id; a retried append whose ids match a recent append of the
  // same stream returns that append's result instead of writing again.
  std::optional<boost::uuids::uuid> id;
};

// An event as stored. Its string views point into bytes it shares with the
// page it was read in (`storage`): a copy is valid on its own, whatever
// happens to that page, range, batch or store. Copying one costs a reference
// count increment, not the bytes.
struct recorded_event {
  std::string_view stream;
  std::string_view type;
  std::string_view data;      // JSON text ("null" if appended empty)
  std::string_view metadata;  // JSON text, empty if none
  std::optional<boost::uuids::uuid> id;
  std::uint64_t version = 0;      // 0-based position in its write stream
  std::uint64_t position = 0;     // 0-based position in $all
  std::int64_t committed_at = 0;  // unix time, milliseconds
  // Its number in the stream it was read from: the version in a write stream,
  // the position in $all, the entry number in a read or system stream. A read
  // or subscription continues from sequence + 1.
  std::uint64_t sequence = 0;
  // Owns the bytes the views point into (shared by the events of one read).
  std::shared_ptr<const void> storage;
};

// The concurrency check of an append.
class expected_version {
 public:
  enum class kind : std::uint8_t { any, no_stream, stream_exists, exact };

  constexpr kind which() const noexcept { return kind_; }
  // REQUIRES: which() == kind::exact. The version of the stream's last event.
  constexpr std::uint64_t version() const noexcept {
    assert(kind_ == kind::exact);
    return version_;
  }

  static constexpr expected_version make(kind k, std::uint64_t v = 0) noexcept { return {k, v}; }
  friend constexpr bool operator==(expected_version, expected_version) = default;

 private:
  constexpr expected_version(kind k, std::uint64_t v) : kind_(k), version_(v) {}
  kind kind_;
  std::uint64_t version_;
};

namespace expect {
inline constexpr expected_version any = expected_version::make(expected_version::kind::any);
inline constexpr expected_version no_stream = expected_version::make(expected_version::kind::no_stream);
inline constexpr expected_version stream_exists =
    expected_version::make(expected_version::kind::stream_exists);
constexpr expected_version exactly(std::uint64_t version) noexcept {
  return expected_version::make(expected_version::kind::exact, version);
}
}  // namespace expect

std::string to_string(expected_version e);

// What an append did. On error only `expected`, `actual` (for
// errc::wrong_expected_version) and `detail` are meaningful.
struct append_result {
  std::uint64_t first_version = 0;   // version of the first appended event
  std::uint64_t version = 0;         // version of the last appended event
  std::uint64_t first_position = 0;  // position of the first appended event
  std::uint64_t position = 0;        // position of the last appended event
  bool created_stream = false;
  bool duplicate = false;  // a retry: nothing was written, this is the first result
  expected_version expected = expect::any;
  std::optional<std::uint64_t> actual;  // the stream's last version when checked (none: no stream)
  // On error, what went wrong, for people (never parsed by programs), e.g.
  // "stream 'cart-1' is at version 3, expected no_stream".
  std::string detail;
};

enum class direction : std::uint8_t { forward, backward };

inline constexpr std::uint64_t from_end = std::numeric_limits<std::uint64_t>::max();

struct read_options {
  // First version (position for $all) to read. from_end with backward means
  // "from the last event"; with forward it yields nothing.
  std::uint64_t from = 0;
  std::uint64_t max_count = std::numeric_limits<std::uint64_t>::max();
  evstore::direction direction = direction::forward;
  // The page ends before the event that would take its events' stored bytes
  // (record sizes, as docs/format.md counts them) over max_bytes; its first
  // event is always in it, however large. Bounds a page's memory by bytes
  // where max_count bounds it by events. `next` says where to go on.
  std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max();
  // Also the events a delete or stream metadata hides (store::delete_stream,
  // set_stream_metadata), and a deleted stream's: for tools that check or
  // copy the store as it is on disk (verify, export). An event a scavenge
  // erased comes as a placeholder: type erased_event_type, data null, no
  // metadata or id, its stream, version, position and commit time kept.
  bool include_hidden = false;
  // The last event number (version, $all position or entry number) to read,
  // inclusive: forward, the page ends (`end`) once it is reached, so paging
  // from 0 up to a `to` taken from one read (its ETag, a stream's version)
  // reads that one snapshot whatever is appended meanwhile; backward, the
  // read starts at min(from, to). Unset: no bound. store::read() and
  // events(); subscriptions have none.
  std::optional<std::uint64_t> to;
};

inline constexpr std::string_view erased_event_type = "$erased";

// Who may read and who may write a stream, by name (the way EventStoreDB's
// stream ACLs do). The store keeps the list with the stream's metadata and
// never enforces it itself (it does not know who calls): evstored checks it
// against its tokens' names; an embedding application checks it in its
// before_read / before_append hooks (store_options), which may ask
// store::stream_metadata_of(). Unset: no list for that operation; an empty
// list: nobody named. Each name is 1..max_acl_name_bytes bytes of printable
// ASCII without spaces, at most max_acl_names per list. A hard-deleted
// stream keeps its list, but store::access_lists() leaves it out.
struct stream_acl {
  std::optional<std::vector<std::string>> read;
  std::optional<std::vector<std::string>> write;
  bool empty() const { return !read && !write; }
  friend bool operator==(const stream_acl&, const stream_acl&) = default;
};
inline constexpr std::size_t max_acl_name_bytes = 128;
inline constexpr std::size_t max_acl_names = 256;

// A stream's limits (store::set_stream_metadata): events outside them stop
// being readable at once, in every read of the stream, of $all, of system and
// read streams, in subscriptions and consumers. Unset means no limit. The
// access list rides along: deletes keep it, a metadata change replaces it
// with the rest.
struct stream_metadata {
  std::optional<std::uint64_t> max_count;        // only its last max_count events
  std::optional<std::chrono::seconds> max_age;   // only events committed within max_age of now
  std::optional<std::uint64_t> truncate_before;  // only versions from truncate_before on
  stream_acl acl;
  friend bool operator==(const stream_metadata&, const stream_metadata&) = default;
};

// store::delete_stream. Soft (the default): the stream reads as deleted
// (errc::stream_deleted) until an append recreates it; its versions go on
// where they stopped and the events from before the delete stay hidden.
// Hard: the same, and the name never takes a write again
// (errc::stream_tombstoned).
struct delete_options {
  expected_version expected = expect::any;  // checked against the stream, as an append's
  bool hard = false;
};

struct stream_info {
  std::string name;
  std::uint64_t event_count = 0;  // last version + 1
};

}  // namespace evstore
