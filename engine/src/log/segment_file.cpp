#include "log/segment_file.hpp"

#include "format/format.hpp"
#include "io/file_error.hpp"

#include <algorithm>
#include <array>

namespace evstore::detail {

result<std::unique_ptr<file>> create_segment(file_system& fs, const std::string& store_dir,
                                             std::uint16_t partition, std::uint64_t segment,
                                             const log_geometry& g, std::uint64_t allocate_to) {
  const std::string dir = log_directory(store_dir);
  const std::string name = segment_relative_path(partition, segment);
  if (auto ec = fs.create_directories(dir)) return io_error_at(ec, "creating directory", "log", 0);
  auto f = fs.open(segment_path(store_dir, partition, segment), open_mode::read_write_create);
  if (!f) return io_error_at(f.error(), "creating", name, 0);
  std::array<std::byte, format::file_header_size> header{};
  format::encode_file_header({.kind = format::file_kind::segment,
                              .stream_id = partition,
                              .segment = static_cast<std::uint32_t>(segment),
                              .segment_size = g.segment_size},
                             header);
  if (auto ec = (*f)->write_at(0, header)) return io_error_at(ec, "writing", name, 0);
  const std::uint64_t size = std::clamp<std::uint64_t>(allocate_to, header.size(), g.segment_size);
  if (auto ec = (*f)->allocate(size)) return io_error_at(ec, "allocating", name, 0);
  if (auto ec = (*f)->sync()) return io_error_at(ec, "syncing", name, 0);
  if (auto ec = fs.sync_directory(dir)) return io_error_at(ec, "syncing directory", "log", 0);
  return std::move(*f);
}

result<opened_segment> open_segment(file_system& fs, const std::string& store_dir, std::uint16_t partition,
                                    std::uint64_t segment, const log_geometry& g, open_mode mode) {
  const std::string path = segment_path(store_dir, partition, segment);
  const std::string name = segment_relative_path(partition, segment);
  opened_segment out;
  auto f = fs.open(path, mode);
  if (!f) {
    if (f.error() == boost::system::errc::no_such_file_or_directory) return out;
    return io_error_at(f.error(), "opening", name, 0);
  }
  out.handle = std::move(*f);
  std::array<std::byte, format::file_header_size> header{};
  auto n = out.handle->read_at(0, header);
  if (!n) return io_error_at(n.error(), "reading", name, 0);
  const auto h = format::decode_file_header(std::span(header.data(), *n), format::file_kind::segment);
  const bool matches = h && h->stream_id == partition && h->segment == segment &&
                       h->segment_size == g.segment_size && h->entry_size == 0 && h->name.empty();
  out.what = matches ? opened_segment::state::ok : opened_segment::state::bad_header;
  return out;
}

}  // namespace evstore::detail
