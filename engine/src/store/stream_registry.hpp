// The streams of a store: id <-> name, and each stream's state.
//
// Threading: find() and by_id() may be called from any thread; add() only by
// the writer (or by recovery, or a follower's refresh under its lock), and a
// stream is complete when published (see add()). Stream states live as
// long as the registry, so readers may keep raw pointers and name views.
#pragma once

#include <boost/uuid/uuid.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace evstore::detail {

// One recent event, for recognising retried appends: a retry has the same
// ids and the same content (content_crc: content_checksum() in writer.cpp).
struct recent_event {
  boost::uuids::uuid id;
  std::uint64_t version;
  std::uint64_t position;
  bool commit_start;
  bool commit_end;
  std::uint32_t content_crc;
};

struct stream_state {
  std::uint32_t id = 0;
  std::string name;
  std::string partition_path;
  std::string index_path;
  std::uint64_t first_position = 0;  // $all position of its first event (from the catalog)

  // --- Published to readers (written by the loader or the writer after a flush).
  std::atomic<std::uint64_t> committed_count{0};  // events; the last version is count - 1
  std::atomic<bool> loaded{false};
  std::mutex load_mutex;

  // --- Writer only (the store's strand; recovery before that).
  bool writer_ready = false;
  bool files_created = false;       // header of partition and index written by a flush
  std::uint64_t pending_count = 0;  // events including buffered, unflushed appends
  std::uint64_t pending_end = 0;    // partition byte end including buffered appends
  std::uint64_t committed_end = 0;  // partition byte end of committed events
  std::size_t batch_slot = 0;       // index into the current batch's streams, valid if batch_epoch matches
  std::uint64_t batch_epoch = 0;
  std::deque<recent_event> recent;  // bounded by store_options::idempotency_window
  bool recent_loaded = false;
  // --- The flushing thread only: written since the last durable checkpoint.
  bool dirty = false;
};

class stream_registry {
 public:
  stream_registry();
  ~stream_registry();
  stream_registry(const stream_registry&) = delete;
  stream_registry& operator=(const stream_registry&) = delete;

  stream_state* find(std::string_view name) const;
  stream_state* by_id(std::uint32_t id) const;
  std::uint32_t size() const noexcept { return count_.load(std::memory_order_acquire); }

  // Publishes `state` under the next id (which it sets) and its name. The
  // caller fills in everything else first: from the moment a reader can find
  // it, the state is complete (the name lock's unlock/lock and count_'s
  // release/acquire order those writes before any reader's look-up).
  // REQUIRES: no stream named state->name; ids are dense, in order of add().
  stream_state* add(std::unique_ptr<stream_state> state);
  // The same for a stream with no events loaded yet (recovery's catalog).
  stream_state* add(std::string name, std::string partition_path, std::string index_path);
  // Forgets streams with ids >= count. Only while opening, before any reader exists.
  void truncate(std::uint32_t count);
  // Followers: forgets streams with ids >= count (their catalog records were
  // cut by the writer's recovery) while readers may hold their states: those
  // stay allocated until the registry goes, and add() reuses their ids.
  void forget(std::uint32_t count);

 private:
  static constexpr std::size_t chunk_bits = 12;
  static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
  static constexpr std::size_t max_chunks = 4096;  // up to 16M streams

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  // id -> state: fixed chunks that never move, so by_id() needs no lock.
  // Slots are atomic because a follower's forget() lets add() reuse an id that
  // a reader who loaded the old count may be reading at the same moment.
  using slot = std::atomic<stream_state*>;
  std::array<std::atomic<slot*>, max_chunks> chunks_{};
  std::atomic<std::uint32_t> count_{0};
  // name -> state: a reader-writer lock held only for the lookup.
  mutable std::shared_mutex names_mutex_;
  std::unordered_map<std::string, stream_state*, string_hash, std::equal_to<>> names_;
  std::vector<std::unique_ptr<stream_state>> forgotten_;  // under names_mutex_
};

}  // namespace evstore::detail
