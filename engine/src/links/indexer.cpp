// The indexer's scheduling (see indexer.hpp): opening, the loop on the
// background thread (live steps behind $all, back-fills of new read streams,
// interleaved), routing events to links, and the drain of close().
// The link files are written by link_files.cpp; definitions live in
// read_stream_definitions.cpp.
#include "links/indexer.hpp"

#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace evstore::detail {
namespace {

// Events read from $all per indexer step (live or back-fill).
constexpr std::uint64_t step_events = 4096;
// Behind $all by at least this many events, the indexer steps again at once
// rather than after link_linger.
constexpr std::uint64_t linger_backlog = 256;

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
  // Its wait is cancelled: the background thread's join does not wait for it,
  // and its handler returns at once.
  sync_timer_.reset();
  sync_timer_armed_ = false;
  linger_timer_.reset();
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

result<void> indexer::open() {
  auto p = read_progress();
  if (!p) return p.error();
  persisted_progress_ = p->value_or(0);
  persist_point_ = persisted_progress_;
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
  persist_point_ = persisted_progress_;
  progress_.store(persisted_progress_, std::memory_order_release);
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
    persisted_at_ = std::chrono::steady_clock::now();
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
      // Durable mode: what the live steps left unpersisted.
      if (!failed_ && !stopped_ && running_ && unpersisted_) {
        if (auto ec = persist(progress_.load(std::memory_order_relaxed))) fail(ec);
      }
      // The directory lock goes once `done` has run: nothing of this store
      // may write links/ after it.
      stop_locked();
    }
    done(failed_);
  });
}

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
      published_error_ =
          evstore::error(failed_, "indexer stopped at $all position " +
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
  last_step_at_ = std::chrono::steady_clock::now();
  if (building) return schedule();
  if (const std::uint64_t now_all = store_.all_count(), at = progress_.load(std::memory_order_relaxed);
      at < now_all) {
    // A few events flushed during this step: they wait out the linger with
    // the ones still to come; a backlog is worked off at once.
    return now_all - at >= linger_backlog ? schedule() : step_after_linger();
  }
  if (store_.is_closed()) return;
  // Caught up: wait for the next flush, and persist what is unpersisted if
  // none comes within the interval.
  arm_sync_timer();
  const std::uint64_t seen = progress_.load(std::memory_order_relaxed);
  store_.subscriptions().wait(
      "$all", [&] { return store_.all_count() > seen || store_.is_closed(); },
      [alive = alive_, this] {
        // Only while the store lives: shutdown() clears the flag under the
        // same lock before the background thread is stopped.
        std::lock_guard lock(alive->mutex);
        if (alive->yes) boost::asio::post(store_.background_executor(), [this] { on_woken(); });
      });
}

void indexer::on_woken() {
  std::lock_guard running(step_mutex_);
  if (stopped_) return;
  step_after_linger();
}

void indexer::step_after_linger() {
  const auto linger = serial_io() ? std::chrono::microseconds(0) : link_linger;
  const auto due = last_step_at_ + linger;
  if (linger.count() == 0 || std::chrono::steady_clock::now() >= due) return schedule();
  if (!linger_timer_) linger_timer_.emplace(store_.background_executor());
  linger_timer_->expires_at(due);
  // Only `this` (indexer.hpp, threading): stop_locked() cancels the wait.
  linger_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) schedule();
  });
}

void indexer::route(const read_page& page, const std::vector<read_stream_definition*>& defs,
                    bool system_streams) {
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
    // The store's own streams ($lifecycle) get no system links.
    if (system_streams && store_.options().system_streams && !e.stream.starts_with('$')) {
      if (const auto dash = e.stream.find('-'); dash != std::string_view::npos && dash > 0) {
        add(link_for("$ce-" + std::string(e.stream.substr(0, dash))), e.position);
      }
      add(link_for("$et-" + std::string(e.type)), e.position);
    }
    for (read_stream_definition* d : defs) {
      if (d->matcher.matches(e)) add(*d->link, e.position);
    }
  }
}

boost::system::error_code indexer::live_step(std::uint64_t upto) {
  const std::uint64_t from = progress_.load(std::memory_order_relaxed);
  bool any_definition = false;
  {
    std::shared_lock lock(mutex_);
    any_definition = !definitions_.empty();
  }
  EVSTORE_TEST_POINT("indexer.live_step");
  if (!store_.options().system_streams && !any_definition) {
    // Nothing to link: no reads, no writes. The stored progress stays where
    // it is; a later read stream is back-filled from 0 anyway.
    progress_.store(upto, std::memory_order_release);
    return {};
  }
  auto page =
      store_.read(std::string("$all"), {.from = from, .max_count = std::min(step_events, upto - from)});
  if (!page) return page.error().code;
  std::vector<read_stream_definition*> defs;
  {
    std::shared_lock lock(mutex_);
    for (auto& [name, d] : definitions_) {
      if (!d->building) defs.push_back(d.get());
    }
  }
  route(*page, defs, true);
  // page->next, not the events' count: a scavenge's erased events are not in the page.
  return write_pending(page->next, true);
}

void indexer::arm_sync_timer() {
  if (sync_timer_armed_ || !unpersisted_ || !store_.options().fsync_on_flush) return;
  const auto interval = detail::link_sync_interval(link_sync_interval);
  if (!interval) return;
  if (!sync_timer_) sync_timer_.emplace(store_.background_executor());
  sync_timer_armed_ = true;
  sync_timer_->expires_at(persisted_at_ + *interval);
  // Only `this` (indexer.hpp, threading): stop_locked() cancels the wait.
  sync_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) on_sync_timer();
  });
}

void indexer::on_sync_timer() {
  std::lock_guard running(step_mutex_);
  if (stopped_) return;
  sync_timer_armed_ = false;
  if (failed_ || !unpersisted_) return;
  // A live step persisted since the timer was armed: wait for the rest of
  // the interval from there.
  if (!persist_due(progress_.load(std::memory_order_relaxed))) return arm_sync_timer();
  if (auto ec = persist(progress_.load(std::memory_order_relaxed))) fail(ec);
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
    auto page =
        store_.read(std::string("$all"), {.from = from, .max_count = std::min(step_events, target - from)});
    if (!page) return page.error().code;
    route(*page, defs, false);
    to = page->next;
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

}  // namespace evstore::detail
