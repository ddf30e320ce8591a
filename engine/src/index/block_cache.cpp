#include "index/block_cache.hpp"

namespace evstore::detail {

block_cache::block_cache(std::size_t capacity_bytes) : shard_capacity_(capacity_bytes / shard_count) {}

std::uint64_t block_cache::next_run_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::size_t block_cache::key_hash::operator()(const key& k) const noexcept {
  // splitmix64's finalizer over both halves: blocks of one run spread over the shards.
  std::uint64_t x = k.run * 0x9e3779b97f4a7c15ULL ^ k.block;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<std::size_t>(x ^ (x >> 31));
}

std::shared_ptr<const run_format::decoded_block> block_cache::find(std::uint64_t run, std::uint64_t block) {
  const key k{run, block};
  shard& s = shard_of(k);
  std::lock_guard lock(s.mutex);
  auto it = s.map.find(k);
  if (it == s.map.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->block;
}

void block_cache::insert(std::uint64_t run, std::uint64_t block,
                         std::shared_ptr<const run_format::decoded_block> b) {
  const key k{run, block};
  const std::size_t size = decoded_block_bytes(*b);
  // Dropped outside the lock: freeing a block is not free.
  std::list<entry> dropped;
  shard& s = shard_of(k);
  {
    std::lock_guard lock(s.mutex);
    if (auto it = s.map.find(k); it != s.map.end()) {
      s.bytes -= it->second->bytes;
      dropped.splice(dropped.end(), s.lru, it->second);
      s.map.erase(it);
    }
    s.lru.push_front({k, std::move(b), size});
    s.map.emplace(k, s.lru.begin());
    s.bytes += size;
    // The block just inserted stays even if it alone is over the share.
    while (s.bytes > shard_capacity_ && s.lru.size() > 1) {
      auto last = std::prev(s.lru.end());
      s.bytes -= last->bytes;
      s.map.erase(last->k);
      dropped.splice(dropped.end(), s.lru, last);
    }
  }
}

std::size_t block_cache::bytes() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.bytes;
  }
  return n;
}

std::size_t decoded_block_bytes(const run_format::decoded_block& b) noexcept {
  return sizeof b + b.bytes.capacity() + b.groups.capacity() * sizeof(run_format::run_group) +
         b.positions.capacity() * sizeof(std::uint64_t);
}

}  // namespace evstore::detail
