// The indexer: read streams and system streams (see indexer.hpp).
#include "indexer.hpp"

#include "io_util.hpp"
#include "json_check.hpp"
#include "json_text.hpp"
#include "layout.hpp"
#include "store_impl.hpp"
#include "stream_name.hpp"
#include "test_hooks.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace evstore::detail {
namespace {

// Events read from $all per indexer step (live or back-fill).
constexpr std::uint64_t step_events = 4096;

std::string link_path(const std::string& dir, std::string_view name) {
  return layout::join(dir, encode_stream_file_name(name) + ".lnk");
}

bool is_system_name(std::string_view name) { return name.starts_with("$ce-") || name.starts_with("$et-"); }

}  // namespace

indexer::indexer(store_impl& store) : store_(store), dir_(layout::join(store.options().directory, "links")) {}
indexer::~indexer() = default;

void indexer::shutdown() {
  {
    std::lock_guard lock(alive_->mutex);
    alive_->yes = false;
  }
  // Wait for a step in progress; later ones return at once.
  std::lock_guard step(step_mutex_);
  stop_locked();
}

void indexer::stop_locked() {
  if (stopped_) return;
  stopped_ = true;
  // A back-fill that will never finish: its creators hear so now, rather
  // than never (their handlers hold work on the application's executor).
  std::shared_lock lock(mutex_);
  for (auto& [name, d] : definitions_) {
    for (auto& w : d->waiters) store_.complete_on_executor(std::move(w), make_error_code(errc::store_closed));
    d->waiters.clear();
  }
}

evstore::error indexer::status() const {
  std::lock_guard lock(error_mutex_);
  return published_error_.code ? published_error_ : first_link_error_;
}

// --- Opening

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

result<void> indexer::open() {
  auto p = read_progress();
  if (!p) return p.error();
  persisted_progress_ = p->value_or(0);
  progress_.store(persisted_progress_, std::memory_order_release);
  if (auto r = load_definitions(); !r) return r.error();
  // A delete or create whose rename reached the directory but not its sync
  // (the writer crashed in between) is what this open now serves: make it
  // durable before anything depends on it, or a power loss would bring the
  // old definitions back after a reader saw the new ones.
  const store_options& o = store_.options();
  if (!o.read_only && o.fsync_on_flush && o.file_system->exists(dir_)) {
    if (auto ec = o.file_system->sync_directory(dir_)) return error(ec, "syncing " + dir_);
  }
  return {};
}

void indexer::limit_progress(std::uint64_t all_count) {
  persisted_progress_ = std::min(persisted_progress_, all_count);
  progress_.store(persisted_progress_, std::memory_order_release);
}

// Reads links/read_streams.json; a definition already known keeps its state
// (back-fill cursor, waiters), one no longer listed is dropped. True if any
// definition came, went, or changed its filter or back-fill state.
result<bool> indexer::load_definitions() {
  file_system& fs = *store_.options().file_system;
  const std::string defs_path = layout::join(dir_, "read_streams.json");
  if (!fs.exists(defs_path)) {
    std::unique_lock lock(mutex_);
    const bool changed = !definitions_.empty();
    definitions_.clear();
    return changed;
  }
  auto f = fs.open(defs_path, open_mode::read_only);
  if (!f) return error(f.error(), defs_path);
  auto text = read_all(**f);
  if (!text) return error(text.error(), defs_path);
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth + 8;  // filter values may nest that deep, inside the file's envelope
  const auto doc = boost::json::parse(to_string_view(*text), ec, {}, opts);
  const auto* list = !ec && doc.is_object() ? doc.as_object().if_contains("readStreams") : nullptr;
  if (list == nullptr || !list->is_array()) return store_impl::corruption("bad read-stream definitions", defs_path, 0);
  // Filters are read from their text as written (values keep their spelling).
  const auto raw_items = raw_elements(*raw_member(to_string_view(*text), "readStreams"));
  struct parsed {
    std::string name;
    filter f;
    bool built;
  };
  std::vector<parsed> items;
  for (std::size_t i = 0; i < raw_items.size(); ++i) {
    const auto* o = list->as_array()[i].if_object();
    const auto* name = o ? o->if_contains("name") : nullptr;
    const auto* def = o ? o->if_contains("filter") : nullptr;
    const auto* built = o ? o->if_contains("built") : nullptr;
    if (!name || !name->is_string() || !def || !built || !built->is_bool()) {
      return store_impl::corruption("bad read-stream definition", defs_path, 0);
    }
    auto f2 = filter::from_json(*raw_member(raw_items[i], "filter"));
    if (!f2) return store_impl::corruption("bad read-stream filter: " + f2.error().message(), defs_path, 0);
    items.push_back({std::string(name->as_string()), std::move(*f2), built->as_bool()});
  }
  std::vector<link_state*> links;
  links.reserve(items.size());
  for (const parsed& p : items) links.push_back(&link_for(p.name));
  std::unique_lock lock(mutex_);
  std::map<std::string, std::unique_ptr<read_stream_definition>, std::less<>> loaded;
  bool changed = items.size() != definitions_.size();
  for (std::size_t i = 0; i < items.size(); ++i) {
    parsed& p = items[i];
    if (auto it = definitions_.find(p.name);
        it != definitions_.end() && it->second && it->second->matcher.definition() == p.f) {
      changed = changed || it->second->building != !p.built;
      it->second->building = !p.built;
      loaded.emplace(p.name, std::move(it->second));
      continue;
    }
    changed = true;
    auto d = std::make_unique<read_stream_definition>(
        read_stream_definition{p.name, filter_matcher(p.f), !p.built, 0, links[i], {}, {}});
    loaded.emplace(p.name, std::move(d));
  }
  // Left behind: deleted (or redefined) by the writer. Their subscribers end.
  for (auto& [name, d] : definitions_) {
    if (d) d->link->incarnation.fetch_add(1, std::memory_order_acq_rel);
  }
  definitions_ = std::move(loaded);
  return changed;
}



