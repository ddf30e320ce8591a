// CRC-32C (Castagnoli), the checksum of every record and index entry.
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time), Boost.CRC otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace evstore::detail::crc32c {

// CRC-32C of `data`, continuing from `crc` (0 to start).
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

inline std::uint32_t value(const void* data, std::size_t size) noexcept { return extend(0, data, size); }

// Masked form stored on disk (as in LevelDB): a CRC of bytes that themselves
// contain CRCs is weak, and an all-zero region must never carry a valid CRC.
inline constexpr std::uint32_t mask_delta = 0xa282ead8u;
inline std::uint32_t mask(std::uint32_t crc) noexcept { return ((crc >> 15) | (crc << 17)) + mask_delta; }
inline std::uint32_t unmask(std::uint32_t masked) noexcept {
  const std::uint32_t rot = masked - mask_delta;
  return (rot >> 17) | (rot << 15);
}

bool hardware_accelerated() noexcept;

}  // namespace evstore::detail::crc32c
