#include "index/bloom_filter.hpp"

#include <algorithm>
#include <bit>

namespace evstore::detail {

bloom_filter::bloom_filter(std::size_t keys)
    : bits_(std::max<std::size_t>(8, (keys * bits_per_key + 7) / 8)) {}

bloom_filter::bloom_filter(std::span<const std::byte> bits) : bits_(bits.begin(), bits.end()) {}

void bloom_filter::add(std::uint64_t hash) noexcept {
  const std::uint64_t m = bits_.size() * 8;
  const std::uint64_t h2 = std::rotl(hash, 32) | 1;
  std::uint64_t h = hash;
  for (std::uint32_t i = 0; i < probes; ++i, h += h2) {
    const std::uint64_t bit = h % m;
    bits_[bit / 8] |= static_cast<std::byte>(1u << (bit % 8));
  }
}

bool bloom_filter::may_contain(std::uint64_t hash) const noexcept {
  const std::uint64_t m = bits_.size() * 8;
  if (m == 0) return true;
  const std::uint64_t h2 = std::rotl(hash, 32) | 1;
  std::uint64_t h = hash;
  for (std::uint32_t i = 0; i < probes; ++i, h += h2) {
    const std::uint64_t bit = h % m;
    if ((bits_[bit / 8] & static_cast<std::byte>(1u << (bit % 8))) == std::byte{0}) return false;
  }
  return true;
}

}  // namespace evstore::detail