// The indexer's own tasks capture only `this`: they never keep the store
// alive (so destroying a store releases its lock at once), and the store's
// destructor stops and joins the background thread before its members go.
void indexer::start() {
  if (started_.exchange(true)) return;
  boost::asio::post(store_.background_executor(), [this] {
    std::lock_guard running(step_mutex_);
    if (stopped_) return;
    running_ = true;
    // An unfinished back-fill starts over: its file holds an unknown prefix.
    for (auto& [name, d] : definitions_) {
      if (d->building) {
        d->built_to = 0;
        if (auto ec = reset_link(*d->link)) fail(ec);
      }
    }
    schedule();
  });
}

// --- Link states and lazy loading

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

bool indexer::has_definitions() const {
  std::shared_lock lock(mutex_);
  return !definitions_.empty();
}

bool indexer::is_link(std::string_view name) const {
  if (is_system_name(name)) return true;
  std::shared_lock lock(mutex_);
  return definitions_.contains(name);
}

bool indexer::claim_write_name(std::string_view name, const std::function<void()>& add) const {
  if (is_system_name(name)) return false;
  std::shared_lock lock(mutex_);
  if (definitions_.contains(name) || name == claimed_) return false;
  add();
  return true;
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

std::optional<std::uint64_t> indexer::incarnation(std::string_view name) const {
  if (is_system_name(name)) return std::nullopt;
  const link_state* l = find_link(name);
  if (l == nullptr) return std::nullopt;
  return l->incarnation.load(std::memory_order_acquire);
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
    if (*got != buf.size()) return store_impl::corruption("link file shorter than its count", l->path, at + *got);
    for (std::uint64_t i = 0; i < k; ++i) {
      const auto p = format::decode_link_entry(std::span(buf).subspan(i * format::link_entry_size, format::link_entry_size));
      if (!p || *p >= store_.all_count() || (i > 0 && *p <= positions[i - 1])) {
        return store_impl::corruption("bad link entry", l->path, at + i * format::link_entry_size);
      }
      positions[i] = *p;
    }
  }
  auto page = store_.read_positions(std::move(positions), first, o.max_bytes, o.direction);
  if (!page) return page.error();
  // The byte budget may have cut the page short: from its far end in reading order.
  if (const std::uint64_t got = page->events.size(); got < k) {
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

std::vector<read_stream_info> indexer::list() const {
  std::vector<read_stream_info> out;
  std::shared_lock lock(mutex_);
  for (const auto& [name, d] : definitions_) {
    // Counted on first use (after an open, nothing may have read it yet); a
    // link that cannot be counted shows what is published.
    (void)load(*d->link);
    out.push_back({name, d->matcher.definition(), d->link->count.load(std::memory_order_acquire), d->building});
  }
  return out;
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
  const std::uint64_t progress = *p ? std::min(**p, store_.all_count()) : progress_.load(std::memory_order_acquire);
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

// --- Definitions

boost::system::error_code indexer::write_definitions() {
  // Written as text: a filter's values keep their spelling (a Boost.JSON
  // value would print 12.5 as 1.25E1), and nothing here parses or throws.
  std::string text = "{\"readStreams\":[";
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, d] : definitions_) {
      if (text.back() != '[') text += ',';
      text += "{\"name\":" + boost::json::serialize(boost::json::string(name)) +
              ",\"filter\":" + d->matcher.definition().to_json() + ",\"built\":" + (d->building ? "false" : "true") + "}";
    }
  }
  text += "]}\n";
  file_system& fs = *store_.options().file_system;
  if (auto ec = fs.create_directories(dir_)) return ec;
  return write_file_atomically(fs, layout::join(dir_, "read_streams.json"), std::as_bytes(std::span(text)));
}

