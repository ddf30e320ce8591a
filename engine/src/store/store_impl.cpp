// Lifecycle of a store: construction, open, the I/O thread, destruction; and
// the queries that are neither reads nor writes.
#include "store/store_impl.hpp"

#include "format/layout.hpp"
#include "io/file_error.hpp"
#include "io/file_watcher.hpp"
#include "links/indexer.hpp"
#include "require.hpp"
#include "store/reader.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>

#include <sys/resource.h>

namespace evstore::detail {
namespace {

// store_options::max_open_files, with 0 resolved from the descriptor limit
// (half of it: sockets, the journal and the application need the rest).
std::size_t resolve_open_files(store_options& o) {
  if (o.max_open_files == 0) {
    rlimit limit{};
    o.max_open_files = 512;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      o.max_open_files =
          limit.rlim_cur == RLIM_INFINITY
              ? 65536
              : std::clamp<std::size_t>(static_cast<std::size_t>(limit.rlim_cur) / 2, 64, 65536);
    }
  }
  return o.max_open_files;
}

[[nodiscard]] result<void> check_options(const store_options& o) {
  if (o.max_open_files < 8 || o.writer_stream_cache == 0 || o.flush_threshold_bytes == 0 ||
      o.max_event_bytes == 0 || o.max_append_events == 0 || o.checkpoint_interval == 0) {
    return error(errc::invalid_argument, "store_options out of range");
  }
  if (o.max_event_bytes > format::max_event_payload) {
    // A larger event would be acknowledged and then refused by every read
    // (and cut, with every later event, by the next recovery).
    return error(errc::invalid_argument, "store_options::max_event_bytes " +
                                             std::to_string(o.max_event_bytes) +
                                             " exceeds the record format's limit of " +
                                             std::to_string(format::max_event_payload) + " bytes");
  }
  return {};
}

}  // namespace

store_impl::store_impl(store::executor_type executor, store_options options)
    : options_(std::move(options)),
      fs_(options_.file_system ? options_.file_system : posix_file_system()),
      executor_(std::move(executor)),
      strand_(boost::asio::make_strand(executor_)),
      files_(std::make_shared<file_cache>(fs_, !options_.read_only, resolve_open_files(options_))),
      batch_(std::make_unique<batch>()) {
  options_.file_system = fs_;
  while (options_.directory.size() > 1 && options_.directory.back() == '/') options_.directory.pop_back();
}

store_impl::~store_impl() {
  EVSTORE_TEST_POINT("store.destroy");
  stop_background();  // waits for a refresh or indexer step in progress
  // Consumer commits and drains hold the store while they run there, so this
  // is never that thread. The indexer's tasks do not hold it; stopped, they
  // return at once: let the queued ones run out (stopping the pool instead
  // would leave them allocated) and wait.
  if (background_) background_->join();
  if (io_context_) {
    io_context_->stop();
    if (io_thread_.joinable()) {
      if (io_thread_.get_id() == std::this_thread::get_id()) {
        // Cannot happen by design (flushes hand their reference back to the
        // strand); if it ever does, leak the context rather than free it
        // under the running thread.
        io_thread_.detach();
        (void)io_context_.release();
        return;
      }
      io_thread_.join();
    }
  }
  // Nothing else can run now: leave a checkpoint so the next open scans nothing.
  // Only for a store that opened: a failed open must leave recovery to the next one.
  if (!opened_ || options_.read_only || !lock_ || failed_ || flush_in_flight_) return;
  if (all_count() != checkpoint_count_) (void)write_checkpoint(all_count(), stream_count());
}

result<void> store_impl::open() {
  if (auto r = check_options(options_); !r) return r;
  if (auto r = prepare_directory(); !r) return r;
  log_reader_ = std::make_unique<partition_reader>(files_, options_.directory, geometry_);
  // Everything open reads after recovery's first write is read first, so that
  // a failed read leaves the store as it was (recovery.cpp).
  indexer_ = std::make_unique<indexer>(*this);
  if (auto r = indexer_->open(); !r) return r;
  if (options_.read_only) {
    if (auto r = open_follower(); !r) return r;
  } else {
    // A scavenge's batch a crash interrupted is finished before anything reads the logs.
    if (auto r = finish_scavenge(); !r) return r;
    if (auto r = recover(); !r) return r;
  }
  if (auto r = fold_lifecycle(all_count()); !r) return r;
  indexer_->limit_progress(all_count());
  batch_->first_position = next_position_;
  if (!options_.read_only) {
    io_context_ = std::make_unique<boost::asio::io_context>(1);
    io_thread_ = std::thread([ctx = io_context_.get()] {
      auto guard = boost::asio::make_work_guard(*ctx);
      ctx->run();
    });
  }
  opened_ = true;
  if (options_.read_only && options_.follow) {
    // Raw `this`: the watcher is stopped first thing in the destructor.
    const bool real_files = fs_ == posix_file_system();
    watcher_ = std::make_unique<file_watcher>(
        background_executor(),
        std::vector<std::string>{layout::index_dir(options_.directory),
                                 layout::links_dir(options_.directory)},
        options_.follow_poll_interval, [this] { (void)refresh(); }, real_files);
    // Changes between the initial scan and the watch being in place.
    (void)refresh();
  }
  if (!options_.read_only) {
    // Followers may have seen a head from before a crash: say what survived.
    if (auto ec = write_head(all_count())) return error(ec, layout::head(options_.directory));
    if (options_.system_streams || indexer_->has_definitions()) indexer_->start();
  }
  return {};
}

