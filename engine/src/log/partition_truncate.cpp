#include "log/partition_truncate.hpp"

#include "format/format.hpp"
#include "io/file_error.hpp"
#include "log/segment_file.hpp"

#include <algorithm>
#include <vector>

namespace evstore::detail {

result<partition_cut> plan_partition_cut(file_system& fs, const std::string& store_dir,
                                         std::uint16_t partition, const log_geometry& g, std::uint64_t end) {
  if (auto ok = check_geometry(g); !ok) return ok.error();
  end = g.normalize(end);
  const std::uint64_t segment = g.segment_of(end);
  if (partition >= max_partitions || segment >= max_segments) {
    return error{errc::invalid_argument,
                 "no partition log position " + std::to_string(partition) + "/" + std::to_string(end)};
  }
  partition_cut cut;
  cut.partition = partition;
  cut.segment = segment;
  auto segments = list_segments(fs, store_dir, partition);
  if (!segments) return io_error_at(segments.error(), "listing", "log", 0);
  for (const std::uint64_t s : *segments) {
    if (s > segment) cut.later_segments.push_back(s);
  }
  const std::string name = segment_relative_path(partition, segment);
  auto opened = open_segment(fs, store_dir, partition, segment, g, open_mode::read_write);
  if (!opened) return opened.error();
  if (opened->what != opened_segment::state::ok) {
    // Nothing to cut in a segment without records; partition_writer recreates it.
    if (end == g.records_start(segment)) return cut;
    return corruption_at(
        opened->what == opened_segment::state::missing ? "segment missing" : "bad segment header", name, 0);
  }
  cut.from = g.in_segment(end);
  // The last non-zero byte past `from`, read backwards from the file's end in
  // chunks (a segment may be allocated far past its records).
  auto size = opened->handle->size();
  if (!size) return io_error_at(size.error(), "sizing", name, 0);
  std::vector<std::byte> chunk(std::size_t{64} << 10);
  for (std::uint64_t hi = std::min(*size, g.segment_size); hi > cut.from && cut.dirty == 0;) {
    const std::uint64_t lo = hi - std::min<std::uint64_t>(hi - cut.from, chunk.size());
    const std::span<std::byte> piece(chunk.data(), static_cast<std::size_t>(hi - lo));
    auto n = opened->handle->read_at(lo, piece);
    if (!n) return io_error_at(n.error(), "reading", name, lo);
    const auto bytes = piece.first(std::min(*n, piece.size()));
    const auto last =
        std::find_if(bytes.rbegin(), bytes.rend(), [](std::byte b) { return b != std::byte{0}; });
    if (last != bytes.rend()) cut.dirty = static_cast<std::size_t>(lo + (bytes.rend() - last) - cut.from);
    hi = lo;
  }
  if (cut.dirty > 0) cut.handle = std::move(opened->handle);
  return cut;
}

// Later segments go first: a crash in between leaves a tail the next scan
// finds and cuts again, never a segment with records after a hole.
result<void> apply_partition_cut(file_system& fs, const std::string& store_dir, partition_cut& cut,
                                 file_cache* cache) {
  for (const std::uint64_t s : cut.later_segments) {
    const std::string path = segment_path(store_dir, cut.partition, s);
    if (cache) cache->erase(path);
    if (auto ec = fs.remove(path))
      return io_error_at(ec, "removing", segment_relative_path(cut.partition, s), 0);
  }
  if (!cut.later_segments.empty()) {
    if (auto ec = fs.sync_directory(log_directory(store_dir)))
      return io_error_at(ec, "syncing directory", "log", 0);
  }
  if (!cut.handle) return {};
  const std::string name = segment_relative_path(cut.partition, cut.segment);
  // In chunks: garbage may lie far past the cut in an allocated segment.
  const std::vector<std::byte> zeros(std::min<std::size_t>(cut.dirty, std::size_t{64} << 10));
  for (std::size_t done = 0; done < cut.dirty;) {
    const std::size_t n = std::min(zeros.size(), cut.dirty - done);
    if (auto ec = cut.handle->write_at(cut.from + done, format::bytes(zeros).first(n)))
      return io_error_at(ec, "writing", name, cut.from + done);
    done += n;
  }
  if (auto ec = cut.handle->sync()) return io_error_at(ec, "syncing", name, 0);
  return {};
}

result<void> truncate_partition(file_system& fs, const std::string& store_dir, std::uint16_t partition,
                                const log_geometry& g, std::uint64_t end, file_cache* cache) {
  auto cut = plan_partition_cut(fs, store_dir, partition, g, end);
  if (!cut) return cut.error();
  return apply_partition_cut(fs, store_dir, *cut, cache);
}

}  // namespace evstore::detail