void indexer::create(std::string name, filter f, std::function<void(std::uint64_t, std::uint64_t)> progress,
                     create_handler handler) {
  if (closing_.load(std::memory_order_acquire)) {
    return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
  }
  start();  // the first read stream of a store without system streams
  boost::asio::post(store_.background_executor(), [this, name = std::move(name),
                                                   f = std::move(f), progress = std::move(progress),
                                                   handler = std::move(handler)]() mutable {
    std::lock_guard running(step_mutex_);
    if (stopped_ || closing_.load(std::memory_order_acquire)) {
      return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
    }
    EVSTORE_TEST_POINT("indexer.create.claim");
    boost::system::error_code ec;
    {
      // Exclusive: the check of the write streams and the claim are one step
      // against the writer's claim_write_name() (the caller's check in
      // store.cpp is only a fast path: an append may come after it).
      std::unique_lock lock(mutex_);
      auto it = definitions_.find(name);
      if (it != definitions_.end()) {
        if (!it->second->matcher.same_filter(f)) {
          ec = make_error_code(errc::read_stream_exists);
        } else if (failed_) {
          // Stopped: the links never reach what it would wait for.
          ec = failed_;
        } else if (it->second->building && it->second->link->failed.load()) {
          // Its back-fill waits for the next open (fail_link).
          std::lock_guard loading(it->second->link->load_mutex);
          ec = it->second->link->failure.code;
        } else if (const std::uint64_t all = store_.all_count();
                   it->second->building || progress_.load(std::memory_order_relaxed) < all) {
          // Completes with the back-fill, or once the live links reach the
          // events acknowledged before this call (complete_built_waiters).
          if (!it->second->building) it->second->complete_at = std::max(it->second->complete_at, all);
          it->second->waiters.push_back(std::move(handler));
          lock.unlock();
          schedule();
          return;
        }
        lock.unlock();
        store_.complete_on_executor(std::move(handler), ec);
        return;
      }
      if (store_.streams().find(name) != nullptr) {
        lock.unlock();
        return store_.complete_on_executor(std::move(handler), make_error_code(errc::read_stream_exists));
      }
      if (!failed_) claimed_ = name;
    }
    if (failed_) {
      store_.complete_on_executor(std::move(handler), failed_);
      return;
    }
    auto unclaim = [this] {
      std::unique_lock lock(mutex_);
      claimed_.clear();
    };
    auto d = std::make_unique<read_stream_definition>(
        read_stream_definition{name, filter_matcher(f), true, 0, &link_for(name), std::move(progress), {}});
    // A link file left by an earlier read stream of that name must not
    // show through the new one.
    if (auto reset = reset_link(*d->link)) {
      unclaim();
      return store_.complete_on_executor(std::move(handler), reset);
    }
    d->waiters.push_back(std::move(handler));
    {
      std::unique_lock lock(mutex_);
      definitions_.emplace(name, std::move(d));
      claimed_.clear();
    }
    if (auto wec = write_definitions()) fail(wec);
    schedule();
  });
}

