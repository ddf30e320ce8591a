// Link-file storage (see indexer.hpp): the progress file, each link's file
// (created, counted on load, read, cut back, reset, appended to), a link that
// fails alone, and a follower's refresh of what the writer's indexer wrote.
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "links/indexer.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace evstore::detail {
namespace {

std::string link_path(const std::string& dir, std::string_view name) {
  return layout::join(dir, encode_stream_file_name(name) + ".lnk");
}

}  // namespace

// The stored progress, at most the published $all; nullopt if missing or
// damaged (which only means more to redo).
result<std::optional<std::uint64_t>> indexer::read_progress() const {
  file_system& fs = *store_.options().file_system;
  const std::string path = layout::join(dir_, "progress");
  if (!fs.exists(path)) return std::optional<std::uint64_t>{};
  auto f = fs.open(path, open_mode::read_only);
  if (!f) return error(f.error(), path);
  std::array<std::byte, format::link_progress_size> buf{};
  auto n = (*f)->read_at(0, buf);
  if (!n) return error(n.error(), path);
  const auto p = *n == buf.size() ? format::decode_link_progress(buf) : std::nullopt;
  if (!p) return std::optional<std::uint64_t>{};
  return p;
}

link_state* indexer::find_link(std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = links_.find(name);
  return it == links_.end() ? nullptr : it->second.get();
}

link_state& indexer::link_for(const std::string& name) {
  if (link_state* l = find_link(name)) return *l;
  std::unique_lock lock(mutex_);
  auto& slot = links_[name];
  if (!slot) {
    slot = std::make_unique<link_state>();
    slot->name = name;
    slot->path = link_path(dir_, name);
  }
  return *slot;
}

// Counts the entries below the progress: they are complete (indexer.hpp).
// Anything after them is the tail of a step that never finished.
result<void> indexer::load(link_state& l) const {
  if (l.loaded.load(std::memory_order_acquire)) return {};
  std::lock_guard lock(l.load_mutex);
  if (l.loaded.load(std::memory_order_relaxed)) return {};
  const std::uint64_t limit = progress_.load(std::memory_order_acquire);
  file_system& fs = *store_.options().file_system;
  std::uint64_t count = 0;
  if (fs.exists(l.path)) {
    // Through the cache: reads then use the descriptor the count came from.
    auto cached = store_.files().get(l.path);
    if (!cached) return error(cached.error(), l.path);
    file* f = (*cached)->file.get();
    auto size = f->size();
    if (!size) return error(size.error(), l.path);
    const std::uint64_t capacity =
        *size > format::file_header_size ? (*size - format::file_header_size) / format::link_entry_size : 0;
    auto below = [&](std::uint64_t i) -> result<bool> {
      std::array<std::byte, format::link_entry_size> buf{};
      auto n = f->read_at(format::file_header_size + i * format::link_entry_size, buf);
      if (!n) return error(n.error(), l.path);
      const auto p = *n == buf.size() ? format::decode_link_entry(buf) : std::nullopt;
      return p && *p < limit;
    };
    std::uint64_t lo = 0, hi = capacity;
    while (lo < hi) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      auto ok = below(mid);
      if (!ok) return ok.error();
      if (*ok) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    count = lo;
  }
  l.count.store(count, std::memory_order_release);
  l.loaded.store(true, std::memory_order_release);
  return {};
}

result<std::optional<std::uint64_t>> indexer::count(std::string_view name) const {
  if (!is_link(name)) return std::optional<std::uint64_t>{};
  link_state* l = find_link(name);
  if (l == nullptr) {
    // A system stream nobody touched in this process yet: maybe on disk. No
    // file, no state: on the writer a read of a name that does not exist
    // keeps nothing (every state is walked on each indexer step; the indexer
    // wakes subscribers by name). A follower keeps one: notify_links() wakes
    // the subscribers of the states it has once the writer creates the file.
    const std::string path = link_path(dir_, name);
    if (!store_.options().read_only && !store_.options().file_system->exists(path)) {
      return std::optional<std::uint64_t>{0};
    }
    l = &const_cast<indexer*>(this)->link_for(std::string(name));
  }
  if (l->failed.load(std::memory_order_acquire)) {
    std::lock_guard lock(l->load_mutex);
    if (l->failure.code) return l->failure;
  }
  if (auto r = load(*l); !r) return r.error();
  return std::optional<std::uint64_t>{l->count.load(std::memory_order_acquire)};
}

