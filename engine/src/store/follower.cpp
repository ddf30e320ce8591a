// Following a writer from a read-only store: refresh() reads what the
// writer added (catalog, $all tail, head) and publishes it.
//
// A read-only store publishes only the part of the writer's $all whose stream
// index entries are already written (indexed_prefix), never past the head the
// writer acknowledged, and forgets streams the writer's recovery cut.
#include "format/layout.hpp"
#include "links/indexer.hpp"
#include "store/store_impl.hpp"

#include <algorithm>

namespace evstore::detail {

result<std::uint64_t> store_impl::indexed_prefix(std::uint64_t from,
                                                 const std::vector<format::all_entry>& tail) const {
  // A writer's flush writes a stream's index entries after its $all entries:
  // a missing file or a short or invalid entry is one not written yet; a
  // failed read is an error (publishing less would hide nothing for good, but
  // the caller must know its view is stale).
  std::uint64_t usable = from;
  for (std::uint64_t p = from; p < from + tail.size(); ++p) {
    const format::all_entry& e = tail[p - from];
    const stream_state* s = registry_.by_id(e.stream_id);
    auto f = files_.get(s->index_path);
    if (!f && f.error() == boost::system::errc::no_such_file_or_directory) break;
    if (!f) return read_error(f.error(), s->index_path, 0);
    std::array<std::byte, format::stream_entry_size> buf{};
    const std::uint64_t at = format::file_header_size + e.version * format::stream_entry_size;
    auto n = (*f)->file->read_at(at, buf);
    if (!n) return read_error(n.error(), s->index_path, at);
    const auto se = *n == buf.size() ? format::decode_stream_entry(buf) : std::nullopt;
    if (!se || se->position != p || se->offset != e.offset) break;
    if (e.commit_end) usable = p + 1;
  }
  return usable;
}

// A follower moves a loaded stream to a newly published event of it (never
// back: a load against the new count may have been there first).
void store_impl::advance_loaded(stream_state& s, const format::all_entry& e) {
  std::lock_guard lock(s.load_mutex);
  if (s.committed_count.load(std::memory_order_relaxed) > e.version) return;
  s.committed_end = e.offset + e.size;
  s.committed_count.store(e.version + 1, std::memory_order_release);
}

// A follower reads catalog records as soon as the writer writes them, before
// the flush that wrote them completes. If that flush never completes (an I/O
// error, a kill -9), the writer's recovery cuts the records and gives their
// ids to the next new streams: this store's id -> name map no longer matches
// $all, and its scan would stop for good at the first entry of such a stream.
// Only streams without published events can be cut (recovery keeps all the
// head acknowledged), so only their records are read again; from the first
// that changed, the streams are forgotten and read_catalog() reads anew.
result<void> store_impl::forget_cut_streams() {
  const std::uint32_t known = registry_.size();
  const std::uint64_t published = all_count();
  std::uint32_t first = known;
  while (first > 0 && registry_.by_id(first - 1)->first_position >= published) --first;
  if (first == known) return {};
  // Recovery removes a cut stream's files, and the writer's next append of
  // that name may write the very same record (id, name, first position) with
  // new files: handles an earlier scan opened would read the removed ones for
  // good. Such streams have no published event, so no reader needs them.
  for (std::uint32_t id = first; id < known; ++id) {
    files_.erase(registry_.by_id(id)->partition_path);
    files_.erase(registry_.by_id(id)->index_path);
  }
  const std::string path = layout::catalog(options_.directory);
  auto f = files_.get(path);
  if (!f) return error(f.error(), path);
  std::vector<std::byte> bytes(catalog_end_ - catalog_offsets_[first]);
  auto n = (*f)->file->read_at(catalog_offsets_[first], bytes);
  if (!n) return error(n.error(), path);
  bytes.resize(*n);
  std::uint32_t same = first;
  for (std::uint64_t at = 0; same < known; ++same) {
    const stream_state& s = *registry_.by_id(same);
    format::catalog_record r;
    std::uint32_t size = 0;
    if (format::decode_catalog_record(std::span(bytes).subspan(at), r, size) != format::decode_status::ok ||
        r.stream_id != s.id || r.name != s.name || r.first_position != s.first_position) {
      break;
    }
    at += size;
  }
  if (same == known) return {};
  for (std::uint32_t id = same; id < known; ++id) {
    // A new stream of the same name is a new pair of files to this store.
    files_.erase(registry_.by_id(id)->partition_path);
    files_.erase(registry_.by_id(id)->index_path);
  }
  catalog_end_ = catalog_offsets_[same];
  catalog_offsets_.resize(same);
  registry_.forget(same);
  return {};
}

result<std::uint64_t> store_impl::refresh() {
  if (!options_.read_only) return all_count();
  std::lock_guard serial(refresh_mutex_);
  if (auto r = forget_cut_streams(); !r) return r.error();
  if (auto r = read_catalog(); !r) return r.error();
  const std::uint64_t from = all_count();
  std::vector<format::all_entry> tail;
  auto scanned = scan_all_tail(from, tail);
  if (!scanned) return scanned.error();
  std::uint64_t end = *scanned;
  // Never past what the writer has acknowledged (fsynced, in durable mode).
  auto head = read_head();
  if (!head) return head.error();
  if (*head) end = std::max(from, std::min(end, **head));
  while (end > from && !tail[end - from - 1].commit_end) --end;
  tail.resize(end - from);
  auto prefix = indexed_prefix(from, tail);
  if (!prefix) return prefix.error();
  const std::uint64_t usable = *prefix;
  // Streams already loaded move before $all does (a reader of $all then finds
  // the events in their streams too); the others load lazily against the new
  // count, and a load already running is caught by the second pass (see
  // ensure_loaded).
  std::vector<std::uint64_t> not_loaded;
  for (std::uint64_t p = from; p < usable; ++p) {
    stream_state* s = registry_.by_id(tail[p - from].stream_id);
    if (s->loaded.load(std::memory_order_acquire)) {
      advance_loaded(*s, tail[p - from]);
    } else {
      not_loaded.push_back(p);
    }
  }
  all_count_.store(usable, std::memory_order_seq_cst);
  for (std::uint64_t p : not_loaded) {
    stream_state* s = registry_.by_id(tail[p - from].stream_id);
    if (s->loaded.load(std::memory_order_seq_cst)) advance_loaded(*s, tail[p - from]);
  }
  auto links_moved = indexer_->refresh();
  if (!links_moved) return links_moved.error();
  // Wake subscribers of what moved.
  if (usable > from && notifier_.has_waiters()) {
    notifier_.notify("$all");
    std::vector<std::uint32_t> touched;
    for (std::uint64_t p = from; p < usable; ++p) touched.push_back(tail[p - from].stream_id);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (std::uint32_t id : touched) notifier_.notify(registry_.by_id(id)->name);
  }
  if (*links_moved) indexer_->notify_links();
  return usable;
}

result<std::optional<std::uint64_t>> store_impl::read_head() const {
  const std::string path = layout::head(options_.directory);
  auto f = files_.get(path);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory)
    return std::optional<std::uint64_t>{};
  if (!f) return read_error(f.error(), path, 0);
  std::array<std::byte, format::head_size> buf{};
  auto n = (*f)->file->read_at(0, buf);
  if (!n) return read_error(n.error(), path, 0);
  // Torn (the writer rewrites it in place) or short: no head.
  if (*n != buf.size()) return std::optional<std::uint64_t>{};
  return format::decode_head(buf);
}

}  // namespace evstore::detail
