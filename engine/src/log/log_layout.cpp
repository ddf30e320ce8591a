#include "log/log_layout.hpp"

#include "format/format.hpp"
#include "format/layout.hpp"
#include "require.hpp"

#include <algorithm>
#include <cstdio>

namespace evstore::detail {
namespace {

// Digits of a fixed-width decimal field, nullopt unless all are digits.
std::optional<std::uint64_t> parse_digits(std::string_view s) {
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::uint64_t log_geometry::records_start(std::uint64_t s) const {
  return s * segment_size + format::segment_records_start;
}

std::uint64_t log_geometry::max_record() const { return segment_size - format::segment_records_start; }

std::uint64_t log_geometry::normalize(std::uint64_t offset) const {
  return in_segment(offset) < format::segment_records_start ? records_start(segment_of(offset)) : offset;
}

result<void> check_geometry(const log_geometry& g) {
  if (g.segment_size < min_segment_size || g.segment_size > max_segment_size ||
      g.segment_size % segment_size_granule != 0) {
    return error{errc::invalid_argument, "segment size " + std::to_string(g.segment_size) +
                                             " is not a multiple of 4096 in [8 KiB, 4 GiB]"};
  }
  return {};
}

std::string segment_name(std::uint16_t partition, std::uint64_t segment) {
  EVSTORE_REQUIRE(partition < max_partitions && segment < max_segments);
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%03u-%08llu.evs", static_cast<unsigned>(partition),
                static_cast<unsigned long long>(segment));
  return buf;
}

std::string log_directory(std::string_view store_dir) { return layout::join(store_dir, "log"); }

std::string segment_path(std::string_view store_dir, std::uint16_t partition, std::uint64_t segment) {
  return layout::join(log_directory(store_dir), segment_name(partition, segment));
}

std::string segment_relative_path(std::uint16_t partition, std::uint64_t segment) {
  return "log/" + segment_name(partition, segment);
}

std::optional<segment_id> parse_segment_name(std::string_view name) {
  // p NNN - SSSSSSSS .evs
  if (name.size() != 17 || name[0] != 'p' || name[4] != '-' || name.substr(13) != ".evs") return std::nullopt;
  const auto partition = parse_digits(name.substr(1, 3));
  const auto segment = parse_digits(name.substr(5, 8));
  if (!partition || !segment) return std::nullopt;
  return segment_id{static_cast<std::uint16_t>(*partition), *segment};
}

boost::system::result<std::vector<std::uint64_t>> list_segments(file_system& fs, std::string_view store_dir,
                                                                std::uint16_t partition) {
  const std::string dir = log_directory(store_dir);
  if (!fs.exists(dir)) return std::vector<std::uint64_t>{};
  auto names = fs.list(dir);
  if (!names) return names.error();
  std::vector<std::uint64_t> segments;
  for (const std::string& name : *names) {
    if (auto id = parse_segment_name(name); id && id->partition == partition) segments.push_back(id->segment);
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

}  // namespace evstore::detail