void indexer::remove(std::string name, create_handler handler) {
  boost::asio::post(store_.background_executor(), [this, name = std::move(name),
                                                   handler = std::move(handler)]() mutable {
    std::lock_guard running(step_mutex_);
    if (stopped_ || closing_.load(std::memory_order_acquire)) {
      return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
    }
    std::unique_ptr<read_stream_definition> gone;
    {
      std::unique_lock lock(mutex_);
      auto it = definitions_.find(name);
      if (it != definitions_.end()) {
        gone = std::move(it->second);
        definitions_.erase(it);
      }
    }
    boost::system::error_code ec;
    if (!gone) {
      ec = make_error_code(errc::stream_not_found);
    } else if ((ec = write_definitions())) {
      // The file still lists it, so it stays in memory too and goes on being
      // linked: dropped from memory alone, it would come back at the next open
      // missing every event appended in between.
      std::unique_lock lock(mutex_);
      definitions_.emplace(name, std::move(gone));
    } else {
      for (auto& w : gone->waiters) store_.complete_on_executor(std::move(w), make_error_code(errc::stream_deleted));
      // The link state stays (readers may hold it) but its entries go, and
      // its subscribers end: bumped before the wake-up their check runs after.
      gone->link->incarnation.fetch_add(1, std::memory_order_acq_rel);
      // The delete is made (the definitions no longer list it) and its
      // subscribers are told so: a file left behind does not undo it. No
      // definition serves that file, and a later one of the name removes it
      // (and syncs its directory) before it is built, or fails.
      (void)reset_link(*gone->link);
      store_.subscriptions().notify(name);
    }
    store_.complete_on_executor(std::move(handler), ec);
  });
}

void indexer::drain(std::function<void(boost::system::error_code)> done) {
  boost::asio::post(store_.background_executor(), [this, done = std::move(done)]() mutable {
    {
      std::lock_guard running(step_mutex_);
      // Back-fills still running finish too: their creators hear success and
      // the next process finds them built.
      while (!failed_ && !stopped_ && running_) {
        const bool building = any_building();
        const std::uint64_t all = store_.all_count();
        if (!building && progress_.load(std::memory_order_relaxed) >= all) break;
        if (building) {
          if (auto ec = backfill_step()) fail(ec);
        }
        if (!failed_ && progress_.load(std::memory_order_relaxed) < all) {
          if (auto ec = live_step(all)) fail(ec);
        }
        if (!failed_) complete_built_waiters();
      }
      // The directory lock goes once `done` has run: nothing of this store
      // may write links/ after it.
      stop_locked();
    }
    done(failed_);
  });
}

// --- The indexer loop (background thread)

// A read stream is being back-filled (one whose link failed is not: it waits
// for the next open).
bool indexer::any_building() const {
  std::shared_lock lock(mutex_);
  for (const auto& [name, d] : definitions_) {
    if (d->building && !d->link->failed.load()) return true;
  }
  return false;
}

void indexer::schedule() {
  if (scheduled_ || failed_ || !running_) return;
  scheduled_ = true;
  boost::asio::post(store_.background_executor(), [this] {
    scheduled_ = false;
    step();
  });
}

void indexer::fail(boost::system::error_code ec) {
  if (!failed_) failed_ = ec;
  {
    std::lock_guard lock(error_mutex_);
    if (!published_error_.code) {
      published_error_ = evstore::error(failed_, "indexer stopped at $all position " +
                                                     std::to_string(progress_.load(std::memory_order_relaxed)) +
                                                     " (read and system streams resume at the next open)");
    }
  }
  std::shared_lock lock(mutex_);
  for (auto& [name, d] : definitions_) {
    for (auto& w : d->waiters) store_.complete_on_executor(std::move(w), ec);
    d->waiters.clear();
  }
}

void indexer::step() {
  std::lock_guard running(step_mutex_);
  if (failed_ || stopped_) return;
  const bool building = any_building();
  if (building) {
    if (auto ec = backfill_step()) return fail(ec);
  }
  const std::uint64_t all = store_.all_count();
  if (progress_.load(std::memory_order_relaxed) < all) {
    if (auto ec = live_step(all)) return fail(ec);
  }
  complete_built_waiters();
  if (building || progress_.load(std::memory_order_relaxed) < store_.all_count()) return schedule();
  if (store_.is_closed()) return;
  // Caught up: wait for the next flush.
  const std::uint64_t seen = progress_.load(std::memory_order_relaxed);
  store_.subscriptions().wait(
      "$all", [&] { return store_.all_count() > seen || store_.is_closed(); },
      [alive = alive_, this] {
        // Only while the store lives: shutdown() clears the flag under the
        // same lock before the background thread is stopped.
        std::lock_guard lock(alive->mutex);
        if (alive->yes) boost::asio::post(store_.background_executor(), [this] { schedule(); });
      });
}