result<read_page> indexer::read(std::string_view name, const read_options& o) const {
  auto n = count(name);
  if (!n) return n.error();
  const std::uint64_t published = n->value_or(0);
  // Null only for a system stream with no file (published is 0 then).
  const link_state* l = find_link(name);
  // Entry numbers [first, first + k) of this read, clipped to what is published.
  std::uint64_t first = 0, k = 0;
  if (o.max_count > 0 && published > 0) {
    if (o.direction == direction::forward) {
      first = o.from;
      k = o.from >= published ? 0 : std::min(o.max_count, published - o.from);
    } else {
      const std::uint64_t last = std::min(o.from, published - 1);
      k = std::min(o.max_count, last + 1);
      first = last + 1 - k;
    }
  }
  std::vector<std::uint64_t> positions(k);
  if (k > 0) {
    auto f = store_.files().get(l->path);
    if (!f) return error(f.error(), l->path);
    std::vector<std::byte> buf(k * format::link_entry_size);
    const std::uint64_t at = format::file_header_size + first * format::link_entry_size;
    auto got = (*f)->file->read_at(at, buf);
    if (!got) return error(got.error(), l->path);
    if (*got != buf.size())
      return store_impl::corruption("link file shorter than its count", l->path, at + *got);
    for (std::uint64_t i = 0; i < k; ++i) {
      const auto p = format::decode_link_entry(
          std::span(buf).subspan(i * format::link_entry_size, format::link_entry_size));
      if (!p || *p >= store_.all_count() || (i > 0 && *p <= positions[i - 1])) {
        return store_impl::corruption("bad link entry", l->path, at + i * format::link_entry_size);
      }
      positions[i] = *p;
    }
  }
  std::uint64_t got = 0;
  auto page = store_.read_positions(std::move(positions), first, o.max_bytes, o.direction, &got);
  if (!page) return page.error();
  // The byte budget may have cut the page short: from its far end in reading order.
  if (got < k) {
    if (o.direction == direction::backward) first += k - got;
    k = got;
  }
  if (o.direction == direction::backward) std::reverse(page->events.begin(), page->events.end());
  if (o.direction == direction::forward) {
    page->next = first + k;
    page->end = page->next >= published;
  } else {
    page->end = first == 0 || k == 0;
    page->next = page->end ? 0 : first - 1;
  }
  return page;
}

result<bool> indexer::refresh() {
  // A follower: its published $all grew; links follow the writer's progress
  // file. Reload counts lazily against the new progress.
  auto p = read_progress();
  if (!p) return p.error();
  auto redefined = load_definitions();
  if (!redefined) return redefined.error();
  // Never past the $all this store has read (the writer's recovery may have
  // cut what the progress file still counts).
  const std::uint64_t progress =
      *p ? std::min(**p, store_.all_count()) : progress_.load(std::memory_order_acquire);
  const bool moved = progress != progress_.load(std::memory_order_acquire);
  if (!moved && !*redefined) return false;
  if (moved) progress_.store(progress, std::memory_order_release);
  // The writer replaces a read stream's file when it deletes or (re)builds
  // it: a descriptor cached before may be of a deleted file. Drop it with the
  // count, so that the next load and the reads after it open the file the
  // path names now. System streams' files are never replaced.
  std::shared_lock lock(mutex_);
  for (auto& [name, l] : links_) {
    std::lock_guard loading(l->load_mutex);
    l->loaded.store(false, std::memory_order_release);
    if (!is_system_name(name)) store_.files().erase(l->path);
  }
  return true;
}

void indexer::notify_links() const {
  if (!store_.subscriptions().has_waiters()) return;
  std::vector<std::string> names;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, l] : links_) names.push_back(name);
  }
  for (const auto& n : names) store_.subscriptions().notify(n);
}

// A link that cannot be written (a name the file system refuses, a file it
// cannot create) must not stop the others. Its published entries stay and
// reads of it fail with the error. While any link has failed, links/progress
// is not advanced (indexer.hpp): the next open redoes $all from there and so
// rebuilds it, while this process keeps every other link current.
void indexer::fail_link(link_state& l, boost::system::error_code ec, std::string_view what) {
  l.pending.clear();
  l.pending_entries = 0;
  l.dirty = false;
  l.unsynced_dirs.clear();
  if (!l.failed.load(std::memory_order_relaxed)) {
    evstore::error e(ec, std::string(what) + " the link file of " + l.name + " (" + l.path + ")");
    {
      std::lock_guard lock(l.load_mutex);
      l.failure = e;
    }
    l.failed.store(true, std::memory_order_release);
    failed_links_.fetch_add(1, std::memory_order_acq_rel);
    std::lock_guard lock(error_mutex_);
    if (!first_link_error_.code) first_link_error_ = std::move(e);
  }
  {
    // A read stream being back-filled into it: its creators hear so now.
    std::shared_lock lock(mutex_);
    for (auto& [name, d] : definitions_) {
      if (d->link != &l) continue;
      for (auto& w : d->waiters) store_.complete_on_executor(std::move(w), ec);
      d->waiters.clear();
    }
  }
  store_.subscriptions().notify(l.name);  // its subscribers read the error
}

