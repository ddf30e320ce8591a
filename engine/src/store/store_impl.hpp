// The engine behind evstore::store. One object per open store directory, in
// format 2 (format.hpp; docs/format.md): partition logs of records that carry
// their stream's name, a 16-byte $all entry per event, one stream index.
//
// Parts (member functions are declared below under the file that defines them):
//   store/store_impl.cpp  construction, open, close, destruction, the facade's queries,
//                         helpers the other parts share (errors, executors, accessors)
//   store/writer.cpp      append: validation, retries, per-tick batches
//   store/flush.cpp       the flush of a batch, group commit, the published head
//   store/checkpoint.cpp  checkpoints: syncs, the stream index's run, the checkpoint file
//   store/reader.cpp      stream, $all and positional reads, pages and their byte budget
//   store/recovery.cpp    open: store.json, the logs' tails past the checkpoint,
//                         $all and the stream index brought up to them
//   store/follower.cpp    read-only stores: following a writer (refresh)
// Outside store_impl: the indexer (links/), subscriptions and consumers (live/)
// reach it through its public part; engine/src/README.md maps every folder.
//
// Threading:
//   * Writer state (marked "strand") is touched only on strand_. The flush of a
//     batch runs on the strand (buffered mode) or on io_thread_ (fsync mode);
//     checkpoints always run on io_thread_. At most one of them is in flight
//     (flush_in_flight_), and it owns the partition writers, the $all file's
//     writer handle and the stream index's writer side meanwhile.
//   * Readers use the published $all count (all_count_), the stream index
//     (thread-safe for one writer and many readers) and the file cache: any
//     thread, no lock on the data path. A reader asks the index only for
//     positions below the count it loaded, so it never sees part of a flush.
#pragma once

