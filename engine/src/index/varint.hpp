// LEB128 varints of the stream index's run files: 7 bits a byte, low bits first,
// the high bit set on every byte but the last. A u64 takes at most 10 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace evstore::detail::varint {

inline constexpr std::size_t max_bytes = 10;

inline void put(std::vector<std::byte>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::byte>(v));
}

inline std::size_t size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Decodes the varint at in[pos], advancing pos. nullopt if it runs past the end,
// is longer than 10 bytes or overflows 64 bits: damage, never a value.
inline std::optional<std::uint64_t> get(std::span<const std::byte> in, std::size_t& pos) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < max_bytes; ++i) {
    if (pos >= in.size()) return std::nullopt;
    const auto b = static_cast<std::uint8_t>(in[pos++]);
    if (i == max_bytes - 1 && b > 1) return std::nullopt;  // bits past 64
    v |= std::uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return std::nullopt;
}

}  // namespace evstore::detail::varint
