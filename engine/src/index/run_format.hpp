// Every byte of a stream index run file, run-<seq:016x>.sidx (format v2): an
// immutable, sorted map (stream name, version) -> $all position. All integers
// are little-endian; "varint" is LEB128 (varint.hpp); every crc is a masked
// crc32c (format/crc32c.hpp), so a region of zeros never checks out.
//
// Header, at offset 0 (64 bytes):
//   0   u8[8]  magic "EVSSIDX\n"
//   8   u32    run_format_version (2: the store's format v2)
//   12  u32    header_size (64)
//   16  u64    seq: the run's number, also in its file name; higher is newer
//   24  u64    first_position: the run covers $all positions [first, end)
//   32  u64    end_position
//   40  u8[20] reserved, zero
//   60  u32    masked crc32c of bytes [0, 60)
// The header lets a tool tell the file apart; readers take the same fields from
// the footer, so that open costs the trailer and the footer only.
//
// Data blocks, from offset 64, back to back (each ~4 KiB: a new block starts
// when the next group would take the block past block_target_size; at most
// max_block_size). Groups never cross a block:
//   block := group+, u32 masked crc32c of the block's group bytes
//   group := u64     xxh3_64 of the name
//            varint  name_len (1..200)
//            name_len bytes of the name
//            varint  first_version: the version of the group's first position
//            varint  count (1..256)
//            varint  first position (absolute), then count-1 varint deltas (>= 1)
// Groups are in key order (xxh3_64(name), name, first_version), each key once.
// A stream's versions in one run are contiguous: its groups follow each other,
// each starting where the previous ended; all but the last hold 256 positions,
// so versions [v, v+n) decode from at most ceil(n/256)+1 groups. Positions
// strictly increase with the version and lie in [first_position, end_position).
//
// Footer, at footer_offset (the end of the last block):
//   0   u64    seq             (as in the header)
//   8   u64    first_position  (as in the header)
//   16  u64    end_position    (as in the header)
//   24  u64    stream_count: distinct names
//   32  u64    event_count: positions
//   40  u32    block_count
//   44  u32    bloom_bytes
//   48  bloom_bytes of bloom filter bits over the names (bloom_filter.hpp)
//   fence[block_count] := u64 block offset, u32 block length (with its crc),
//            u64 hash, varint name_len, name, varint first_version (the block's
//            first key)
//   u32    masked crc32c of the footer's bytes before it
// Blocks are contiguous: the first at 64, each next at offset + length, the
// last ending at footer_offset.
//
// Trailer, the last 32 bytes of the file:
//   0   u64    footer_offset
//   8   u64    footer_length (with its crc)
//   16  u32    reserved, zero
//   20  u32    masked crc32c of bytes [0, 20)
//   24  u8[8]  magic "EVSSEND\n"
// footer_offset + footer_length is the trailer's offset.
#pragma once

#include "index/stream_key.hpp"
#include <evstore/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace evstore::detail::run_format {

inline constexpr std::uint32_t version = 2;
inline constexpr std::size_t header_size = 64;
inline constexpr std::size_t trailer_size = 32;
inline constexpr std::size_t footer_fixed_size = 48;
inline constexpr std::size_t crc_size = 4;
inline constexpr std::size_t block_target_size = 4096;
inline constexpr std::size_t max_block_size = 64 * 1024;
inline constexpr std::size_t max_group_positions = 256;
inline constexpr std::size_t max_name_size = 200;
// Upper bound on a footer: 100M names of bloom plus fences; anything larger is damage.
inline constexpr std::uint64_t max_footer_size = std::uint64_t{1} << 31;

struct run_header {
  std::uint64_t seq = 0;
  std::uint64_t first_position = 0;
  std::uint64_t end_position = 0;
  friend bool operator==(const run_header&, const run_header&) = default;
};

struct run_fence {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::uint64_t hash = 0;
  std::string name;
  std::uint64_t first_version = 0;
  stream_key_view key() const noexcept { return {hash, name, first_version}; }
};

struct run_footer {
  run_header header;
  std::uint64_t stream_count = 0;
  std::uint64_t event_count = 0;
  std::vector<std::byte> bloom;
  std::vector<run_fence> fences;
};

struct run_trailer {
  std::uint64_t footer_offset = 0;
  std::uint64_t footer_length = 0;
};

// One group of a decoded block; name points into the block's bytes, positions
// are [positions_index, +count) of the block's positions.
struct run_group {
  stream_key_view key;
  std::uint32_t count = 0;
  std::uint32_t positions_index = 0;
  std::uint64_t end_version() const noexcept { return key.first_version + count; }
};

struct decoded_block {
  std::vector<std::byte> bytes;
  std::vector<run_group> groups;
  std::vector<std::uint64_t> positions;
  std::span<const std::uint64_t> positions_of(const run_group& g) const noexcept {
    return std::span<const std::uint64_t>(positions).subspan(g.positions_index, g.count);
  }
};

// The masked crc32c of n bytes, as every checksum of the run files and the manifest.
std::uint32_t masked_crc(const std::byte* p, std::size_t n) noexcept;

void encode_header(const run_header& h, std::span<std::byte, header_size> out);
// errc::corrupt_data (with path and offset 0) unless magic, version, size and crc check out.
[[nodiscard]] result<run_header> decode_header(std::span<const std::byte> in, const std::string& path);

// Appends one group (REQUIRES 1 <= positions.size() <= 256, strictly increasing).
void encode_group(std::vector<std::byte>& out, stream_key_view key, std::span<const std::uint64_t> positions);
// Ends a block: appends the masked crc32c of its bytes so far.
void append_block_crc(std::vector<std::byte>& block);
// The encoded size of that group.
std::size_t group_size(std::string_view name, std::uint64_t first_version,
                       std::span<const std::uint64_t> positions);

std::vector<std::byte> encode_footer(const run_footer& f);
// Checks the crc, every length against the footer's size, the fences against
// the file (contiguous blocks from header_size to footer_offset, keys strictly
// increasing) and the counts; offset is the footer's offset in path.
[[nodiscard]] result<run_footer> decode_footer(std::span<const std::byte> in, std::uint64_t footer_offset,
                                               const std::string& path);

void encode_trailer(const run_trailer& t, std::span<std::byte, trailer_size> out);
// Checks magic, crc and that the footer lies between the header and the trailer.
[[nodiscard]] result<run_trailer> decode_trailer(std::span<const std::byte> in, std::uint64_t file_size,
                                                 const std::string& path);

// Decodes a whole block (bytes already in out.bytes, crc included): crc, every
// varint and length, keys strictly increasing and the first equal to the
// fence's, counts 1..256, positions strictly increasing inside the run's range.
[[nodiscard]] result<void> decode_block(decoded_block& out, const run_fence& fence, const run_header& run,
                                        const std::string& path);

}  // namespace evstore::detail::run_format