// Creates a link's file with its header, and the sub-directories of links/
// that a long encoded name is split into (stream_name.hpp).
boost::system::error_code indexer::create_link_file(link_state& l, std::shared_ptr<cached_file>& f) {
  file_system& fs = *store_.options().file_system;
  const std::string parent = l.path.substr(0, l.path.rfind('/'));
  if (auto ec = fs.create_directories(parent)) return ec;
  note_unsynced_dirs(l);
  auto created = store_.files().create(l.path);
  if (!created) return created.error();
  f = *created;
  std::array<std::byte, format::file_header_size> header{};
  const std::string_view name = std::string_view(l.name).substr(0, format::header_name_capacity);
  format::encode_file_header({format::file_kind::link_index, format::link_entry_size, 0, name}, header);
  return f->file->write_at(0, header);
}

// Durable mode: the file's entry, and each sub-directory's entry in its
// parent, become durable before the progress covers the file (links/ itself
// is synced with every progress write).
void indexer::note_unsynced_dirs(link_state& l) const {
  if (!store_.options().fsync_on_flush) return;
  l.unsynced_dirs.clear();
  const std::string parent = l.path.substr(0, l.path.rfind('/'));
  for (std::string d = parent; d.size() > dir_.size(); d.resize(d.rfind('/'))) l.unsynced_dirs.push_back(d);
}

// A link the indexer writes for the first time in this process: count its
// complete entries and cut anything after them.
boost::system::error_code indexer::prepare_for_write(link_state& l) {
  if (auto r = load(l); !r) return r.error().code;
  l.written = l.count.load(std::memory_order_acquire);
  file_system& fs = *store_.options().file_system;
  if (fs.exists(l.path)) {
    // An earlier process may have created it and died before a persist
    // synced its entry (persists are lazy, indexer.hpp): this one makes the
    // entry durable before its progress covers the file.
    note_unsynced_dirs(l);
    auto f = store_.files().get(l.path);
    if (!f) return f.error();
    if (auto ec = (*f)->file->truncate(format::file_header_size + l.written * format::link_entry_size))
      return ec;
  }
  l.writer_ready = true;
  return {};
}

// Empties a link for a read stream built from scratch or deleted: nothing
// published, no cached handle, no file.
boost::system::error_code indexer::reset_link(link_state& l) {
  {
    std::lock_guard lock(l.load_mutex);
    l.count.store(0, std::memory_order_release);
    l.loaded.store(true, std::memory_order_release);
  }
  l.written = 0;
  l.pending.clear();
  l.pending_entries = 0;
  l.writer_ready = true;
  l.unsynced_dirs.clear();
  // Its file goes: nothing of it is left for the next progress write to sync.
  l.dirty = false;
  if (l.failed.load(std::memory_order_relaxed)) {
    // Emptied, it may be written again (the next failure says so).
    {
      std::lock_guard lock(l.load_mutex);
      l.failure = {};
    }
    l.failed.store(false, std::memory_order_release);
    if (failed_links_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(error_mutex_);
      first_link_error_ = {};
    }
  }
  store_.files().erase(l.path);
  file_system& fs = *store_.options().file_system;
  auto ec = fs.remove(l.path);
  if (ec && ec != boost::system::errc::no_such_file_or_directory) return ec;
  if (!store_.options().fsync_on_flush) return {};
  // The removal is durable before anything that relies on it: a read stream
  // defined again is marked built once its back-fill ends, and may have no
  // file of its own to replace this one. links/ itself is synced with the
  // definitions, but a long name's sub-directory is synced by nothing else,
  // and a power loss would bring the old entries back under the new
  // definition. Synced even when the file was already gone: an earlier
  // process may have removed it and crashed before its sync.
  const std::string parent = l.path.substr(0, l.path.rfind('/'));
  ec = fs.sync_directory(parent);
  return ec == boost::system::errc::no_such_file_or_directory ? boost::system::error_code{} : ec;
}