void indexer::route(const read_page& page, const std::vector<read_stream_definition*>& defs, bool system_streams) {
  std::array<std::byte, format::link_entry_size> entry{};
  auto add = [&](link_state& l, std::uint64_t position) {
    if (l.failed.load(std::memory_order_relaxed)) return;
    if (!l.writer_ready) {
      if (auto ec = prepare_for_write(l)) return fail_link(l, ec, "preparing");
    }
    format::encode_link_entry(position, entry);
    l.pending.insert(l.pending.end(), entry.begin(), entry.end());
    ++l.pending_entries;
  };
  for (const recorded_event& e : page.events) {
    if (system_streams && store_.options().system_streams) {
      if (const auto dash = e.stream.find('-'); dash != std::string_view::npos && dash > 0 && !e.stream.starts_with('$')) {
        add(link_for("$ce-" + std::string(e.stream.substr(0, dash))), e.position);
      }
      add(link_for("$et-" + std::string(e.type)), e.position);
    }
    for (read_stream_definition* d : defs) {
      if (d->matcher.matches(e)) add(*d->link, e.position);
    }
  }
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
  if (store_.options().fsync_on_flush) {
    // The file's entry, and each sub-directory's entry in its parent, become
    // durable before the progress covers the file (links/ itself is synced
    // with every progress write).
    l.unsynced_dirs.clear();
    for (std::string d = parent; d.size() > dir_.size(); d.resize(d.rfind('/'))) l.unsynced_dirs.push_back(d);
  }
  auto created = store_.files().create(l.path);
  if (!created) return created.error();
  f = *created;
  std::array<std::byte, format::file_header_size> header{};
  const std::string_view name = std::string_view(l.name).substr(0, format::header_name_capacity);
  format::encode_file_header({format::file_kind::link_index, format::link_entry_size, 0, name}, header);
  return f->file->write_at(0, header);
}

// A link the indexer writes for the first time in this process: count its
// complete entries and cut anything after them.
boost::system::error_code indexer::prepare_for_write(link_state& l) {
  if (auto r = load(l); !r) return r.error().code;
  l.written = l.count.load(std::memory_order_acquire);
  file_system& fs = *store_.options().file_system;
  if (fs.exists(l.path)) {
    auto f = store_.files().get(l.path);
    if (!f) return f.error();
    if (auto ec = (*f)->file->truncate(format::file_header_size + l.written * format::link_entry_size)) return ec;
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

boost::system::error_code indexer::live_step(std::uint64_t upto) {
  const std::uint64_t from = progress_.load(std::memory_order_relaxed);
  bool any_definition = false;
  {
    std::shared_lock lock(mutex_);
    any_definition = !definitions_.empty();
  }
  if (!store_.options().system_streams && !any_definition) {
    // Nothing to link: no reads, no writes. The stored progress stays where
    // it is; a later read stream is back-filled from 0 anyway.
    progress_.store(upto, std::memory_order_release);
    return {};
  }
  auto page = store_.read(std::string("$all"), {.from = from, .max_count = std::min(step_events, upto - from)});
  if (!page) return page.error().code;
  std::vector<read_stream_definition*> defs;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, d] : definitions_) {
      if (!d->building) defs.push_back(d.get());
    }
  }
  route(*page, defs, true);
  return write_pending(from + page->events.size(), true);
}

