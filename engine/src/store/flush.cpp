// The flush of a sealed batch and group commit: one flush in flight at a
// time, its bytes written to the data files (and, in durable mode, to the
// journal first), the published head, the appends completed and subscribers
// woken. Appends fill batches in writer.cpp.
//
// A flush writes, in this order: catalog records of new streams, the $all
// entries, then each stream's records and its index entries, and only then
// completes the appends. $all goes first because it is what recovery trusts:
// a record without its $all entry was never acknowledged, and recovery knows
// every partition a lost $all entry touched.
//
// Durable mode (fsync_on_flush) first appends the whole flush as one frame to
// the journal and fdatasyncs the journal alone: one fdatasync per flush
// however many streams it touches (journal.cpp), before the data files. The data files are synced at
// checkpoints, after which the journal starts over.

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
  batch_->stream_count = registry_.size();
  sealed_.push_back(std::move(batch_));
  batch_ = std::make_unique<batch>();
  batch_->first_position = next_position_;
  batch_->catalog_offset = catalog_end_;
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

  if (!io_context_) {
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

boost::system::error_code store_impl::write_batch(batch& b) {
  const bool journaled = journal_ != nullptr;
  EVSTORE_KILL_POINT("flush_begin");
  // Durable mode: the frame is written and synced first; the data files
  // follow (journal_writer.hpp says why not in parallel).
  if (journaled) {
    if (auto ec = write_journal_frame(b)) return ec;
  }
  const auto ec = write_data_files(b);
  if (journaled) EVSTORE_KILL_POINT("after_journal");
  if (ec) return ec;
  checkpoint_stream_count_ = b.stream_count;
  if (journaled) {
    const std::uint64_t count = b.first_position + b.event_count;
    if (durable_checkpoint_due(count)) {
      if (auto cec = durable_checkpoint(count)) return cec;
    }
    EVSTORE_KILL_POINT("after_fsync");
  }
  return write_head(b.first_position + b.event_count);
}

boost::system::error_code store_impl::write_head(std::uint64_t count) {
  std::array<std::byte, format::head_size> buf{};
  format::encode_head(count, buf);
  if (!head_file_) {
    const std::string path = layout::head(options_.directory);
    auto f = fs_->exists(path) ? files_.get(path) : files_.create(path);
    if (!f) return f.error();
    head_file_ = *f;
  }
  return head_file_->file->write_at(0, buf);
}

boost::system::error_code store_impl::write_data_files(batch& b) {
  const bool journaled = journal_ != nullptr;
  if (!b.catalog_records.empty()) {
    const std::string path = layout::catalog(options_.directory);
    auto f = files_.get(path);
    if (!f) return f.error();
    if (auto ec = (*f)->file->write_at(b.catalog_offset, b.catalog_records)) return ec;
    (*f)->note_written(b.catalog_offset + b.catalog_records.size());
    if (journaled) catalog_dirty_ = true;
  }
  if (b.event_count > 0) {
    const std::string path = layout::all_index(options_.directory);
    auto f = files_.get(path);
    if (!f) return f.error();
    const std::uint64_t at = format::file_header_size + b.first_position * format::all_entry_size;
    if (auto ec = (*f)->file->write_at(at, b.all_entries)) return ec;
    (*f)->note_written(at + b.all_entries.size());
    if (journaled) all_dirty_ = true;
  }
  EVSTORE_KILL_POINT("after_all_index");
  for (stream_batch& sb : b.streams) {
    if (auto ec = write_stream_batch(sb)) return ec;
    EVSTORE_KILL_POINT("after_stream");
  }
  return {};
}

boost::system::error_code store_impl::write_stream_batch(stream_batch& sb) {
  stream_state& s = *sb.stream;
  const bool journaled = journal_ != nullptr;
  std::shared_ptr<cached_file> part, index;
  std::array<std::byte, format::file_header_size> part_header{}, index_header{};
  if (sb.create_files) {
    for (const std::string* path : {&s.partition_path, &s.index_path}) {
      // Long names live in nested segment directories. Every directory that
      // gains an entry must be synced for the new file to survive power loss.
      const std::string top = path == &s.partition_path ? layout::streams_dir(options_.directory)
                                                        : layout::index_dir(options_.directory);
      std::string dir = layout::parent(*path);
      if (dir != top) {
        if (auto ec = fs_->create_directories(dir)) return ec;
      }
      for (; dir.size() >= top.size(); dir = layout::parent(dir)) {
        if (journaled) dirty_dirs_.insert(dir);
        if (dir == top) break;
      }
    }
    auto p = files_.create(s.partition_path);
    if (!p) return p.error();
    auto i = files_.create(s.index_path);
    if (!i) return i.error();
    part = *p;
    index = *i;
    format::encode_file_header({format::file_kind::partition, 0, s.id, s.name}, part_header);
    format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, s.id, s.name},
                               index_header);
  } else {
    auto p = files_.get(s.partition_path);
    if (!p) return p.error();
    auto i = files_.get(s.index_path);
    if (!i) return i.error();
    part = *p;
    index = *i;
  }
  const std::uint64_t index_at = format::file_header_size + sb.first_version * format::stream_entry_size;
  if (sb.create_files) {
    const const_buffer_span part_bufs[] = {part_header, sb.records};
    if (auto ec = part->file->write_gather(0, part_bufs)) return ec;
    const const_buffer_span index_bufs[] = {index_header, sb.index_entries};
    if (auto ec = index->file->write_gather(0, index_bufs)) return ec;
  } else {
    if (auto ec = part->file->write_at(sb.partition_offset, sb.records)) return ec;
    if (auto ec = index->file->write_at(index_at, sb.index_entries)) return ec;
  }
  part->note_written(sb.partition_offset + sb.records.size());
  index->note_written(index_at + sb.index_entries.size());
  stat_bytes_.fetch_add(sb.records.size(), std::memory_order_relaxed);
  if (journaled) note_dirty(s);
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
    for (stream_batch& sb : b->streams) {
      sb.stream->committed_end = sb.partition_offset + sb.records.size();
      sb.stream->committed_count.store(sb.first_version + sb.event_count, std::memory_order_release);
    }
    all_count_.store(b->first_position + b->event_count, std::memory_order_release);
    stat_events_.fetch_add(b->event_count, std::memory_order_relaxed);
    if (!journal_) maybe_checkpoint(false);  // durable mode checkpoints on the I/O thread
    for (pending_append& p : b->appends) complete(p, {});
    notify_subscribers(*b);
  }
  if (!sealed_.empty() || !batch_->empty()) {
    start_flush();
  } else {
    finish_close_if_idle();
  }
}

void store_impl::notify_subscribers(const batch& b) {
  const bool waiters = notifier_.has_waiters();
  EVSTORE_TEST_POINT("writer.notify_subscribers.checked");
  if (!waiters) return;
  notifier_.notify("$all");
  for (const stream_batch& sb : b.streams) notifier_.notify(sb.stream->name);
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

void store_impl::maybe_checkpoint(bool force) {
  const std::uint64_t count = all_count();
  if (count == checkpoint_count_ || (!force && count - checkpoint_count_ < options_.checkpoint_interval))
    return;
  if (auto ec = write_checkpoint(count, journal_end_)) {
    if (!failed_) failed_ = ec;
  }
}

}  // namespace evstore::detail