// Appends every link's pending entries; a live step then persists the new
// progress if it is due (indexer.hpp, top). Publishes the new counts last.
boost::system::error_code indexer::write_pending(std::uint64_t new_progress, bool live_step) {
  std::vector<link_state*> touched;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, l] : links_) {
      if (l->pending_entries > 0) touched.push_back(l.get());
    }
  }
  append_pending(touched);
  if (live_step) {
    unpersisted_ = unpersisted_ || new_progress != persist_point_;
    if (persist_due(new_progress)) {
      if (auto ec = persist(new_progress)) return ec;
    }
  }
  publish_pending(touched);
  if (live_step) progress_.store(new_progress, std::memory_order_release);
  for (link_state* l : touched) store_.subscriptions().notify(l->name);
  return {};
}

bool indexer::persist_due(std::uint64_t new_progress) const {
  const store_options& o = store_.options();
  if (!o.fsync_on_flush) return true;
  if (new_progress - persist_point_ >= o.checkpoint_interval) return true;
  const auto interval = detail::link_sync_interval(link_sync_interval);
  return interval && std::chrono::steady_clock::now() - persisted_at_ >= *interval;
}

boost::system::error_code indexer::persist(std::uint64_t upto) {
  file_system& fs = *store_.options().file_system;
  if (!progress_file_) {
    if (auto ec = fs.create_directories(dir_)) return ec;
  }
  if (store_.options().fsync_on_flush) {
    if (auto ec = sync_dirty_links()) return ec;
  }
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, l] : links_) l->dirty = false;
  }
  // Not while a link has failed: the next open must redo $all from here.
  if (upto != persisted_progress_ && failed_links_.load(std::memory_order_acquire) == 0) {
    std::array<std::byte, format::link_progress_size> buf{};
    format::encode_link_progress(upto, buf);
    if (!progress_file_) {
      const std::string path = layout::join(dir_, "progress");
      auto f = fs.exists(path) ? store_.files().get(path) : store_.files().create(path);
      if (!f) return f.error();
      progress_file_ = std::move(*f);
    }
    if (auto ec = progress_file_->file->write_at(0, buf)) return ec;
    persisted_progress_ = upto;
  }
  persist_point_ = upto;
  persisted_at_ = std::chrono::steady_clock::now();
  unpersisted_ = false;
  return {};
}

// Writes the pending entries of `touched` after their written ones. A failure
// here is the link's alone (fail_link).
void indexer::append_pending(const std::vector<link_state*>& touched) {
  file_system& fs = *store_.options().file_system;
  for (link_state* l : touched) {
    std::shared_ptr<cached_file> f;
    if (l->written == 0 && !fs.exists(l->path)) {
      if (auto ec = create_link_file(*l, f)) {
        fail_link(*l, ec, "creating");
        continue;
      }
    } else {
      auto got = store_.files().get(l->path);
      if (!got) {
        fail_link(*l, got.error(), "opening");
        continue;
      }
      f = *got;
    }
    const std::uint64_t at = format::file_header_size + l->written * format::link_entry_size;
    if (auto ec = f->file->write_at(at, l->pending)) {
      fail_link(*l, ec, "writing");
      continue;
    }
    f->note_written(at + l->pending.size());
    l->dirty = true;
    unpersisted_ = true;
  }
}

// Durable mode: syncs every link file written since the last progress (and
// the directories made for it), then links/. A link that fails to sync fails
// alone; a failed sync of links/ is returned.
boost::system::error_code indexer::sync_dirty_links() {
  file_system& fs = *store_.options().file_system;
  std::vector<link_state*> dirty;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, l] : links_) {
      if (l->dirty) dirty.push_back(l.get());
    }
  }
  for (link_state* l : dirty) {
    auto f = store_.files().get(l->path);
    boost::system::error_code ec = f ? (*f)->file->sync() : f.error();
    for (std::size_t i = 0; !ec && i < l->unsynced_dirs.size(); ++i)
      ec = fs.sync_directory(l->unsynced_dirs[i]);
    if (ec) {
      fail_link(*l, ec, "syncing");
    } else {
      l->unsynced_dirs.clear();
    }
  }
  return fs.sync_directory(dir_);
}

// The entries written are the links' counts now: readers see them.
void indexer::publish_pending(const std::vector<link_state*>& touched) {
  for (link_state* l : touched) {
    l->written += l->pending_entries;
    l->pending.clear();
    l->pending_entries = 0;
    // Under the load mutex: a reader's lazy load must not publish an older count.
    std::lock_guard lock(l->load_mutex);
    l->count.store(l->written, std::memory_order_release);
    l->loaded.store(true, std::memory_order_release);
  }
}

}  // namespace evstore::detail
