// The decoded blocks of the index's run files that lookups used lately, so
// that looking up many streams costs a pread and a decode per block, not per
// lookup: a block holds ~150 streams, and a writer that does not hold a
// stream's state in memory (first append since open, or evicted from
// writer_stream_cache) looks up its last version on its next append.
//
// Bounded by bytes (decoded_block_bytes() of each block held), least recently
// used out first, in 16 shards by key so that lookups of different blocks on
// different threads rarely share a lock. Keyed by (run, block): a run's
// number is unique for the life of the process (next_run_id()), so the
// blocks of a run that compaction retired are never found again and age out.
//
// Threading: any thread. A block found stays valid while its shared_ptr is held.
#pragma once

#include "index/run_format.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace evstore::detail {

class block_cache {
 public:
  explicit block_cache(std::size_t capacity_bytes);
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;

  // A number no other run of this process has.
  static std::uint64_t next_run_id() noexcept;

  std::shared_ptr<const run_format::decoded_block> find(std::uint64_t run, std::uint64_t block);
  // Keeps `b` (replacing a block of that key), then drops the least recently
  // used blocks of its shard while the shard holds more than its share.
  void insert(std::uint64_t run, std::uint64_t block, std::shared_ptr<const run_format::decoded_block> b);

  std::size_t bytes() const;  // held now, all shards
  static constexpr std::size_t shard_count = 16;
  // The shard a key falls in (each holds capacity / shard_count bytes).
  static std::size_t shard_of_key(std::uint64_t run, std::uint64_t block) noexcept {
    return key_hash{}(key{run, block}) % shard_count;
  }
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

 private:
  struct key {
    std::uint64_t run = 0;
    std::uint64_t block = 0;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept;
  };
  struct entry {
    key k;
    std::shared_ptr<const run_format::decoded_block> block;
    std::size_t bytes = 0;
  };
  struct shard {
    mutable std::mutex mutex;
    std::list<entry> lru;  // most recently used first
    std::unordered_map<key, std::list<entry>::iterator, key_hash> map;
    std::size_t bytes = 0;
  };
  shard& shard_of(const key& k) { return shards_[key_hash{}(k) % shard_count]; }

  std::size_t shard_capacity_;
  std::array<shard, shard_count> shards_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

// The heap bytes a decoded block holds.
std::size_t decoded_block_bytes(const run_format::decoded_block& b) noexcept;

}  // namespace evstore::detail
