// Following a writer from a read-only store: open and refresh() read what the
// writer published (its head) and index it in this process.
//
// The writer writes a flush's records, then its $all entries, then the head
// (flush.cpp): everything below the head is in place. A follower publishes
// exactly the head, never more; it reads the $all entries and records from
// the end of what the index's runs cover up to the head and adds them to its
// own memtable (the writer's memtable lives in the writer's memory only).
// Nothing here writes a file.
#include "format/layout.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "links/indexer.hpp"
#include "store/store_impl.hpp"

#include <algorithm>

namespace evstore::detail {
namespace {

// Events read at once while indexing a range.
constexpr std::uint64_t index_chunk = 4096;

}  // namespace

result<void> store_impl::open_follower() {
  auto index = stream_index::open(fs_, layout::index_dir(options_.directory),
                                  {.read_only = true, .cache = index_cache_});
  if (!index) return index.error();
  index_ = std::move(*index);
  // The stream count: the checkpoint's, plus the streams created past it.
  auto cp = read_checkpoint();
  if (!cp) return cp.error();
  auto head = read_head();
  if (!head) return head.error();
  const std::uint64_t published = std::max(cp->all_count, head->value_or(0));
  checkpoint_count_ = cp->all_count;
  stream_count_.store(cp->stream_count, std::memory_order_release);
  const std::uint64_t indexed = index_->durable_end();
  auto end = index_range(std::min(indexed, cp->all_count), published, nullptr);
  if (!end) return end.error();
  all_count_.store(std::max(*end, std::min(indexed, cp->all_count)), std::memory_order_release);
  return {};
}

result<std::uint64_t> store_impl::index_range(std::uint64_t from, std::uint64_t to,
                                              std::vector<std::string>* touched) {
  const std::uint64_t indexed = index_->durable_end();
  std::vector<located_record> located;
  std::vector<format::decoded_record> records;
  // Held back until their commit's last event is read: only whole commits
  // are published.
  std::vector<std::string> names;
  struct pending {
    std::size_t name;
    std::uint64_t version, position;
    bool first;
  };
  std::vector<pending> held;
  std::vector<stream_index::entry> additions;
  std::uint64_t new_streams = 0;
  std::uint64_t end = from;  // after the last whole commit
  bool one_by_one = false;
  for (std::uint64_t at = from; at < to;) {
    const std::uint64_t n = one_by_one ? 1 : std::min(index_chunk, to - at);
    located.assign(n, {});
    for (std::uint64_t i = 0; i < n; ++i) located[i].position = at + i;
    page_storage storage;
    auto got = locate(located);
    if (got) got = read_records(located, storage, records);
    if (!got) {
      // Past the checkpoint, a writer that crashed (or lost power) may have
      // left $all entries or records torn that its recovery will rewrite:
      // publish the whole commits before them, reading one event at a time.
      // Below the checkpoint it is damage.
      if (got.error().code != errc::corrupt_data || at < checkpoint_count_) return got.error();
      if (one_by_one) break;
      one_by_one = true;
      continue;
    }
    for (const format::decoded_record& r : records) {
      names.emplace_back(r.fields.stream);
      held.push_back({names.size() - 1, r.fields.version, r.fields.position, r.fields.version == 0});
      if (!r.fields.commit_end) continue;
      additions.clear();
      for (const pending& h : held) {
        if (h.position >= indexed) additions.push_back({names[h.name], h.version, h.position});
        if (h.first && h.position >= checkpoint_count_) ++new_streams;
        if (touched != nullptr && (touched->empty() || touched->back() != names[h.name]))
          touched->push_back(names[h.name]);
      }
      index_->add_batch(additions);
      held.clear();
      names.clear();
      end = r.fields.position + 1;
    }
    at += n;
  }
  stream_count_.fetch_add(new_streams, std::memory_order_release);
  return end;
}

result<std::uint64_t> store_impl::refresh() {
  if (!options_.read_only) return all_count();
  std::lock_guard lock(refresh_mutex_);
  const std::uint64_t from = all_count();
  // The writer's new runs first (they drop what they cover from this store's
  // memtable), then its head, which is never below what the runs cover.
  if (auto indexed = index_->refresh(); !indexed) return indexed.error();
  auto head = read_head();
  if (!head) return head.error();
  // No head (torn while the writer rewrites it), or nothing new. A head
  // below ours (a writer's recovery after a power loss in buffered mode) is
  // not followed back: this store keeps what it read (docs/architecture.md).
  std::uint64_t to = from;
  std::vector<std::string> touched;
  if (*head && **head > from) {
    auto end = index_range(from, **head, &touched);
    if (!end) return end.error();
    to = *end;
    // Before the count that publishes them, as the writer does (flush.cpp).
    // A failed read publishes the count all the same (its entries are in the
    // index now) and the next refresh folds the rest.
    auto folded = fold_lifecycle(to);
    all_count_.store(to, std::memory_order_seq_cst);
    if (!folded) return folded.error();
  } else if (auto folded = fold_lifecycle(to); !folded) {
    return folded.error();
  }
  auto links_moved = indexer_->refresh();
  if (!links_moved) return links_moved.error();
  // Wake subscribers of what moved.
  if (to > from && notifier_.has_waiters()) {
    notifier_.notify("$all");
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const std::string& name : touched) notifier_.notify(name);
  }
  if (*links_moved) indexer_->notify_links();
  return to;
}

result<std::optional<std::uint64_t>> store_impl::read_head() const {
  const std::string path = layout::head(options_.directory);
  auto f = files_->get(path);
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
