#include "log/partition_truncate.hpp"

#include "format/format.hpp"
#include "io/file_error.hpp"
#include "log/segment_file.hpp"

#include <algorithm>
#include <vector>

namespace evstore::detail {
namespace {

result<void> remove_later_segments(file_system& fs, const std::string& store_dir, std::uint16_t partition,
                                   std::uint64_t last_kept, file_cache* cache) {
  auto segments = list_segments(fs, store_dir, partition);
  if (!segments) return io_error_at(segments.error(), "listing", "log", 0);
  bool removed = false;
  for (const std::uint64_t s : *segments) {
    if (s <= last_kept) continue;
    const std::string path = segment_path(store_dir, partition, s);
    if (cache) cache->erase(path);
    if (auto ec = fs.remove(path)) return io_error_at(ec, "removing", segment_relative_path(partition, s), 0);
    removed = true;
  }
  if (removed) {
    if (auto ec = fs.sync_directory(log_directory(store_dir)))
      return io_error_at(ec, "syncing directory", "log", 0);
  }
  return {};
}

}  // namespace

result<void> truncate_partition(file_system& fs, const std::string& store_dir, std::uint16_t partition,
                                const log_geometry& g, std::uint64_t end, file_cache* cache) {
  if (auto ok = check_geometry(g); !ok) return ok.error();
  end = g.normalize(end);
  const std::uint64_t segment = g.segment_of(end);
  if (partition >= max_partitions || segment >= max_segments) {
    return error{errc::invalid_argument,
                 "no partition log position " + std::to_string(partition) + "/" + std::to_string(end)};
  }
  if (auto ok = remove_later_segments(fs, store_dir, partition, segment, cache); !ok) return ok;
  const std::string name = segment_relative_path(partition, segment);
  auto opened = open_segment(fs, store_dir, partition, segment, g, open_mode::read_write);
  if (!opened) return opened.error();
  if (opened->what != opened_segment::state::ok) {
    // Nothing to cut in a segment without records; partition_writer::open recreates it.
    if (end == g.records_start(segment)) return {};
    return corruption_at(
        opened->what == opened_segment::state::missing ? "segment missing" : "bad segment header", name, 0);
  }
  const std::uint64_t from = g.in_segment(end);
  std::vector<std::byte> tail(static_cast<std::size_t>(g.segment_size - from));
  auto n = opened->handle->read_at(from, tail);
  if (!n) return io_error_at(n.error(), "reading", name, from);
  tail.resize(*n);
  const auto last = std::find_if(tail.rbegin(), tail.rend(), [](std::byte b) { return b != std::byte{0}; });
  if (last == tail.rend()) return {};
  const auto dirty = static_cast<std::size_t>(tail.rend() - last);
  std::fill_n(tail.begin(), dirty, std::byte{0});
  if (auto ec = opened->handle->write_at(from, format::bytes(tail).first(dirty))) {
    return io_error_at(ec, "writing", name, from);
  }
  if (auto ec = opened->handle->sync()) return io_error_at(ec, "syncing", name, 0);
  return {};
}

}  // namespace evstore::detail
