// The flush of a sealed batch and group commit: one flush in flight at a
// time, its records appended to the partition logs, its $all entries and
// stream index entries after them, the published head, then the appends
// completed and subscribers woken. Appends fill batches in writer.cpp.
//
// Order, and why: the records go first and are the only thing a durable flush
// syncs (one fdatasync per partition touched: with one partition, the log is
// the write-ahead log and a flush costs one write and one fdatasync). $all
// entries and stream index entries are derived from the records, which carry
// their stream, version, position and commit: they are written to the page
// cache only and made durable by checkpoints (checkpoint.cpp), and recovery
// rebuilds what a crash lost of them from the logs (recovery.cpp).

#include "format/layout.hpp"
#include "require.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>

namespace evstore::detail {

void store_impl::schedule_flush() {
  EVSTORE_REQUIRE(on_writer_strand());
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(strand_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->start_flush();
  });
}

void store_impl::seal_batch() {
  EVSTORE_REQUIRE(on_writer_strand());
  if (batch_->empty()) return;
  sealed_.push_back(std::move(batch_));
  if (spare_) {
    batch_ = std::move(spare_);
    batch_->clear();
  } else {
    batch_ = std::make_unique<batch>();
  }
  batch_->first_position = next_position_;
  ++batch_epoch_;
}

void store_impl::start_flush() {
  EVSTORE_REQUIRE(on_writer_strand());
  if (flush_in_flight_) return;  // finish_flush starts the next one
  seal_batch();
  if (sealed_.empty()) return finish_close_if_idle();
  if (failed_) {
    for (auto& b : sealed_) fail_batch(*b, failed_);
    sealed_.clear();
    return finish_close_if_idle();
  }
  std::unique_ptr<batch> b = std::move(sealed_.front());
  sealed_.pop_front();
  flush_in_flight_ = true;

  if (!options_.fsync_on_flush) {
    // Buffered: a few writes to the page cache, cheaper here than a thread hop.
    const auto t0 = std::chrono::steady_clock::now();
    const auto ec = write_batch(*b);
    finish_flush(std::move(b), ec, std::chrono::steady_clock::now() - t0);
    return;
  }
  boost::asio::post(*io_context_, [self = shared_from_this(), b = std::move(b)]() mutable {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ec = self->write_batch(*b);
    const auto took = std::chrono::steady_clock::now() - t0;
    // Hand our reference over: the last one must never be dropped on this
    // thread, whose io_context the destructor stops.
    auto strand = self->strand_;
    boost::asio::post(strand, [self = std::move(self), b = std::move(b), ec, took]() mutable {
      self->finish_flush(std::move(b), ec, took);
    });
  });
}

void store_impl::run_on_io_thread(std::function<boost::system::error_code()> work,
                                  std::function<void(boost::system::error_code)> then) {
  EVSTORE_REQUIRE(on_writer_strand() && !flush_in_flight_);
  flush_in_flight_ = true;
  boost::asio::post(
      *io_context_, [self = shared_from_this(), work = std::move(work), then = std::move(then)]() mutable {
        const auto ec = work();
        auto strand = self->strand_;
        boost::asio::post(strand, [self = std::move(self), then = std::move(then), ec]() mutable {
          self->flush_in_flight_ = false;
          then(ec);
        });
        EVSTORE_TEST_POINT("store.io_thread.handed_back");
      });
}

boost::system::error_code store_impl::write_batch(batch& b) {
  const bool durable = options_.fsync_on_flush;
  const std::uint64_t n = b.event_count();
  EVSTORE_KILL_POINT("flush_begin");
  entry_buffer_.resize(n * format::all_entry2_size);
  added_.resize(n);
  touched_.clear();
  for (std::uint64_t k = 0; k < n; ++k) {
    const batch_record& r = b.refs[k];
    const std::uint16_t p = r.stream->partition;
    auto at = partitions_[p]->append(std::span(b.records).subspan(r.offset, r.size));
    if (!at) return at.error().code;
    if (std::find(touched_.begin(), touched_.end(), p) == touched_.end()) touched_.push_back(p);
    format::encode_all_entry2({p, at->offset, r.size, r.commit_end},
                              std::span(entry_buffer_).subspan(k * format::all_entry2_size));
    added_[k] = {r.stream->name, r.version, b.first_position + k};
  }
  for (const std::uint16_t p : touched_) {
    if (auto ok = partitions_[p]->flush(durable); !ok) return ok.error().code;
    if (durable) stat_fsyncs_.fetch_add(1, std::memory_order_relaxed);
  }
  stat_bytes_.fetch_add(b.records.size(), std::memory_order_relaxed);
  EVSTORE_KILL_POINT("after_records");
  if (auto ec = all_file_->write_at(b.first_position * format::all_entry2_size, entry_buffer_)) return ec;
  EVSTORE_KILL_POINT("after_all_index");
  // Indexed before the count is published (finish_flush): a reader asks the
  // index only below the count it loaded, so it sees all of a flush or none.
  index_->add_batch(added_);
  if (entry_buffer_.capacity() > (std::size_t{1} << 20)) entry_buffer_ = {};
  if (added_.capacity() > (std::size_t{1} << 16)) added_ = {};
  if (auto ec = write_head(b.first_position + n)) return ec;
  // Within the flush, on its thread, before its appends complete: a
  // checkpoint when due and segments prepared ahead. Rare (every
  // checkpoint_interval events, every few MiB), and it keeps the order of
  // everything the store does a function of the appends alone.
  if (auto ec = prepare_logs()) return ec;
  const std::uint64_t count = b.first_position + n;
  if (checkpoint_due(count)) return write_checkpoint(count, stream_count() + b.new_streams);
  return {};
}

