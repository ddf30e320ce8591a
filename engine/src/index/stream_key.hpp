// The order of the stream index: (xxh3_64(name), name, first_version). The hash
// comes first so that names sharing a long prefix ("order-0000001", ...) spread
// evenly over the blocks, which keeps the fence pointers even; the bloom filter
// hashes from the same value, so a name is hashed once per lookup.
#pragma once

#include <compare>
#include <cstdint>
#include <string_view>

namespace evstore::detail {

std::uint64_t stream_hash(std::string_view name) noexcept;

struct stream_key_view {
  std::uint64_t hash = 0;
  std::string_view name;
  std::uint64_t first_version = 0;

  friend std::strong_ordering operator<=>(const stream_key_view& a, const stream_key_view& b) noexcept {
    if (a.hash != b.hash) return a.hash <=> b.hash;
    if (const int c = a.name.compare(b.name)) return c <=> 0;
    return a.first_version <=> b.first_version;
  }
  friend bool operator==(const stream_key_view& a, const stream_key_view& b) noexcept = default;
};

}  // namespace evstore::detail
