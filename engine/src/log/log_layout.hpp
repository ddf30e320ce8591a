// Where the segments of the format v2 partition log live, and the arithmetic of
// log offsets (format.hpp, section Segment).
//
// A record is addressed by a log_locator: (partition, offset), offset being the
// partition-wide logical offset = segment * segment_size + in-segment offset.
// In-segment offsets of records start at 256 (after the file header), so the
// first record of a partition is at offset 256 and an empty log ends there.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

inline constexpr std::uint16_t max_partitions = 1000;                    // NNN: three digits
inline constexpr std::uint64_t max_segments = 100'000'000;               // SSSSSSSS: eight digits
inline constexpr std::uint64_t max_log_offset = std::uint64_t{1} << 48;  // offsets are u48
// Segment sizes are whole pages, so records never share a page with a header of
// another segment, and large enough for a header and a few records.
inline constexpr std::uint64_t segment_size_granule = 4096;
inline constexpr std::uint64_t min_segment_size = 2 * segment_size_granule;
inline constexpr std::uint64_t max_segment_size = std::uint64_t{1} << 32;

struct log_locator {
  std::uint16_t partition = 0;
  std::uint64_t offset = 0;  // < max_log_offset
  friend bool operator==(const log_locator&, const log_locator&) = default;
};

// The fixed shape of a partition's segments.
struct log_geometry {
  std::uint64_t segment_size = 0;

  std::uint64_t segment_of(std::uint64_t offset) const { return offset / segment_size; }
  std::uint64_t in_segment(std::uint64_t offset) const { return offset % segment_size; }
  // Logical offset of segment s's first record, and one past its last byte.
  std::uint64_t records_start(std::uint64_t s) const;
  std::uint64_t segment_end(std::uint64_t s) const { return (s + 1) * segment_size; }
  // Largest record a segment can hold.
  std::uint64_t max_record() const;
  // An offset inside a segment's header means the segment's first record.
  std::uint64_t normalize(std::uint64_t offset) const;
};

// invalid_argument unless the size is a multiple of 4 KiB in [8 KiB, 4 GiB].
[[nodiscard]] result<void> check_geometry(const log_geometry& g);

// "p007-00000042.evs"; REQUIRES: partition < max_partitions, segment < max_segments.
std::string segment_name(std::uint16_t partition, std::uint64_t segment);
// <store dir>/log
std::string log_directory(std::string_view store_dir);
// <store dir>/log/<segment_name>
std::string segment_path(std::string_view store_dir, std::uint16_t partition, std::uint64_t segment);
// The path relative to the store directory, for error details.
std::string segment_relative_path(std::uint16_t partition, std::uint64_t segment);

struct segment_id {
  std::uint16_t partition = 0;
  std::uint64_t segment = 0;
  friend bool operator==(const segment_id&, const segment_id&) = default;
};
// The inverse of segment_name; nullopt for any other name.
std::optional<segment_id> parse_segment_name(std::string_view name);

// The segment numbers of one partition present in <store dir>/log, ascending.
// A missing log directory is an empty list.
[[nodiscard]] boost::system::result<std::vector<std::uint64_t>> list_segments(file_system& fs,
                                                                              std::string_view store_dir,
                                                                              std::uint16_t partition);

}  // namespace evstore::detail