#include "format/format.hpp"
#include "format/scavenge_state.hpp"
#include "format/store_json.hpp"
#include "index/stream_index.hpp"
#include "io/file_cache.hpp"
#include "live/notifier.hpp"
#include "log/partition_reader.hpp"
#include "log/partition_writer.hpp"
#include "store/lifecycle.hpp"
#include "store/writer_streams.hpp"
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace evstore::detail {

class byte_budget;

// Durable writers write a partition's segment with zeros this far ahead of
// its end (partition_writer_options::allocate_ahead), so a flush's fdatasync
// writes data only, without a whole segment of zeros at creation.
inline constexpr std::uint64_t durable_allocate_ahead = std::uint64_t{8} << 20;

using append_handler = boost::asio::any_completion_handler<store::append_signature>;
using close_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

// Owns the bytes the events of one read point into: the records read, and
// copies of the stream names (an event may outlive the store).
struct page_storage {
  std::vector<std::shared_ptr<std::byte[]>> buffers;
  std::deque<std::string> names;  // a deque: growing it never moves a name
  std::string_view keep_name(std::string_view name) { return names.emplace_back(name); }
};

struct pending_append {
  append_handler handler;
  append_result result;
  // The handler has no executor of its own: complete() calls it on the
  // strand, under the store's shared work (store_impl::direct_work_).
  bool direct = false;
};

// An append on its way to the strand, waiting in the inbox (store_impl::append).
// A delete or a change of a stream's metadata: one $lifecycle event, checked
// on the strand against the stream it is about (writer.cpp, do_lifecycle).
struct lifecycle_change {
  // set_limits: set_metadata keeping the access list the strand sees.
  enum class kind : std::uint8_t { set_metadata, set_limits, soft_delete, hard_delete };
  kind what = kind::set_metadata;
  stream_metadata metadata;  // set_metadata's and set_limits'
};

struct incoming_append {
  std::string stream;
  std::vector<event_data> events;
  expected_version expected;
  append_handler handler;
  bool direct = false;
  std::optional<lifecycle_change> change;  // set: a lifecycle change of `stream`, no events
};

// A lifecycle a batch sets once it is published; `sequence` tells the
// writer's pending entry for the stream (store_impl::pending_lifecycle_) from
// a later change.
struct batch_lifecycle {
  std::string stream;
  stream_lifecycle lifecycle;
  std::uint64_t sequence = 0;
};

// One record of a batch, in position order (the batch's first_position + its index).
struct batch_record {
  std::uint32_t offset = 0;  // in batch::records
  std::uint32_t size = 0;
  writer_stream* stream = nullptr;
  std::uint64_t version = 0;
  bool commit_end = false;
};

// Everything appended during one tick (or until the buffer filled).
struct batch {
  std::uint64_t first_position = 0;
  std::vector<std::byte> records;  // encoded, back to back, in position order
  std::vector<batch_record> refs;
  std::vector<writer_stream*> streams;  // each stream with events in the batch, once
  std::vector<pending_append> appends;
  std::vector<batch_lifecycle> lifecycles;  // set in the table when the batch is published
  std::uint64_t new_streams = 0;            // streams whose version 0 is in the batch
  std::uint64_t event_count() const { return refs.size(); }
  bool empty() const { return appends.empty(); }
  // Empties the batch for reuse, keeping its buffers unless a burst grew
  // them past what steady appends need (a paused burst must not stay resident).
  void clear() {
    constexpr std::size_t keep_bytes = std::size_t{1} << 20;
    if (records.capacity() > keep_bytes) {
      records = {};
      refs = {};
    }
    records.clear();
    refs.clear();
    streams.clear();
    appends.clear();
    lifecycles.clear();
    new_streams = 0;
  }
};

// An event a read asks for: its position and where its $all entry says its record is.
struct located_record {
  std::uint64_t position = 0;
  std::uint16_t partition = 0;
  std::uint64_t offset = 0;
  std::uint32_t size = 0;  // what byte_budget counts
  bool commit_end = false;
  bool erased = false;  // scavenged: the record holds the event's stream and version only
};

class store_impl : public std::enable_shared_from_this<store_impl> {
 public:
  // --- store/store_impl.cpp
  store_impl(store::executor_type executor, store_options options);
  ~store_impl();
  store_impl(const store_impl&) = delete;
  store_impl& operator=(const store_impl&) = delete;

  [[nodiscard]] result<void> open();
  // The application dropped its store object: stop following files and
  // indexing, and wait for either if it is running. Reads, pending appends
  // and their completions go on.
  void stop_background();
  void async_close(close_handler handler);
  std::vector<stream_info> list_streams(std::size_t offset, std::size_t limit) const;
  store_statistics statistics() const;
  std::unique_ptr<cursor> make_cursor(std::string_view stream, const read_options& options) const;
  // The application's verdict on a read or an append (store_options'
  // before_read, before_append): errc::refused with the hook's detail, or
  // no error. A hook that throws refuses.
  [[nodiscard]] evstore::error refused_read(std::string_view stream) const;
  [[nodiscard]] evstore::error refused_append(std::string_view stream,
                                              const std::vector<event_data>& events) const;
  // Streams with at least one published event.
  std::uint64_t stream_count() const { return stream_count_.load(std::memory_order_acquire); }
  // True if `stream` is a write stream with a published event.
  [[nodiscard]] result<bool> stream_exists(std::string_view stream) const;
  // Any thread: `stream` is a write stream, published or with appends in
  // flight (read streams cannot take its name). A failed index read says yes.
  bool write_name_taken(std::string_view stream) const;

  // --- store/follower.cpp
  // Read-only stores: follow new events of the writer.
  [[nodiscard]] result<std::uint64_t> refresh();

  // --- store/writer.cpp (append() queues in the inbox; the strand runs them)
  // direct: call the handler on the strand (it has no executor of its own)
  // and hold the store's shared work for it instead of its own.
  void append(std::string stream, std::vector<event_data> events, expected_version expected,
              append_handler handler, bool direct);
  // A delete or metadata change of `stream`, queued like an append; the
  // result is the $lifecycle event's position and the stream's last version.
  void change_lifecycle(std::string stream, lifecycle_change change, expected_version expected,
                        append_handler handler, bool direct);
  // The stream's lifecycle as reads apply it (any thread); nullopt: none.
  std::optional<stream_lifecycle> lifecycle_of(std::string_view stream) const {
    return lifecycle_.find(stream);
  }
  std::vector<std::pair<std::string, stream_acl>> access_lists(std::string_view prefix) const {
    return lifecycle_.access_lists(prefix);
  }

  // --- store/reader.cpp (any thread)
  // Every event, hidden or not: the store's own reads (indexer, writer).
  [[nodiscard]] result<read_page> read(std::string_view stream, const read_options& options) const;
  // read_visible() of a read_options with `to`: the bound applied.
  [[nodiscard]] result<read_page> read_bounded(std::string_view stream, read_options o) const;
  // What the application reads: read() without the events a delete, a
  // truncation, max_count or max_age hides (lifecycle.hpp); stream_deleted
  // for a deleted stream. A page may hold fewer events than asked, or none,
  // and still not be the end: go on from `next`.
  [[nodiscard]] result<read_page> read_visible(std::string_view stream, const read_options& options) const;
  // The events at these $all positions (published ones, ascending), numbered
  // first_sequence, first_sequence + 1, ... in the page; as many as fit in
  // max_bytes counted in reading order `dir` (the page is in ascending order
  // either way), `taken` (if given) set to how many positions that is. Erased
  // events are left out of the page but counted in `taken`.
  [[nodiscard]] result<read_page> read_positions(
      std::vector<std::uint64_t> positions, std::uint64_t first_sequence,
      std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(), direction dir = direction::forward,
      std::uint64_t* taken = nullptr) const;
  // The $all entries of `out`'s positions (set by the caller, ascending), each checked.
  [[nodiscard]] result<void> locate(std::span<located_record> out) const;
  // The records of `located` (any order), decoded into `records` (same order)
  // with their bytes kept in `storage`; each checked against its entry and
  // position. A scavenged event's record has kind format::record_kind_erased
  // (its stream and version, no body): reads for the application skip it.
  [[nodiscard]] result<void> read_records(const std::vector<located_record>& located, page_storage& storage,
                                          std::vector<format::decoded_record>& records) const;
  // Versions [first, first + count) of a stream, decoded and checked.
  // REQUIRES: the stream has them below `all_count`. With a budget, only the
  // versions that fit in it, in reading order `dir` (`first` then names the
  // first one returned).
  struct stream_records {
    std::vector<format::decoded_record> records;
    std::uint64_t first = 0;
  };
  [[nodiscard]] result<stream_records> read_stream_records(std::string_view stream, std::uint64_t first,
                                                           std::uint64_t count, std::uint64_t all_count,
                                                           page_storage& storage,
                                                           byte_budget* budget = nullptr,
                                                           direction dir = direction::forward) const;
  [[nodiscard]] result<read_page> read_all_page(const read_options& options) const;

  // Events of `stream` a reader may see now: its version count, $all's
  // position count, a read stream's entry count; 0 for a stream with no events.
  [[nodiscard]] result<std::uint64_t> published_count(std::string_view stream) const;

  // --- store/store_impl.cpp: shared by the parts (and by live/, links/, offline/)
  // Subscriptions park here; the writer (or a follower's refresh) wakes them.
  notifier& subscriptions() const { return notifier_; }
  file_cache& files() const { return *files_; }
  class indexer& links() const {
    return *indexer_;
  }
  // `keep_alive` is released on the executor, just before the handler runs.
  void complete_on_executor(boost::asio::any_completion_handler<void(boost::system::error_code)> handler,
                            boost::system::error_code ec, std::shared_ptr<const void> keep_alive = {}) const;

  // close() has completed: no event will be published any more.
  bool is_closed() const { return closed_published_.load(std::memory_order_acquire); }

  const store_options& options() const { return options_; }
  const store::executor_type& executor() const { return executor_; }
  // A store-owned thread for blocking file work that is not the writer's
  // (consumer commits), started on first use.
  boost::asio::any_io_executor background_executor() const;
  // Where consumers keep their checkpoints; empty for a read-only store
  // without store_options::consumer_directory.
  std::string consumer_directory() const;
  // Taken by a snapshot's write and by remove_snapshots() (snapshots.cpp).
  std::mutex& snapshot_mutex() const { return snapshot_mutex_; }
  // An aggregate() snapshot written (or not) on the background thread.
  void count_snapshot(bool stored) {
    (stored ? stat_snapshots_stored_ : stat_snapshot_failures_).fetch_add(1, std::memory_order_relaxed);
  }
  bool read_only() const { return options_.read_only; }
  std::uint64_t all_count() const { return all_count_.load(std::memory_order_acquire); }

  // "corrupt_data: <what> in <path> at offset <offset>"
  static error corruption(std::string_view what, const std::string& path, std::uint64_t offset);
  // A failed read: never a torn tail. "<errno text>: reading <path> at offset <offset> (errno N)"
  error read_error(boost::system::error_code ec, const std::string& path, std::uint64_t offset) const;
  std::string relative(const std::string& path) const;

 private:
  // --- store/writer.cpp
  // The inbox's appends queued since the drain of `epoch` was posted, unless
  // a close took them first.
  void drain_inbox(std::uint64_t epoch);
  // Puts an append or a lifecycle change in the inbox, posting a drain when none is.
  void queue(incoming_append a);
  // Runs `appends` in order through do_append and empties it.
  void run_appends(std::vector<incoming_append>& appends);
  // `committed_at`: the wall clock (ms) read once for the run of appends.
  void do_append(std::string& stream, std::vector<event_data>& events, expected_version expected,
                 append_handler& handler, bool direct, std::int64_t committed_at);
  // do_append's steps.
  error check_writable(const std::string& stream) const;
  error check_appendable(const std::string& stream, const std::vector<event_data>& events) const;
  [[nodiscard]] result<writer_stream*> writer_stream_of(const std::string& stream);
  void queue_retry(writer_stream& s, std::size_t at, std::size_t size, std::uint64_t count,
                   pending_append& p);
  error check_ids_and_version(writer_stream* s, const std::string& stream,
                              const std::vector<event_data>& events, expected_version expected,
                              std::uint64_t count, append_result& r);
  void seal_before_overflow(const std::vector<event_data>& events);
  error validate(const std::vector<event_data>& events) const;
  std::optional<std::size_t> find_retry(writer_stream& s, const std::vector<event_data>& events);
  bool in_window(const writer_stream& s, const recent_event& r) const;
  std::optional<std::pair<std::size_t, std::uint64_t>> find_taken_id(writer_stream& s,
                                                                     const std::vector<event_data>& events);
  void load_recent(writer_stream& s);
  std::uint16_t partition_of(std::string_view stream) const;
  void encode_append(writer_stream& s, std::vector<event_data>& events, append_result& r,
                     std::int64_t committed_at);
  void complete(pending_append& p, boost::system::error_code ec);
  // What do_append and do_lifecycle start with: the append's pending state,
  // holding the store's shared work for a direct handler.
  pending_append begin_pending(append_handler& handler, bool direct, expected_version expected);
  void do_lifecycle(incoming_append& a, std::int64_t committed_at);
  // The stream's lifecycle with the changes not yet published (strand).
  std::optional<stream_lifecycle> writer_lifecycle_of(std::string_view stream) const;
  error check_not_tombstoned(const std::string& stream) const;

  // --- store/flush.cpp
  void schedule_flush();
  void start_flush();
  // Closes the open batch (if it holds appends) and queues it for its flush.
  void seal_batch();
  [[nodiscard]] boost::system::error_code write_batch(batch& b);
  void finish_flush(std::unique_ptr<batch> b, boost::system::error_code ec, std::chrono::nanoseconds took);
  void fail_batch(batch& b, boost::system::error_code ec);
  void notify_subscribers(const batch& b);
  // Records `count` as published for followers (format.hpp, "Published head").
  [[nodiscard]] boost::system::error_code write_head(std::uint64_t count);
  [[nodiscard]] boost::system::error_code open_head_file(bool create);
  // Runs `work` on io_thread_ as the flush in flight, then `then` on the strand.
  void run_on_io_thread(std::function<boost::system::error_code()> work,
                        std::function<void(boost::system::error_code)> then);

  // --- store/checkpoint.cpp (io_thread_, or open/close when nothing else runs)
  bool checkpoint_due(std::uint64_t count) const;
  // Syncs the logs and $all, writes the stream index's memtable as a run (and
  // compacts), then records `count`, `streams` and the logs' ends in the
  // checkpoint file.
  [[nodiscard]] boost::system::error_code write_checkpoint(std::uint64_t count, std::uint64_t streams);
  // The background work a flush leaves: segments prepared and extended ahead.
  [[nodiscard]] boost::system::error_code prepare_logs();

  // --- store/reader.cpp
  // The record in `bytes` is the one `l` locates (an event, or its erased form).
  static bool matches(std::span<const std::byte> bytes, const located_record& l, format::decoded_record& rec);
  // A record that did not match its entry: fine if a scavenge marked the
  // entry erased meanwhile (read again until the erased record is whole),
  // corrupt_data otherwise.
  [[nodiscard]] result<void> reread_erased(const located_record& l, std::span<std::byte> bytes,
                                           format::decoded_record& rec) const;

  // --- store/store_impl.cpp
  void finish_close_if_idle();
  std::string all_path() const;

  // --- store/recovery.cpp
  [[nodiscard]] result<void> recover();
  [[nodiscard]] result<void> prepare_directory();
  [[nodiscard]] result<void> create_store();
  [[nodiscard]] result<std::optional<std::uint64_t>> short_log_file(std::uint16_t partition,
                                                                    std::uint64_t end);
  [[nodiscard]] result<format::checkpoint2> read_checkpoint() const;
  [[nodiscard]] result<std::unique_ptr<file>> open_log_segment(std::uint16_t partition,
                                                               std::uint64_t segment);

  // --- store/follower.cpp
  // Followers: the writer's published count; nullopt without a valid head file
  // (missing, or torn while the writer rewrites it); a failed read is an error.
  [[nodiscard]] result<std::optional<std::uint64_t>> read_head() const;
  // Adds the stream index entries of $all [from, to) to the index's memtable,
  // reading their records for names and versions; counts new streams.
  // `touched` (if given) gets the names of the streams indexed.
  [[nodiscard]] result<std::uint64_t> index_range(std::uint64_t from, std::uint64_t to,
                                                  std::vector<std::string>* touched);
  [[nodiscard]] result<void> open_follower();

  // --- store/scavenger.cpp
 public:
  // Erases the events reads hide now (scavenge.hpp). The caller's thread, not the executor's.
  [[nodiscard]] result<scavenge_report> scavenge(const scavenge_options& options);

 private:
  // Writes a checkpoint at the published count (unless there is one) and
  // returns its count. Blocks until the strand and io_thread_ have done it.
  [[nodiscard]] result<std::uint64_t> checkpoint_now();
  // Strand: checkpoint_now's step; `retry` runs later while a flush is in flight.
  void checkpoint_for(std::function<void(boost::system::error_code, std::uint64_t)> done,
                      std::function<void()> retry);
  // Adds `stream`'s hidden events below `below` to `batch`, erasing it as it fills.
  [[nodiscard]] result<void> scavenge_stream(const std::string& stream, const stream_lifecycle& l,
                                             std::uint64_t below, std::vector<format::scavenge_entry>& batch,
                                             scavenge_report& report);
  // Notes, erases and forgets one batch (steps 1-4 of scavenger.cpp).
  [[nodiscard]] result<void> scavenge_batch(std::vector<format::scavenge_entry>& batch,
                                            scavenge_report& report);
  // Steps 2 and 3: the entries marked, the records overwritten; `released`
  // grows by the bytes given back.
  [[nodiscard]] result<void> write_scavenge_batch(const std::vector<format::scavenge_entry>& batch,
                                                  std::uint64_t& released);
  // Finishes the batch a crash or a failed scavenge left (index/scavenge): the writer's open, scavenge().
  [[nodiscard]] result<void> finish_scavenge();
  // Drops the entries of a noted batch whose record $all no longer locates there.
  [[nodiscard]] result<void> still_in_place(std::vector<format::scavenge_entry>& batch) const;
  friend class checkpoint_request;

  // --- store/lifecycle_fold.cpp
  // Folds the $lifecycle events below `all_count` that the table has not seen
  // (open, and a follower's refresh before it publishes the count).
  [[nodiscard]] result<void> fold_lifecycle(std::uint64_t all_count);

  store_options options_;
  std::shared_ptr<file_system> fs_;
  store::executor_type executor_;
  boost::asio::strand<store::executor_type> strand_;
  // The REQUIRES of every writer step (EVSTORE_REQUIRE at its entry): writer
  // state is touched only on strand_.
  bool on_writer_strand() const { return strand_.running_in_this_thread(); }
  std::unique_ptr<file_lock> lock_;
  std::shared_ptr<file_cache> files_;
  log_geometry geometry_;
  std::uint16_t partitions_count_ = 1;
  std::unique_ptr<partition_reader> log_reader_;
  std::unique_ptr<stream_index> index_;
  // index_'s decoded blocks (store_options::index_cache_bytes); null if 0.
  std::shared_ptr<block_cache> index_cache_ = options_.index_cache_bytes > 0
                                                  ? std::make_shared<block_cache>(options_.index_cache_bytes)
                                                  : nullptr;

  // Published state (set by flush.cpp, recovery.cpp, follower.cpp; read from any thread).
  std::atomic<std::uint64_t> all_count_{0};
  std::atomic<std::uint64_t> stream_count_{0};
  std::atomic<bool> closed_published_{false};
  mutable notifier notifier_;
  std::unique_ptr<class indexer> indexer_;

  // Appends cross to the strand through this inbox: the first of a run posts
  // one drain that takes all queued by then, instead of one post (an
  // operation, a strand lock, a reference) each. close() takes what is
  // queued before it and moves the epoch on, so an append made after
  // close() still runs after it (and fails with store_closed).
  std::mutex inbox_mutex_;
  std::vector<incoming_append> inbox_;     // inbox_mutex_
  std::uint64_t inbox_epoch_ = 0;          // inbox_mutex_
  bool drain_posted_ = false;              // inbox_mutex_
  std::vector<incoming_append> draining_;  // strand

  // Deleted, truncated and limited streams (lifecycle.hpp).
  lifecycle_table lifecycle_;

  // Writer state (strand; recovery while opening).
  writer_streams writers_;
  // Lifecycle changes queued in a batch and not yet published: appends and
  // later changes check these first (a tombstone refuses the next append at
  // once, not once its flush is done).
  struct pending_lifecycle {
    stream_lifecycle lifecycle;
    std::uint64_t sequence = 0;
  };
  std::unordered_map<std::string, pending_lifecycle> pending_lifecycle_;
  std::uint64_t lifecycle_sequence_ = 0;
  std::uint64_t next_position_ = 0;
  std::uint64_t batch_epoch_ = 1;
  std::unique_ptr<batch> batch_;               // the open batch, appends go here
  std::deque<std::unique_ptr<batch>> sealed_;  // closed batches waiting for their flush, oldest first
  std::unique_ptr<batch> spare_;               // a flushed batch, kept for its buffers
  bool flush_posted_ = false;
  bool flush_in_flight_ = false;
  // Direct appends (pending_append::direct) between do_append and their
  // completion, and the outstanding work on executor_ they share while there
  // are any: without it an io_context whose only work is a durable append
  // waiting on the I/O thread would run out of work and return.
  std::size_t direct_pending_ = 0;
  boost::asio::any_io_executor direct_work_;
  bool closed_ = false;
  boost::system::error_code failed_;  // sticky: the first write/fsync error
  bool opened_ = false;               // open() succeeded: the destructor may checkpoint
  std::vector<close_handler> close_handlers_;

  // The flush in flight's (see Threading).
  std::vector<std::unique_ptr<partition_writer>> partitions_;
  std::unique_ptr<file> all_file_;  // index/all.idx, the writer's handle
  std::shared_ptr<cached_file> head_file_;
  std::vector<std::byte> entry_buffer_;     // the $all entries of the batch being flushed
  std::vector<stream_index::entry> added_;  // its stream index entries
  std::vector<std::uint16_t> touched_;      // the partitions it touched
  std::uint64_t checkpoint_sequence_ = 0;
  std::uint64_t checkpoint_count_ = 0;
  std::uint64_t checkpoint_streams_ = 0;  // stream_count at checkpoint_count_

  // Statistics (written by the writer, read from any thread).
  std::atomic<std::uint64_t> stat_appends_{0}, stat_events_{0}, stat_bytes_{0}, stat_flushes_{0},
      stat_fsyncs_{0}, stat_flush_ns_{0};
  std::array<std::atomic<std::uint64_t>, store_statistics::flush_duration_bounds_ns.size() + 1>
      stat_flush_buckets_{};

  std::atomic<std::uint64_t> stat_snapshots_stored_{0}, stat_snapshot_failures_{0};
  mutable std::mutex snapshot_mutex_;

  std::mutex scavenge_mutex_;  // one scavenge() at a time

  // Read-only stores: serialises refresh() (the watcher's and the caller's; follower.cpp).
  std::mutex refresh_mutex_;
  std::unique_ptr<class file_watcher> watcher_;
  mutable std::mutex background_mutex_;
  mutable std::unique_ptr<boost::asio::thread_pool> background_;

  // Writers: the thread of durable flushes and of every checkpoint, so the
  // caller's executor never waits on a disk sync.
  std::unique_ptr<boost::asio::io_context> io_context_;
  std::thread io_thread_;
};

}  // namespace evstore::detail
