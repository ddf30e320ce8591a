// Lazy loading of streams.
//
// A stream's committed state is loaded on first use, from any thread: a
// binary search over its fixed-size index for the last entry that $all
// confirms (same stream, version, offset and size, position below the
// committed end). Recovery makes that a prefix: it rewrites every entry that
// a crash could have lost.
#include "format/layout.hpp"
#include "store/store_impl.hpp"

#include <algorithm>

namespace evstore::detail {

result<std::optional<format::all_entry>> store_impl::read_all_entry(std::uint64_t position) const {
  const std::string path = layout::all_index(options_.directory);
  auto f = files_.get(path);
  if (!f) return error(f.error(), path);
  std::array<std::byte, format::all_entry_size> buf{};
  auto n = (*f)->file->read_at(format::file_header_size + position * format::all_entry_size, buf);
  if (!n) return error(n.error(), path);
  if (*n < buf.size()) return std::optional<format::all_entry>{};
  return format::decode_all_entry(buf);
}

result<bool> store_impl::entry_is_committed(const stream_state& s, std::uint64_t version,
                                            std::uint64_t count) const {
  auto f = files_.get(s.index_path);
  if (!f) return error(f.error(), s.index_path);
  std::array<std::byte, format::stream_entry_size> buf{};
  auto n = (*f)->file->read_at(format::file_header_size + version * format::stream_entry_size, buf);
  if (!n) return error(n.error(), s.index_path);
  if (*n < buf.size()) return false;
  const auto se = format::decode_stream_entry(buf);
  if (!se || se->position >= count) return false;
  auto ae = read_all_entry(se->position);
  if (!ae) return ae.error();
  return *ae && (*ae)->stream_id == s.id && (*ae)->version == version && (*ae)->offset == se->offset &&
         (*ae)->size == se->size;
}

result<void> store_impl::ensure_loaded(stream_state& s) const {
  if (s.loaded.load(std::memory_order_acquire)) return {};
  std::lock_guard lock(s.load_mutex);
  if (s.loaded.load(std::memory_order_relaxed)) return {};
  // A follower's refresh() publishes a larger $all count and then moves the
  // streams already loaded; one being loaded meanwhile is not, so the load
  // goes again if the count moved while it ran. Both sides are seq_cst (a
  // store then a load each): either refresh() sees this stream loaded (and
  // waits for the lock to move it) or this load sees the new count.
  for (;;) {
    const std::uint64_t count_all = all_count_.load(std::memory_order_seq_cst);
    if (auto r = load_against(s, count_all); !r) return r;
    s.loaded.store(true, std::memory_order_seq_cst);
    if (!options_.read_only || all_count_.load(std::memory_order_seq_cst) == count_all) return {};
  }
}

result<void> store_impl::load_against(stream_state& s, std::uint64_t count_all) const {
  if (s.first_position >= count_all) {
    // Its first append is not committed (a reader's view of a stream a writer
    // is creating): no events yet, whatever its files hold.
    s.committed_end = format::file_header_size;
    return {};
  }
  auto f = files_.get(s.index_path);
  if (!f) {
    if (f.error() == boost::system::errc::no_such_file_or_directory) {
      return corruption("stream index missing for a stream with events", relative(s.index_path), 0);
    }
    return error(f.error(), s.index_path);
  }
  std::array<std::byte, format::file_header_size> header{};
  auto n = (*f)->file->read_at(0, header);
  if (!n) return error(n.error(), s.index_path);
  const auto h = format::decode_file_header(header, format::file_kind::stream_index);
  if (!h || h->stream_id != s.id || h->name != s.name) {
    return corruption("bad stream index header", relative(s.index_path), 0);
  }
  // The file's real size: a writer in another process may have grown it.
  auto file_size = (*f)->file->size();
  if (!file_size) return error(file_size.error(), s.index_path);
  const std::uint64_t size = *file_size;
  const std::uint64_t capacity =
      size > format::file_header_size ? (size - format::file_header_size) / format::stream_entry_size : 0;
  auto found = committed_prefix(s, count_all, capacity);
  if (!found) return found.error();
  const std::uint64_t lo = *found;
  std::uint64_t end = format::file_header_size;
  if (lo > 0) {
    std::array<std::byte, format::stream_entry_size> buf{};
    auto got = (*f)->file->read_at(format::file_header_size + (lo - 1) * format::stream_entry_size, buf);
    if (!got) return error(got.error(), s.index_path);
    const auto se = format::decode_stream_entry(buf);
    if (!se) return corruption("bad stream index entry", relative(s.index_path), format::file_header_size);
    end = se->offset + se->size;
  }
  s.committed_end = end;
  s.committed_count.store(lo, std::memory_order_release);
  return {};
}

// The number of committed entries of `capacity` in the stream's index.
// Committed versions are a prefix of the index (recovery rewrote any entry
// that could be missing), so binary search for its end.
result<std::uint64_t> store_impl::committed_prefix(const stream_state& s, std::uint64_t count_all,
                                                   std::uint64_t capacity) const {
  std::uint64_t lo = 0, hi = capacity;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    auto committed = entry_is_committed(s, mid, count_all);
    if (!committed) return committed.error();
    if (*committed) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  // The search assumes a prefix. A damaged entry inside the committed part
  // (a disk that garbles a whole sector around a torn write, or bit rot)
  // would end it early and silently hide later events: look a little past
  // the end for a committed entry and refuse if there is one.
  constexpr std::uint64_t look_past = 256;
  for (std::uint64_t v = lo + 1; v < std::min(capacity, lo + 1 + look_past); ++v) {
    auto later = entry_is_committed(s, v, count_all);
    if (!later) return later.error();
    if (*later) {
      return corruption("damaged stream index entry before committed ones", relative(s.index_path),
                        format::file_header_size + lo * format::stream_entry_size);
    }
  }
  return lo;
}

}  // namespace evstore::detail