boost::system::error_code store_impl::write_head(std::uint64_t count) {
  std::array<std::byte, format::head_size> buf{};
  format::encode_head(count, buf);
  if (auto ec = open_head_file(true)) return ec;
  return head_file_->file->write_at(0, buf);
}

// The published head's file, opened once and kept in head_file_. Without
// `create` a missing file stays unopened (recovery reads before it writes).
boost::system::error_code store_impl::open_head_file(bool create) {
  if (head_file_) return {};
  const std::string path = layout::head(options_.directory);
  const bool exists = fs_->exists(path);
  if (!exists && !create) return {};
  auto f = exists ? files_->get(path) : files_->create(path);
  if (!f) return f.error();
  head_file_ = *f;
  return {};
}

void store_impl::finish_flush(std::unique_ptr<batch> b, boost::system::error_code ec,
                              std::chrono::nanoseconds took) {
  EVSTORE_REQUIRE(on_writer_strand());
  flush_in_flight_ = false;
  stat_flushes_.fetch_add(1, std::memory_order_relaxed);
  stat_flush_ns_.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
  {
    const auto& bounds = store_statistics::flush_duration_bounds_ns;
    const auto ns = static_cast<std::uint64_t>(took.count());
    const auto bucket =
        static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), ns) - bounds.begin());
    stat_flush_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  }
  if (ec) {
    // Sticky: after a failed write or fsync nothing more is acknowledged; the
    // state on disk is unknown until the store is reopened and recovered.
    if (!failed_) failed_ = ec;
    fail_batch(*b, ec);
  } else {
    // Before the count that publishes the $lifecycle events: a reader that
    // sees them also sees what they hide hidden.
    for (const batch_lifecycle& l : b->lifecycles) {
      lifecycle_.set(l.stream, l.lifecycle);
      if (const auto it = pending_lifecycle_.find(l.stream);
          it != pending_lifecycle_.end() && it->second.sequence == l.sequence) {
        pending_lifecycle_.erase(it);
      }
    }
    stream_count_.fetch_add(b->new_streams, std::memory_order_release);
    all_count_.store(b->first_position + b->event_count(), std::memory_order_release);
    stat_events_.fetch_add(b->event_count(), std::memory_order_relaxed);
    for (pending_append& p : b->appends) complete(p, {});
    notify_subscribers(*b);
  }
  b->clear();
  spare_ = std::move(b);
  // Before the next flush starts: the batches waiting in sealed_ (the oldest
  // listed its streams at epoch batch_epoch_ - sealed_.size()) and the one
  // being filled are all that point at states now. Not once a flush failed:
  // a stream whose records may or may not be on disk keeps its name taken.
  if (!failed_) writers_.evict(options_.writer_stream_cache, batch_epoch_ - sealed_.size());
  start_flush();
}

void store_impl::notify_subscribers(const batch& b) {
  const bool waiters = notifier_.has_waiters();
  EVSTORE_TEST_POINT("writer.notify_subscribers.checked");
  if (!waiters) return;
  notifier_.notify("$all");
  for (const writer_stream* s : b.streams) notifier_.notify(s->name);
}

void store_impl::fail_batch(batch& b, boost::system::error_code ec) {
  for (pending_append& p : b.appends) {
    // The bytes may or may not have reached the disk (see store::append).
    p.result.detail =
        "the flush failed (" + ec.message() + "); the outcome is unknown until the store is reopened";
    complete(p, ec);
  }
  b.appends.clear();
}

}  // namespace evstore::detail
