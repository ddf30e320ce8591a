// Reads one run file (run_format.hpp). open() reads the trailer and the footer
// (usually in one pread of the file's last 64 KiB) and keeps the bloom filter
// and the fence pointers in memory (memory_bytes(): ~1.3 bytes per stream at
// 10 bloom bits per name and ~150 names per block). A lookup costs nothing when
// the bloom filter says no, otherwise one pread per block it touches (usually
// one), or none when `cache` (given to open) holds the block. Every block is checked (crc, varints, lengths,
// key order) before use; damage is errc::corrupt_data with the file and offset, an I/O error is the file
// system's code with the file and offset: never "not found".
//
// Threading: immutable after open; lookups and cursors from any number of threads at once
// (pread on a shared file). Share it with std::shared_ptr.
#pragma once

#include "index/block_cache.hpp"
#include "index/bloom_filter.hpp"
#include "index/run_format.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

class index_run_reader {
 public:
  // Lookups keep the blocks they read in `cache` (if any) and look there first.
  [[nodiscard]] static result<std::shared_ptr<const index_run_reader>> open(
      file_system& fs, const std::string& path, std::shared_ptr<block_cache> cache = nullptr);

  // Appends the positions of versions [from, from + max_count) of `name` that
  // this run holds, in version order, up to the run's last version of the name;
  // returns how many (0: the run does not hold version `from` of the name).
  [[nodiscard]] result<std::size_t> lookup(std::uint64_t hash, std::string_view name, std::uint64_t from,
                                           std::size_t max_count, std::vector<std::uint64_t>& out) const;
  [[nodiscard]] result<std::size_t> lookup(std::string_view name, std::uint64_t from, std::size_t max_count,
                                           std::vector<std::uint64_t>& out) const {
    return lookup(stream_hash(name), name, from, max_count, out);
  }
  // The highest version of `name` in this run; nullopt if it holds none.
  [[nodiscard]] result<std::optional<std::uint64_t>> last_version(std::uint64_t hash,
                                                                  std::string_view name) const;
  [[nodiscard]] result<std::optional<std::uint64_t>> last_version(std::string_view name) const {
    return last_version(stream_hash(name), name);
  }
  // versions_below() of the name in this run: from its last group (one block
  // read, as last_version), walking back over the name's earlier groups only
  // when that one lies wholly at or above all_count. nullopt when the run does
  // not hold the name or none of its positions below all_count.
  [[nodiscard]] result<std::optional<std::uint64_t>> count_below(std::uint64_t hash, std::string_view name,
                                                                 std::uint64_t all_count) const;
  bool may_contain(std::uint64_t hash) const noexcept { return bloom_.may_contain(hash); }
  // The block where a walk in key order finds the first key after `key` (the
  // last whose first key is <= key; 0 if none is): where a listing resumes.
  std::size_t block_at_or_before(const stream_key_view& key) const noexcept {
    return block_for(key).value_or(0);
  }

  const std::string& path() const noexcept { return path_; }
  const run_format::run_header& header() const noexcept { return footer_.header; }
  std::uint64_t stream_count() const noexcept { return footer_.stream_count; }
  std::uint64_t event_count() const noexcept { return footer_.event_count; }
  std::size_t block_count() const noexcept { return footer_.fences.size(); }
  // Heap bytes of the bloom filter and the fences kept in memory.
  std::size_t memory_bytes() const noexcept;

  // Reads and checks block i (merge and verify walk the blocks in order).
  [[nodiscard]] result<void> read_block(std::size_t i, run_format::decoded_block& out) const;
  // Reads the header and every block: every byte of the file is checked.
  [[nodiscard]] result<void> verify() const;

 private:
  index_run_reader(std::unique_ptr<file> f, std::string path, run_format::run_footer footer,
                   std::shared_ptr<block_cache> cache);
  // Block i for a lookup: from the cache, or read (into the cache, or into
  // this thread's scratch block without one). `hold` keeps a cached one alive.
  [[nodiscard]] result<const run_format::decoded_block*> lookup_block(
      std::size_t i, std::shared_ptr<const run_format::decoded_block>& hold) const;
  // The block that holds `key` if the run does (the last whose first key is <= key).
  std::optional<std::size_t> block_for(const stream_key_view& key) const;

  std::unique_ptr<file> file_;
  std::string path_;
  run_format::run_footer footer_;
  bloom_filter bloom_;
  std::shared_ptr<block_cache> cache_;
  std::uint64_t id_ = block_cache::next_run_id();
};

}  // namespace evstore::detail
