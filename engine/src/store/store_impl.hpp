// The engine behind evstore::store. One object per open store directory.
//
// Parts (member functions are declared below under the file that defines them):
//   store/store_impl.cpp  construction, open, close, destruction, the facade's queries,
//                         helpers the other parts share (errors, executors, accessors)
//   store/writer.cpp      append: validation, retries, per-tick batches
//   store/flush.cpp       the flush of a batch, group commit, the published head
//   store/reader.cpp      stream, $all and positional reads, pages and their byte budget
//   store/recovery.cpp    open-time checks of the catalog and the $all tail, checkpoints
//   store/tail_repair.cpp the writer's repair of the file tails recovery found
//   store/lazy_load.cpp   a stream's committed state, loaded on first use
//   store/follower.cpp    read-only stores: following a writer (refresh)
//   journal/journal.cpp   durable mode: a flush as a journal frame (written by
//                         journal_writer), checkpoints, replay (with journal_reader)
// Outside store_impl: the indexer (links/), subscriptions and consumers (live/)
// reach it through its public part; engine/src/README.md maps every folder.
//
// Threading:
//   * Writer state (marked "strand") is touched only on strand_. The flush of a
//     batch runs on the strand (buffered mode) or on io_thread_ (fsync mode);
//     at most one flush is in flight, and the batch it flushes is owned by it.
//   * Reader state is atomics published by the writer after a flush
//     (all_count_, stream_state::committed_count) plus the registry and the
//     file cache, both safe from any thread.
#pragma once

