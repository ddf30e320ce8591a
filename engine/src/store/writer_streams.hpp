// The writer's state of the streams it appends to: the version the next
// append gets (appends not yet flushed included), the partition of the
// stream, and its recent event ids for recognising retries.
//
// A bounded cache, not a registry: a stream the writer has not touched lately
// is found in the stream index (store_impl::writer_stream_of) and enters the
// cache then; evict() drops the states no batch points at once there are more
// than store_options::writer_stream_cache. Readers never use it; they ask the
// stream index with the published $all count.
//
// Threading: the store's strand only (the writer), and the flushing thread
// for a batch's streams while its flush is in flight (evict() runs between
// flushes on the strand and keeps every state a batch holds). contains() and size() may
// be called from any thread: add() and evict() take the lock they take
// (find() on the strand needs none, the strand being the only thread that
// changes the map).
#pragma once

#include <boost/uuid/uuid.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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

// A stream's recent events, oldest first: a ring that grows up to the
// idempotency window and allocates nothing before the stream's first event
// with an id (a std::deque would allocate a block for every stream).
class recent_events {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const recent_event& operator[](std::size_t i) const { return ring_[(head_ + i) % ring_.size()]; }
  const recent_event& front() const { return (*this)[0]; }
  void push_back(const recent_event& e) {
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) % ring_.size()] = e;
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) % ring_.size();
    --size_;
  }

 private:
  void grow() {
    std::vector<recent_event> bigger(std::max<std::size_t>(4, ring_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = (*this)[i];
    ring_ = std::move(bigger);
    head_ = 0;
  }
  std::vector<recent_event> ring_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

struct writer_stream {
  std::string name;
  std::uint16_t partition = 0;
  std::uint64_t pending_count = 0;  // events including buffered, unflushed appends
  recent_events recent;             // bounded by store_options::idempotency_window
  bool recent_loaded = false;
  bool found_again = false;       // found in the cache since the last sweep (evict())
  std::uint64_t batch_epoch = 0;  // the batch that last listed it among its streams
};

class writer_streams {
 public:
  writer_stream* find(std::string_view name) {
    auto it = streams_.find(name);
    if (it == streams_.end()) return nullptr;
    it->second->found_again = true;
    return it->second.get();
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
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return streams_.size();
  }
  // Once more than `keep` states are cached, drops those of streams no batch
  // of epoch `in_use` or later lists: first the ones not found since the last
  // sweep (a second chance keeps streams appended to often), then, if that
  // left more than half of `keep`, others until half is left. A sweep costs
  // the cache's size and frees at least half of `keep` unless batches hold
  // more: amortised, O(1) per append.
  void evict(std::size_t keep, std::uint64_t in_use) {
    if (streams_.size() <= keep) return;
    auto sweep = [&](bool second_chance, std::size_t down_to) {
      std::lock_guard lock(mutex_);
      for (auto it = streams_.begin(); it != streams_.end() && streams_.size() > down_to;) {
        writer_stream& s = *it->second;
        const bool keep_it = s.batch_epoch >= in_use || (second_chance && s.found_again);
        if (second_chance) s.found_again = false;
        it = keep_it ? std::next(it) : streams_.erase(it);
      }
    };
    sweep(true, 0);
    sweep(false, keep / 2);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string_view, std::unique_ptr<writer_stream>> streams_;  // keys view the names
};

}  // namespace evstore::detail
