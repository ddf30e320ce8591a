#include "log/partition_reader.hpp"

#include "io/file_error.hpp"

namespace evstore::detail {

partition_reader::partition_reader(std::shared_ptr<file_cache> cache, std::string store_dir,
                                   log_geometry geometry)
    : cache_(std::move(cache)), store_dir_(std::move(store_dir)), geometry_(geometry) {}

result<void> partition_reader::read(log_locator at, std::span<std::byte> out) const {
  const std::uint64_t segment = geometry_.segment_of(at.offset);
  const std::uint64_t offset = geometry_.in_segment(at.offset);
  if (at.partition >= max_partitions || segment >= max_segments || offset < format::segment_records_start ||
      out.size() > geometry_.segment_size - offset) {
    return error{errc::invalid_argument, "no record can be at partition " + std::to_string(at.partition) +
                                             " offset " + std::to_string(at.offset)};
  }
  const std::string name = segment_relative_path(at.partition, segment);
  auto f = cache_->get(segment_path(store_dir_, at.partition, segment));
  if (!f) {
    if (f.error() == boost::system::errc::no_such_file_or_directory) {
      return corruption_at("segment missing", name, offset);
    }
    return io_error_at(f.error(), "opening", name, offset);
  }
  auto n = (*f)->file->read_at(offset, out);
  if (!n) return io_error_at(n.error(), "reading", name, offset);
  if (*n != out.size()) return corruption_at("segment too short", name, offset);
  return {};
}

result<void> partition_reader::read_record(log_locator at, std::span<std::byte> out) const {
  if (auto ok = read(at, out); !ok) return ok;
  std::uint32_t size = 0;
  if (format::check_record_framing(out, size) != format::decode_status::ok || size != out.size()) {
    return corruption_at("bad record", segment_relative_path(at.partition, geometry_.segment_of(at.offset)),
                         geometry_.in_segment(at.offset));
  }
  return {};
}

void partition_reader::forget(std::uint16_t partition, std::uint64_t segment) const {
  cache_->erase(segment_path(store_dir_, partition, segment));
}

}  // namespace evstore::detail