boost::system::error_code indexer::backfill_step() {
  std::vector<read_stream_definition*> defs;
  std::uint64_t from = 0;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, d] : definitions_) {
      if (d->building && !d->link->failed.load() && (defs.empty() || d->built_to == from)) {
        if (defs.empty()) from = d->built_to;
        defs.push_back(d.get());
      }
    }
  }
  const std::uint64_t target = progress_.load(std::memory_order_relaxed);
  std::uint64_t to = from;
  if (from < target) {
    auto page = store_.read(std::string("$all"), {.from = from, .max_count = std::min(step_events, target - from)});
    if (!page) return page.error().code;
    route(*page, defs, false);
    to = from + page->events.size();
    if (auto ec = write_pending(target, false)) return ec;
  }
  for (read_stream_definition* d : defs) {
    d->built_to = to;
    if (d->progress) d->progress(to, target);
  }
  if (to < target) return {};
  // Caught up with the live links: from now on it is one of them. Its entries
  // must be durable before its definition says it is built.
  if (store_.options().fsync_on_flush) {
    for (read_stream_definition* d : defs) {
      link_state& l = *d->link;
      if (l.failed.load() || !store_.options().file_system->exists(l.path)) continue;
      auto f = store_.files().get(l.path);
      boost::system::error_code ec = f ? (*f)->file->sync() : f.error();
      for (std::size_t i = 0; !ec && i < l.unsynced_dirs.size(); ++i) {
        ec = store_.options().file_system->sync_directory(l.unsynced_dirs[i]);
      }
      if (ec) {
        fail_link(l, ec, "syncing");
      } else {
        l.unsynced_dirs.clear();
      }
    }
  }
  std::erase_if(defs, [](read_stream_definition* d) { return d->link->failed.load(); });
  {
    // Under the lock: list() reads it from other threads.
    std::unique_lock lock(mutex_);
    for (read_stream_definition* d : defs) d->building = false;
  }
  if (auto ec = write_definitions()) return ec;
  // The back-fill stopped at the live links' progress; events acknowledged
  // before the creation but not linked yet are the live links' next step.
  const std::uint64_t committed = store_.all_count();
  for (read_stream_definition* d : defs) d->complete_at = committed;
  complete_built_waiters();
  return {};
}

// Completes the creators of built read streams whose events up to
// complete_at are linked and published (live_step's write_pending).
void indexer::complete_built_waiters() {
  const std::uint64_t linked = progress_.load(std::memory_order_relaxed);
  std::shared_lock lock(mutex_);
  for (auto& [name, d] : definitions_) {
    if (d->building || d->waiters.empty() || d->complete_at > linked) continue;
    for (auto& w : d->waiters) store_.complete_on_executor(std::move(w), {});
    d->waiters.clear();
  }
}

// Appends every link's pending entries, then (durable mode) syncs them and
// records the new progress; publishes the new counts last.
boost::system::error_code indexer::write_pending(std::uint64_t new_progress, bool persist_progress) {
  file_system& fs = *store_.options().file_system;
  std::vector<link_state*> touched;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, l] : links_) {
      if (l->pending_entries > 0) touched.push_back(l.get());
    }
  }
  // A failure here is the link's alone (fail_link).
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
  }
  if (persist_progress) {
    if (auto ec = fs.create_directories(dir_)) return ec;
    if (store_.options().fsync_on_flush) {
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
        for (std::size_t i = 0; !ec && i < l->unsynced_dirs.size(); ++i) ec = fs.sync_directory(l->unsynced_dirs[i]);
        if (ec) {
          fail_link(*l, ec, "syncing");
        } else {
          l->unsynced_dirs.clear();
        }
      }
      if (auto ec = fs.sync_directory(dir_)) return ec;
    }
    std::shared_lock lock(mutex_);
    for (auto& [name, l] : links_) l->dirty = false;
    // Not while a link has failed: the next open must redo $all from here.
    if (new_progress != persisted_progress_ && failed_links_.load(std::memory_order_acquire) == 0) {
      std::array<std::byte, format::link_progress_size> buf{};
      format::encode_link_progress(new_progress, buf);
      if (auto ec = fs.create_directories(dir_)) return ec;
      const std::string path = layout::join(dir_, "progress");
      auto f = fs.exists(path) ? store_.files().get(path) : store_.files().create(path);
      if (!f) return f.error();
      if (auto ec = (*f)->file->write_at(0, buf)) return ec;
      persisted_progress_ = new_progress;
    }
  }
  for (link_state* l : touched) {
    l->written += l->pending_entries;
    l->pending.clear();
    l->pending_entries = 0;
    // Under the load mutex: a reader's lazy load must not publish an older count.
    std::lock_guard lock(l->load_mutex);
    l->count.store(l->written, std::memory_order_release);
    l->loaded.store(true, std::memory_order_release);
  }
  if (persist_progress) progress_.store(new_progress, std::memory_order_release);
  for (link_state* l : touched) store_.subscriptions().notify(l->name);
  return {};
}

}  // namespace evstore::detail