#include "format/format.hpp"
#include "io/file_cache.hpp"
#include "journal/journal_writer.hpp"
#include "live/notifier.hpp"
#include "store/stream_registry.hpp"
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace evstore::detail {

class byte_budget;

using append_handler = boost::asio::any_completion_handler<store::append_signature>;
using close_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

// The writes one flush makes for one stream.
struct stream_batch {
  stream_state* stream = nullptr;
  bool create_files = false;           // write the partition and index headers first
  std::uint64_t partition_offset = 0;  // where `records` go
  std::uint64_t first_version = 0;     // index entry of the first record
  std::vector<std::byte> records;
  std::vector<std::byte> index_entries;
  std::uint64_t event_count = 0;
};

// Owns the bytes the events of one read point into: the records read, and
// copies of the stream names (an event may outlive the store).
struct page_storage {
  std::vector<std::shared_ptr<std::vector<std::byte>>> buffers;
  std::deque<std::string> names;  // a deque: growing it never moves a name
  std::string_view keep_name(const std::string& name) { return names.emplace_back(name); }
};

struct pending_append {
  append_handler handler;
  append_result result;
};

// Everything appended during one tick (or until the buffer filled).
// What a writer's recovery changes, found by reads alone (recovery.cpp,
// plan_repair) so that a read error fails the open before anything is written.
struct recovery_plan {
  std::uint64_t committed = 0;           // the committed end of $all
  std::uint64_t checkpoint_count = 0;    // where the accepted tail starts
  std::uint32_t keep_streams = 0;        // catalog records kept; the rest are cut
  bool cut_all = false;                  // $all holds bytes past the committed end
  std::set<std::uint32_t> touched;       // streams with events in the accepted tail
  std::set<std::uint32_t> create_index;  // ... whose index file the crash left without a header
  std::set<std::uint32_t> dirty;         // streams the lost tail touched: cut back
  // Per stream in `touched` or `dirty`: committed end of its partition, and its event count.
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> ends;
  // Every existing file the repair changes or syncs, opened while planning.
  std::map<std::string, std::shared_ptr<cached_file>> files;
};

struct batch {
  std::uint64_t first_position = 0;
  std::uint64_t event_count = 0;
  std::vector<std::byte> all_entries;
  std::uint64_t catalog_offset = 0;
  std::vector<std::byte> catalog_records;
  std::vector<stream_batch> streams;
  std::vector<pending_append> appends;
  std::size_t bytes = 0;
  // Streams whose catalog records are in this batch or an earlier one: what a
  // checkpoint written after this batch may promise.
  std::uint32_t stream_count = 0;
  bool empty() const { return appends.empty(); }
  // What the streams add to the journal frame besides records and entries (ops, paths, headers).
  std::size_t stream_frame_bytes = 0;
  // At least the size of this batch's journal frame (format::max_journal_frame_size).
  std::size_t frame_bound() const {
    return format::journal_frame_header_size + format::journal_stream_overhead + bytes +
           catalog_records.size() + stream_frame_bytes;
  }
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

  // --- store/recovery.cpp
  // Brings the writer's or reader's view of the files up to date: the catalog,
  // the $all tail (verified and, for a writer, repaired), the checkpoint.
  [[nodiscard]] result<void> recover();

  // --- store/lazy_load.cpp
  // Loads a stream's committed state from its index, once. Any thread.
  [[nodiscard]] result<void> ensure_loaded(stream_state& s) const;
  // Entry `position` of $all, committed or not; nullopt if it does not decode.
  [[nodiscard]] result<std::optional<format::all_entry>> read_all_entry(std::uint64_t position) const;

  // --- store/follower.cpp
  // Read-only stores: follow new events of the writer.
  [[nodiscard]] result<std::uint64_t> refresh();

  // --- store/writer.cpp (append() posts to the strand)
  void append(std::string stream, std::vector<event_data> events, expected_version expected,
              append_handler handler);

  // --- store/reader.cpp (any thread)
  [[nodiscard]] result<read_page> read(std::string_view stream, const read_options& options) const;
  [[nodiscard]] result<read_page> read_stream_page(stream_state& s, const read_options& options) const;
  [[nodiscard]] result<read_page> read_all_page(const read_options& options) const;
  // The events at these $all positions (published ones, ascending), numbered
  // first_sequence, first_sequence + 1, ... in the page; as many as fit in
  // max_bytes counted in reading order `dir` (the page is in ascending order
  // either way).
  [[nodiscard]] result<read_page> read_positions(
      std::vector<std::uint64_t> positions, std::uint64_t first_sequence,
      std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(),
      direction dir = direction::forward) const;
  [[nodiscard]] result<void> read_records(const std::vector<format::all_entry>& entries,
                                          const std::vector<std::uint64_t>& positions, page_storage& storage,
                                          std::vector<format::decoded_record>& records) const;
  [[nodiscard]] result<void> read_all_entries(const cached_file& all, std::uint64_t first,
                                              std::span<format::all_entry> out) const;
  // Versions [first, first + count) of a stream, decoded and checked against
  // its index. REQUIRES: first + count <= committed count.
  // With a budget, only the versions that fit in it, in reading order `dir`
  // (`first` then names the first one returned).
  struct raw_chunk {
    std::shared_ptr<std::vector<std::byte>> buffer;
    std::vector<format::decoded_record> records;
    std::uint64_t first = 0;
  };
  [[nodiscard]] result<raw_chunk> read_stream_records(const stream_state& s, std::uint64_t first,
                                                      std::uint64_t count, byte_budget* budget = nullptr,
                                                      direction dir = direction::forward) const;

  // Events of `stream` a reader may see now: its version count, $all's
  // position count, a read stream's entry count; 0 for a stream with no events.
  [[nodiscard]] result<std::uint64_t> published_count(std::string_view stream) const;

  // --- store/store_impl.cpp: shared by the parts (and by live/, links/, offline/)
  // Subscriptions park here; the writer (or a follower's refresh) wakes them.
  notifier& subscriptions() const { return notifier_; }
  file_cache& files() const { return files_; }
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
  bool read_only() const { return options_.read_only; }
  std::uint64_t all_count() const { return all_count_.load(std::memory_order_acquire); }
  const stream_registry& streams() const { return registry_; }

  // "corrupt_data: <what> in <path> at offset <offset>"
  static error corruption(std::string_view what, const std::string& path, std::uint64_t offset);
  // A failed read: never a torn tail. "<errno text>: reading <path> at offset <offset> (errno N)"
  error read_error(boost::system::error_code ec, const std::string& path, std::uint64_t offset) const;
  std::string relative(const std::string& path) const;

 private:
  // --- store/writer.cpp
  void do_append(std::string& stream, std::vector<event_data>& events, expected_version expected,
                 append_handler& handler);
  // do_append's steps.
  error check_appendable(const std::string& stream, const std::vector<event_data>& events) const;
  [[nodiscard]] result<stream_state*> writer_stream(const std::string& stream);
  void queue_retry(stream_state& s, std::size_t at, std::size_t size, std::uint64_t count, pending_append& p);
  error check_ids_and_version(stream_state* s, const std::string& stream,
                              const std::vector<event_data>& events, expected_version expected,
                              std::uint64_t count, append_result& r);
  void seal_before_overflow(const std::vector<event_data>& events);
  error validate(const std::vector<event_data>& events) const;
  std::optional<std::size_t> find_retry(stream_state& s, const std::vector<event_data>& events);
  bool in_window(const stream_state& s, const recent_event& r) const;
  std::optional<std::pair<std::size_t, std::uint64_t>> find_taken_id(stream_state& s,
                                                                     const std::vector<event_data>& events);
  void load_recent(stream_state& s);
  stream_state& register_stream(std::string name);
  stream_batch& batch_for(stream_state& s);
  void encode_append(stream_state& s, std::vector<event_data>& events, append_result& r);
  void complete(pending_append& p, boost::system::error_code ec);

  // --- store/flush.cpp
  void schedule_flush();
  void start_flush();
  // Closes the open batch (if it holds appends) and queues it for its flush.
  void seal_batch();
  [[nodiscard]] boost::system::error_code write_batch(batch& b);
  [[nodiscard]] boost::system::error_code write_data_files(batch& b);
  [[nodiscard]] boost::system::error_code write_stream_batch(stream_batch& sb);
  void finish_flush(std::unique_ptr<batch> b, boost::system::error_code ec, std::chrono::nanoseconds took);
  void fail_batch(batch& b, boost::system::error_code ec);
  void maybe_checkpoint(bool force);
  void notify_subscribers(const batch& b);
  // Records `count` as published for followers (format.hpp, "Published head").
  [[nodiscard]] boost::system::error_code write_head(std::uint64_t count);

  // --- store/store_impl.cpp
  [[nodiscard]] result<std::shared_ptr<cached_file>> hold_head_and_journal();
  void finish_close_if_idle();

  // --- store/follower.cpp
  // Followers: the writer's published count; nullopt without a valid head file
  // (missing, or torn while the writer rewrites it); a failed read is an error.
  [[nodiscard]] result<std::optional<std::uint64_t>> read_head() const;
  // Followers: forgets the streams whose catalog records the writer's
  // recovery cut since this store read them.
  [[nodiscard]] result<void> forget_cut_streams();
  void advance_loaded(stream_state& s, const format::all_entry& e);
  // The part of a verified $all tail [from, from + tail.size()) whose stream
  // index entries are in place, cut back to a commit boundary: what a reader
  // may publish while a writer (live or crashed) may be between the two writes.
  [[nodiscard]] result<std::uint64_t> indexed_prefix(std::uint64_t from,
                                                     const std::vector<format::all_entry>& tail) const;

  // --- store/lazy_load.cpp
  // ensure_loaded's work for one $all count.
  [[nodiscard]] result<void> load_against(stream_state& s, std::uint64_t count_all) const;
  [[nodiscard]] result<std::uint64_t> committed_prefix(const stream_state& s, std::uint64_t count_all,
                                                       std::uint64_t capacity) const;
  [[nodiscard]] result<bool> entry_is_committed(const stream_state& s, std::uint64_t version,
                                                std::uint64_t all_count) const;

  // --- store/recovery.cpp
  [[nodiscard]] result<void> prepare_directory();
  [[nodiscard]] result<void> read_catalog();
  [[nodiscard]] result<std::uint64_t> scan_all_tail(std::uint64_t from, std::vector<format::all_entry>& tail);
  [[nodiscard]] result<format::checkpoint> read_checkpoint();
  [[nodiscard]] result<void> check_catalog_against(const format::checkpoint& cp);
  [[nodiscard]] result<void> write_store_json();
  [[nodiscard]] boost::system::error_code write_checkpoint(std::uint64_t count, std::uint64_t journal_offset);

  // --- store/tail_repair.cpp (the writer's repair, called by recover())
  [[nodiscard]] result<recovery_plan> plan_repair(std::uint64_t committed,
                                                  const std::vector<format::all_entry>& tail,
                                                  std::uint64_t checkpoint_count);
  [[nodiscard]] result<void> repair_tail(const recovery_plan& plan,
                                         const std::vector<format::all_entry>& tail);
  [[nodiscard]] result<void> cut_uncommitted_streams(const recovery_plan& plan);
  // plan_repair's steps.
  [[nodiscard]] result<bool> hold_for_repair(recovery_plan& plan, const std::string& path);
  [[nodiscard]] result<void> plan_lost_tail(recovery_plan& plan);
  [[nodiscard]] result<void> plan_tail_indexes(recovery_plan& plan,
                                               const std::vector<format::all_entry>& tail);
  [[nodiscard]] result<void> plan_committed_ends(recovery_plan& plan,
                                                 const std::vector<format::all_entry>& tail);
  // repair_tail's steps; `files`: the plan's, and the index files step 2 creates.
  using repair_files = std::map<std::string, std::shared_ptr<cached_file>>;
  [[nodiscard]] result<void> cut_all_tail(const recovery_plan& plan);
  [[nodiscard]] result<void> rewrite_tail_index_entries(const recovery_plan& plan,
                                                        const std::vector<format::all_entry>& tail,
                                                        repair_files& files);
  [[nodiscard]] result<void> cut_lost_tail_streams(const recovery_plan& plan, const repair_files& files);
  [[nodiscard]] result<void> sync_repaired_tail(const recovery_plan& plan, const repair_files& files);

  // --- journal/journal.cpp (durable mode; the I/O thread, or open/close when nothing else runs)
  void build_journal_frame(const batch& b, std::vector<std::byte>& frame) const;
  // Writes the frame and fdatasyncs it (journal_writer).
  [[nodiscard]] boost::system::error_code write_journal_frame(const batch& b);
  bool durable_checkpoint_due(std::uint64_t count) const;
  [[nodiscard]] boost::system::error_code durable_checkpoint(std::uint64_t count);
  [[nodiscard]] boost::system::error_code sync_files(const std::vector<std::shared_ptr<cached_file>>& files);
  void note_dirty(stream_state& s);
  // `existing`: the journal, opened before recovery wrote anything (null: none yet).
  [[nodiscard]] result<void> open_journal(std::shared_ptr<cached_file> existing);
  // Replays the frames after the checkpoint with the journal's reader (journal_reader.hpp).
  [[nodiscard]] result<void> replay_journal(std::uint64_t from_offset, std::uint64_t position);

  store_options options_;
  std::shared_ptr<file_system> fs_;
  store::executor_type executor_;
  boost::asio::strand<store::executor_type> strand_;
  // The REQUIRES of every writer step (EVSTORE_REQUIRE at its entry): writer
  // state is touched only on strand_.
  bool on_writer_strand() const { return strand_.running_in_this_thread(); }
  std::unique_ptr<file_lock> lock_;
  mutable stream_registry registry_;
  mutable file_cache files_;

  // Published state (set by writer.cpp, recovery.cpp, follower.cpp; read from any thread).
  std::atomic<std::uint64_t> all_count_{0};
  std::atomic<bool> closed_published_{false};
  mutable notifier notifier_;
  std::unique_ptr<class indexer> indexer_;

  // Writer state (strand; writer.cpp, recovery.cpp while opening, follower.cpp for the catalog).
  std::uint64_t next_position_ = 0;
  std::uint64_t catalog_end_ = format::file_header_size;
  std::vector<std::uint64_t> catalog_offsets_;  // offset of each stream's catalog record, by id
  bool catalog_torn_ = false;                   // garbage after the last catalog record, cut by recover()
  struct catalog_damage {
    std::uint64_t offset = 0;               // where the garbage starts
    std::uint64_t next_first_position = 0;  // first position of the valid record after it
  };
  std::optional<catalog_damage> catalog_damage_;  // writer: a valid record follows the garbage
  std::uint64_t checkpoint_sequence_ = 0;
  std::uint64_t checkpoint_count_ = 0;
  std::uint32_t checkpoint_stream_count_ =
      0;  // streams with durable catalog records (see batch::stream_count)
  std::uint64_t batch_epoch_ = 1;
  std::unique_ptr<batch> batch_;               // the open batch, appends go here
  std::deque<std::unique_ptr<batch>> sealed_;  // closed batches waiting for their flush, oldest first
  bool flush_posted_ = false;
  bool flush_in_flight_ = false;
  bool closed_ = false;
  boost::system::error_code failed_;  // sticky: the first write/fsync error
  bool opened_ = false;               // open() succeeded: the destructor may checkpoint
  std::vector<close_handler> close_handlers_;

  // Statistics (written by the writer, read from any thread).
  std::atomic<std::uint64_t> stat_appends_{0}, stat_events_{0}, stat_bytes_{0}, stat_flushes_{0},
      stat_fsyncs_{0}, stat_flush_ns_{0};
  std::array<std::atomic<std::uint64_t>, store_statistics::flush_duration_bounds_ns.size() + 1>
      stat_flush_buckets_{};

  // Durable mode: the journal and what the next checkpoint must sync (I/O thread; journal.cpp).
  std::shared_ptr<cached_file> head_file_;   // the flushing thread
  std::unique_ptr<journal_writer> journal_;  // durable mode, from open_journal() on
  // The journal offset checkpoints record while no writer is open (buffered
  // mode, and recovery before open_journal): the end of what was replayed.
  std::uint64_t journal_end_ = 0;
  std::vector<std::byte> journal_buffer_;  // the frame being encoded
  // Files written since the last checkpoint, which must sync them. Flags, not
  // handles: a checkpoint reopens what the file cache evicted (fsync is per
  // inode), so the dirty set is not bounded by max_open_files.
  bool catalog_dirty_ = false;
  bool all_dirty_ = false;
  std::vector<stream_state*> dirty_streams_;
  std::set<std::string> dirty_dirs_;

  // Read-only stores: serialises refresh() (the watcher's and the caller's; follower.cpp).
  std::mutex refresh_mutex_;
  std::unique_ptr<class file_watcher> watcher_;
  mutable std::mutex background_mutex_;
  mutable std::unique_ptr<boost::asio::thread_pool> background_;

  // fsync mode: the thread that runs flushes, so the caller's executor never waits on a disk.
  std::unique_ptr<boost::asio::io_context> io_context_;
  std::thread io_thread_;
};

}  // namespace evstore::detail