void store_impl::complete_on_executor(
    boost::asio::any_completion_handler<void(boost::system::error_code)> handler,
    boost::system::error_code ec, std::shared_ptr<const void> keep_alive) const {
  boost::asio::post(executor_,
                    [ex = executor_, h = std::move(handler), ec, keep = std::move(keep_alive)]() mutable {
                      keep.reset();  // before the handler: it may reopen the store
                      auto target = boost::asio::get_associated_executor(h, ex);
                      boost::asio::dispatch(target, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
                    });
}

void store_impl::stop_background() {
  watcher_.reset();
  if (indexer_) indexer_->shutdown();
}

boost::asio::any_io_executor store_impl::background_executor() const {
  std::lock_guard lock(background_mutex_);
  if (!background_) background_ = std::make_unique<boost::asio::thread_pool>(1);
  return background_->get_executor();
}

std::string store_impl::consumer_directory() const {
  std::string dir = options_.consumer_directory;
  if (dir.empty() && !options_.read_only) dir = layout::join(options_.directory, "consumers");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::vector<stream_info> store_impl::list_streams(std::size_t offset, std::size_t limit) const {
  std::vector<stream_info> out;
  const std::uint64_t published = all_count();
  std::size_t skipped = 0;
  std::string after;
  while (out.size() < limit) {
    auto page = index_->list(after, 1024, published);
    if (!page) break;
    for (auto& s : page->streams) {
      if (skipped < offset) {
        ++skipped;
        continue;
      }
      if (out.size() == limit) break;
      out.push_back({s.name, s.count});
    }
    if (!page->more || page->streams.empty()) break;
    after = page->streams.back().name;
  }
  return out;
}

store_statistics store_impl::statistics() const {
  store_statistics st;
  st.appends = stat_appends_.load(std::memory_order_relaxed);
  st.events = stat_events_.load(std::memory_order_relaxed);
  st.bytes = stat_bytes_.load(std::memory_order_relaxed);
  st.flushes = stat_flushes_.load(std::memory_order_relaxed);
  st.fsyncs = stat_fsyncs_.load(std::memory_order_relaxed);
  st.flush_nanoseconds = stat_flush_ns_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < st.flush_duration_counts.size(); ++i) {
    st.flush_duration_counts[i] = stat_flush_buckets_[i].load(std::memory_order_relaxed);
  }
  st.writer_streams = writers_.size();
  if (index_cache_) {
    st.index_cache_bytes = index_cache_->bytes();
    st.index_cache_hits = index_cache_->hits();
    st.index_cache_misses = index_cache_->misses();
  }
  st.indexed = indexer_->progress();
  st.snapshots_stored = stat_snapshots_stored_.load(std::memory_order_relaxed);
  st.snapshot_failures = stat_snapshot_failures_.load(std::memory_order_relaxed);
  const evstore::error status = indexer_->status();
  st.indexer_error = status.code;
  st.failed_links = indexer_->failed_links();
  return st;
}

std::unique_ptr<cursor> store_impl::make_cursor(std::string_view stream, const read_options& options) const {
  return std::make_unique<cursor>(shared_from_this(), std::string(stream), options);
}

namespace {

// A hook's answer as the caller sees it: one code to branch on, the hook's
// own words (or its code's) as the detail. `ask` calls the hook; one that
// throws refuses, with what it threw.
template <class Ask>
evstore::error consult(std::string_view hook, std::string_view what, std::string_view stream, Ask&& ask) {
  evstore::error verdict;
  try {
    verdict = ask();
  } catch (const std::exception& e) {
    verdict = {errc::refused, std::string(hook) + " threw: " + e.what()};
  } catch (...) {
    verdict = {errc::refused, std::string(hook) + " threw"};
  }
  if (!verdict.code) return {};
  std::string why = verdict.detail.empty() ? verdict.code.message() : std::move(verdict.detail);
  return {errc::refused,
          std::string(what) + " of '" + std::string(stream) + "' refused by the application: " + why};
}

}  // namespace

evstore::error store_impl::refused_read(std::string_view stream) const {
  if (!options_.before_read) return {};
  return consult("before_read", "a read", stream, [&] { return options_.before_read(stream); });
}

evstore::error store_impl::refused_append(std::string_view stream,
                                          const std::vector<event_data>& events) const {
  if (!options_.before_append) return {};
  return consult("before_append", "an append", stream,
                 [&] { return options_.before_append(stream, events); });
}

error store_impl::corruption(std::string_view what, const std::string& path, std::uint64_t offset) {
  return corruption_at(what, path, offset);
}

error store_impl::read_error(boost::system::error_code ec, const std::string& path,
                             std::uint64_t offset) const {
  return io_error_at(ec, "reading", relative(path), offset);
}

std::string store_impl::relative(const std::string& path) const {
  const std::string& dir = options_.directory;
  if (path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/') {
    return path.substr(dir.size() + 1);
  }
  return path;
}

// --- close: the last flush, then the indexer's drain, then the lock goes.

void store_impl::async_close(close_handler user_handler) {
  // From now on read-stream creation and deletion write nothing.
  if (indexer_) indexer_->begin_close();
  close_handler handler = [self = shared_from_this(),
                           h = std::move(user_handler)](boost::system::error_code ec) mutable {
    self->complete_on_executor(std::move(h), ec);
  };
  // The appends queued before this call run before the close; a drain
  // posted for them finds the epoch moved on and leaves the rest for its own.
  std::vector<incoming_append> earlier;
  {
    std::lock_guard lock(inbox_mutex_);
    earlier.swap(inbox_);
    ++inbox_epoch_;
    drain_posted_ = false;
  }
  boost::asio::post(strand_, [self = shared_from_this(), handler = std::move(handler),
                              earlier = std::move(earlier)]() mutable {
    self->run_appends(earlier);
    self->closed_ = true;
    self->close_handlers_.push_back(std::move(handler));
    if (!self->flush_in_flight_ && (!self->sealed_.empty() || !self->batch_->empty())) {
      self->start_flush();
    } else {
      self->finish_close_if_idle();
    }
  });
}

void store_impl::finish_close_if_idle() {
  EVSTORE_REQUIRE(on_writer_strand());
  if (close_handlers_.empty() || flush_in_flight_ || !sealed_.empty() || !batch_->empty()) return;
  auto release = [this](boost::system::error_code ec) {
    // Once close completes the directory may be reopened, even while this
    // object lingers until its last handler has run.
    lock_.reset();
    closed_published_.store(true, std::memory_order_release);
    notifier_.close();
    for (auto& h : close_handlers_) {
      auto ex = boost::asio::get_associated_executor(h, strand_);
      boost::asio::dispatch(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
    }
    close_handlers_.clear();
  };
  // Once the last flush is done, the indexer links what it has not yet (read
  // streams are complete when the next process opens the store) and stops:
  // only then does the lock go, so nothing of this store writes links/ under
  // the directory's next owner. The drain runs on the background thread,
  // which must never hold the store's last reference: its completion carries
  // it back to the strand.
  auto complete_close = [self = shared_from_this(), release](boost::system::error_code ec) mutable {
    if (self->options_.read_only || !self->indexer_ || !self->indexer_->started()) return release(ec);
    auto strand = self->strand_;
    auto* impl = self.get();
    impl->indexer_->drain([self = std::move(self), strand, release,
                           ec](boost::system::error_code drained) mutable {
      boost::asio::post(
          strand, [self = std::move(self), release, ec, drained]() mutable { release(ec ? ec : drained); });
    });
    EVSTORE_TEST_POINT("store.close.drain_queued");
  };
  if (options_.read_only || failed_ || !lock_ || all_count() == checkpoint_count_)
    return complete_close(failed_);
  // The checkpoint syncs the logs and writes the index's run: off the caller's
  // executor, as the flush in flight.
  const std::uint64_t count = all_count();
  run_on_io_thread([this, count] { return write_checkpoint(count, stream_count()); },
                   [self = shared_from_this(), complete_close](boost::system::error_code ec) mutable {
                     if (ec && !self->failed_) self->failed_ = ec;
                     complete_close(self->failed_);
                   });
}

}  // namespace evstore::detail
