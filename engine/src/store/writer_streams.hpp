// The writer's state of the streams it appended to since open: the version
// the next append gets (appends not yet flushed included), the partition of
// the stream, and its recent event ids for recognising retries.
//
// A cache, not a registry: a stream the writer has not touched is found in the
// stream index (store_impl::writer_stream) and enters the cache then. Readers
// never use it; they ask the stream index with the published $all count.
//
// Threading: the store's strand only (the writer), and the flushing thread
// for a batch's streams while its flush is in flight (a state is never freed
// while open: references stay valid). contains() may be called from any
// thread: add() takes the lock it takes (find() on the strand needs none,
// the strand being the only thread that adds).
#pragma once

#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

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

struct writer_stream {
  std::string name;
  std::uint16_t partition = 0;
  std::uint64_t pending_count = 0;  // events including buffered, unflushed appends
  std::deque<recent_event> recent;  // bounded by store_options::idempotency_window
  bool recent_loaded = false;
  std::uint64_t batch_epoch = 0;  // the batch that last listed it among its streams
};

class writer_streams {
 public:
  writer_stream* find(std::string_view name) {
    auto it = streams_.find(name);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  // REQUIRES: no stream of that name.
  writer_stream& add(std::string name) {
    auto s = std::make_unique<writer_stream>();
    s->name = std::move(name);
    writer_stream& ref = *s;
    std::lock_guard lock(mutex_);
    streams_.emplace(std::string_view(ref.name), std::move(s));
    return ref;
  }
  // Any thread: the writer has taken this name (appended to it since open,
  // or looked it up and found it).
  bool contains(std::string_view name) const {
    std::lock_guard lock(mutex_);
    return streams_.contains(name);
  }
  std::size_t size() const noexcept { return streams_.size(); }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string_view, std::unique_ptr<writer_stream>> streams_;  // keys view the names
};

}  // namespace evstore::detail
