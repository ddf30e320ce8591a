// evstore::store — the public facade of the embedded event store.
//
// Threading contract:
//   * append() and close() may be called from any thread. Appends run on a
//     strand of the executor given to open(); every append issued during one
//     turn of that executor is written by one flush (per-tick batching). With
//     fsync_on_flush the writes and the fdatasync run on the store's own I/O
//     thread, so the executor's threads never wait on a disk flush.
//     Completion handlers run on their associated executor (for plain callbacks:
//     the store's strand). Every asynchronous operation holds work on the
//     store's executor and on the handler's executor until its handler has
//     run, as Asio's own operations do: io_context::run() needs no work guard.
//   * read(), events(), aggregate(), stream_version(), list_streams() and
//     event_count() may be called from any thread, concurrently with appends, and
//     never block on the writer. A read sees every append whose handler has run
//     (read-your-writes) and never a partly written append.
//   * A store object is movable, not copyable. Destroying it is safe while
//     appends are pending: they still complete (the engine keeps itself alive).
#pragma once

#include <evstore/completion.hpp>
#include <evstore/consumer.hpp>
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>
#include <evstore/read_stream.hpp>
#include <evstore/scavenge.hpp>
#include <evstore/subscription.hpp>
#include <evstore/types.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore {

namespace detail {
class store_impl;
class cursor;
}  // namespace detail

// What a failed append throws with boost::asio::use_future and
// boost::asio::use_awaitable: an operation_error (code() the append's error,
// detail() its detail) with the whole result (for a conflict:
// result().expected and result().actual).
class append_error : public operation_error {
 public:
  append_error(boost::system::error_code ec, append_result r)
      : operation_error(ec, r.detail), result_(std::move(r)) {}
  const append_result& result() const noexcept { return result_; }

 private:
  append_result result_;
};

// The on-disk format this evstore writes (docs/format.md); stores of format 1
// are converted once with `evstore migrate`.
inline constexpr int store_format_version = 2;

struct store_options {
  std::string directory;
  // Acknowledge appends only after fdatasync of their records in the partition
  // log (survives power loss). Off: acknowledged once written to the OS (survives a process crash).
  bool fsync_on_flush = false;
  // Open without the writer lock, never write; for reading a store another
  // process writes. Call store::refresh() to see its new events.
  bool read_only = false;
  // Where the files live; default: the real file system.
  std::shared_ptr<evstore::file_system> file_system;
  // Where durable consumers keep their checkpoints. Default: "consumers" in
  // the store's directory; a read-only store (which never writes there) needs
  // its own directory to run consumers.
  std::string consumer_directory;
  // Read-only stores: follow the writer on their own, watching its files
  // (inotify on the real file system) and polling every follow_poll_interval
  // as a fallback; new events wake subscriptions. Off: call refresh().
  bool follow = true;
  std::chrono::milliseconds follow_poll_interval{100};
  // Maintain the system streams $ce-<category> (streams named
  // "<category>-...") and $et-<type> (events of one type).
  bool system_streams = true;
  // Bound on open partition/index files kept by the file cache.
  // 0: half the process's descriptor limit (RLIMIT_NOFILE), between 64 and
  // 65536 (512 if the limit cannot be read). Otherwise at least 8.
  std::size_t max_open_files = 0;
  // A flush starts early once this many bytes are buffered in one tick.
  std::size_t flush_threshold_bytes = std::size_t{8} << 20;
  // Largest event (type + data + metadata), bytes. At most 64 MiB - 84, the
  // record format's limit (open() refuses more).
  std::size_t max_event_bytes = std::size_t{1} << 20;
  // Longest event type, bytes.
  std::size_t max_type_bytes = 256;
  // Largest number of events in one append.
  std::size_t max_append_events = 65536;
  // How many of a stream's most recent events a retried append's ids are compared with.
  std::size_t idempotency_window = 128;
  // Streams whose writer state (next version, recent event ids) stays in
  // memory between appends. Past it, the states of streams not appended to
  // lately are dropped; their next append finds its version in the stream
  // index again (and its recent ids on disk). At least 1.
  std::size_t writer_stream_cache = std::size_t{1} << 20;
  // Bytes of decoded stream-index blocks kept in memory (0: none). A block
  // holds the versions of ~150 streams: looking up streams whose entries
  // left memory for the index's run files (a stream's first append since
  // open, a read of a cold stream) reads and decodes a block once, not once
  // per stream, while it stays here. Least recently used out first.
  std::size_t index_cache_bytes = std::size_t{32} << 20;
  // Events between recovery checkpoints: bounds the work of opening after a crash.
  std::uint64_t checkpoint_interval = 65536;
  // The store's partition logs (1..1000): each stream's records go to one of
  // them. One log makes a durable flush one write and one fdatasync; several
  // spread the writes of many streams over files synced in turn. Fixed when
  // the store is created (store.json keeps it; later opens ignore this).
  std::uint16_t partitions = 1;
  // Size of each segment file of a partition log, a multiple of 4 KiB in
  // [8 KiB, 4 GiB]. Fixed when the store is created, like `partitions`.
  std::uint64_t segment_size = std::uint64_t{256} << 20;
  // Which partition a stream goes to (taken modulo `partitions`); default: a
  // hash of the name. Only placement depends on it: it may change between
  // opens. Called on the writer's strand.
  std::function<std::size_t(std::string_view stream)> partitioner;

  // The application's own rules for who may touch which stream (the way
  // node-event-storage's preCommit and preRead do): return an error to refuse,
  // an empty one (the default error{}) to let the operation through. A
  // refusal reaches the caller with errc::refused and the hook's detail
  // (whatever code the hook gives: callers branch on one code) and changes
  // nothing. The hooks must not call back into the store, except for
  // stream_metadata_of() and access_lists() (a stream's access list, as the
  // last published change left it: see stream_acl in types.hpp).
  //
  // before_append: every append, once its events passed validation and
  // before its expected version is checked. Called on the writer's strand,
  // one append at a time: keep it cheap, it holds up every append behind it.
  std::function<evstore::error(std::string_view stream, const std::vector<event_data>& events)> before_append;
  // before_read: each read(), events(), stream_version(), aggregate(),
  // subscribe(), consumer() and consumer_state() of a stream, once per call,
  // on the caller's thread: it may run on several threads at once.
  // list_streams() and list_consumers() leave out the streams it refuses.
  // It is asked with the name read: a stream's events also reach "$all",
  // "$et-<type>", "$ce-<category>" and read streams whose filter takes them,
  // so a rule that keeps a stream private refuses those names too. Not the
  // store's own reads (indexers, recovery, backup).
  std::function<evstore::error(std::string_view stream)> before_read;
};

// One page of a read. Each event owns its bytes (recorded_event::storage).
// What aggregate() folded.
template <class State>
struct folded {
  State state;
  // The stream's version the state stands for: its last event's, whether
  // folded or hidden (what read -> decide -> append(expect::exactly(version))
  // needs); for $ and read streams, the last entry's number (sequence).
  std::uint64_t version = 0;
  std::uint64_t events_folded = 0;        // by this call: those after the snapshot, if one was used
  std::optional<std::uint64_t> snapshot;  // the version of the snapshot it started from
};

// Snapshots of aggregate()'s folded state, stored per stream and per `name`.
struct snapshot_options {
  // The fold and its version ("cart-v3"): give a changed fold a new name,
  // and it never starts from a snapshot of the old one. Empty: no snapshots.
  std::string name;
  // Store a snapshot when a call folded at least this many events (0: only
  // use snapshots, never store one).
  std::uint64_t every = 1000;
};

struct read_page {
  std::vector<recorded_event> events;
  // `from` of the next page in the same direction; meaningful when !end.
  std::uint64_t next = 0;
  // Forward: no more events at the time of the read. Backward: reached version 0.
  bool end = true;
};

// A lazy, single-pass range over a stream's events, read page by page.
// If a read fails (e.g. corruption), iteration stops and error() says why:
//   for (const auto& e : range) { ... }
//   if (range.error()) { ... }
class event_range {
 public:
  class iterator {
   public:
    using value_type = recorded_event;
    using difference_type = std::ptrdiff_t;
    using reference = const recorded_event&;
    using pointer = const recorded_event*;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    reference operator*() const;
    pointer operator->() const { return &**this; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.done(); }

   private:
    friend class event_range;
    explicit iterator(event_range* r) : range_(r) {}
    bool done() const;
    event_range* range_ = nullptr;
  };

  event_range(event_range&&) noexcept;
  event_range& operator=(event_range&&) noexcept;
  ~event_range();

  iterator begin();
  std::default_sentinel_t end() const { return {}; }
  const std::optional<evstore::error>& error() const;

 private:
  friend class store;
  explicit event_range(std::unique_ptr<detail::cursor> c);
  std::unique_ptr<detail::cursor> cursor_;
};

struct store_statistics {
  std::uint64_t appends = 0;  // acknowledged appends
  std::uint64_t events = 0;   // events written by this process
  std::uint64_t bytes = 0;    // partition bytes written by this process
  std::uint64_t flushes = 0;
  std::uint64_t fsyncs = 0;             // fdatasync calls
  std::uint64_t flush_nanoseconds = 0;  // sum of flush durations
  // Flush durations as a histogram: flush_duration_counts[i] counts flushes
  // that took at most flush_duration_bounds_ns[i] (the last bucket: longer).
  static constexpr std::array<std::uint64_t, 11> flush_duration_bounds_ns = {
      100'000,    250'000,    500'000,    1'000'000,   2'500'000,    5'000'000,
      10'000'000, 25'000'000, 50'000'000, 100'000'000, 1'000'000'000};
  std::array<std::uint64_t, flush_duration_bounds_ns.size() + 1> flush_duration_counts{};
  // Streams whose writer state is in memory (store_options::writer_stream_cache).
  std::uint64_t writer_streams = 0;
  // Stream-index blocks (store_options::index_cache_bytes): bytes held now,
  // and lookups that found their block there or read it from its run file.
  std::uint64_t index_cache_bytes = 0;
  std::uint64_t index_cache_hits = 0;
  std::uint64_t index_cache_misses = 0;
  // $all positions linked into read and system streams so far (they lag the
  // event count by the indexer's current step).
  std::uint64_t indexed = 0;
  // The indexer's first error (store::indexer_status() has its detail): one
  // that stopped it (read and system streams then stay where they are until
  // the store is reopened), or that of a link it could not write.
  boost::system::error_code indexer_error;
  // Links (read or system streams) that failed alone: reads of them fail
  // with their error until the store is reopened; every other link stays
  // current.
  std::uint64_t failed_links = 0;
  // aggregate() snapshots written by this process, and those that could not be.
  std::uint64_t snapshots_stored = 0;
  std::uint64_t snapshot_failures = 0;
};

class store {
 public:
  using executor_type = boost::asio::any_io_executor;
  using append_signature = void(boost::system::error_code, append_result);

  // Opens (creating if missing) the store in options.directory and recovers
  // from a crash if needed. Cost depends on the files touched, never on the
  // number of events. Errors: store_locked, format_mismatch, corrupt_data, I/O.
  [[nodiscard]] static result<store> open(executor_type executor, store_options options);

  store(store&&) noexcept;
  store& operator=(store&&) noexcept;
  ~store();

  // Appends events atomically to `stream` if its version matches `expected`.
  // Completes with (error_code, append_result) once the events are written (and
  // fsynced with fsync_on_flush). Errors: wrong_expected_version (see
  // append_result::expected/actual), invalid_stream_name, invalid_event,
  // read_only, store_failed (an earlier I/O error), store_closed, or the OS error
  // of a failed write. A rejected append (wrong version, invalid input) leaves
  // no trace. After an I/O error the outcome is unknown, as with any database:
  // the bytes may have reached the disk; reopen and read, or retry with the
  // same event ids (idempotent).
  // With use_future / use_awaitable the result is the append_result and an
  // error is thrown as an append_error (a system_error carrying the detail and
  // the result); callbacks get (error_code, append_result) with
  // append_result::detail. Completion contract: see "Completions" in README.md.
  template <class CompletionToken>
  auto append(std::string_view stream, std::vector<event_data> events, expected_version expected,
              CompletionToken&& token) {
    return initiate_append(
        std::forward<CompletionToken>(token),
        [this, s = std::string(stream), ev = std::move(events), expected](
            boost::asio::any_completion_handler<append_signature> handler, bool own_executor) mutable {
          async_append(std::move(s), std::move(ev), expected, std::move(handler), own_executor);
        });
  }

  template <class CompletionToken>
  auto append(std::string_view stream, event_data event, expected_version expected, CompletionToken&& token) {
    std::vector<event_data> events;
    events.push_back(std::move(event));
    return append(stream, std::move(events), expected, std::forward<CompletionToken>(token));
  }

  // Deletes `stream` (delete_options): at once its events stop being readable
  // anywhere (reads answer stream_deleted; $all, system and read streams,
  // subscriptions and consumers leave them out). Soft: an append recreates
  // the stream, its versions going on where they stopped; hard: every later
  // write fails with stream_tombstoned. Written as one event of the system
  // stream "$lifecycle" (durable as an append, recovered, followed); the
  // files keep the bytes. Completes like append(): the result's `version` is
  // the stream's last version, `position` that of the $lifecycle event.
  // Errors: as append(), and stream_not_found (a soft delete of a stream
  // with no events), stream_tombstoned.
  template <class CompletionToken>
  auto delete_stream(std::string_view stream, delete_options options, CompletionToken&& token) {
    return initiate_append(
        std::forward<CompletionToken>(token),
        [this, s = std::string(stream), options](
            boost::asio::any_completion_handler<append_signature> handler, bool own_executor) mutable {
          async_delete_stream(std::move(s), options, std::move(handler), own_executor);
        });
  }
  // Replaces the stream's metadata (types.hpp, stream_metadata): events
  // outside its limits stop being readable at once, as deleted ones do. A
  // stream need not exist yet. `expected` is checked against the stream.
  // Completes and fails as delete_stream(), and invalid_argument for a
  // max_age or an access list out of bounds.
  template <class CompletionToken>
  auto set_stream_metadata(std::string_view stream, const stream_metadata& metadata,
                           expected_version expected, CompletionToken&& token) {
    return initiate_append(
        std::forward<CompletionToken>(token),
        [this, s = std::string(stream), m = metadata, expected](
            boost::asio::any_completion_handler<append_signature> handler, bool own_executor) mutable {
          async_set_stream_metadata(std::move(s), std::move(m), expected, false, std::move(handler),
                                    own_executor);
        });
  }
  // set_stream_metadata() of the limits only: the stream keeps the access
  // list it has when the change is applied (metadata.acl is ignored), so a
  // change of limits racing a change of the list never undoes it.
  template <class CompletionToken>
  auto set_stream_limits(std::string_view stream, const stream_metadata& metadata, expected_version expected,
                         CompletionToken&& token) {
    return initiate_append(
        std::forward<CompletionToken>(token),
        [this, s = std::string(stream), m = metadata, expected](
            boost::asio::any_completion_handler<append_signature> handler, bool own_executor) mutable {
          async_set_stream_metadata(std::move(s), std::move(m), expected, true, std::move(handler),
                                    own_executor);
        });
  }
  // The stream's metadata as reads apply it now (a delete shows as its
  // truncate_before); empty for a stream without any.
  [[nodiscard]] stream_metadata stream_metadata_of(std::string_view stream) const;
  // Every stream whose name starts with `prefix` and whose metadata has an
  // access list, with it: what a check of a read that mixes streams ($ce-,
  // a read stream's prefix) needs. One atomic load while no stream has one;
  // else a range of the (sorted) streams that have one.
  [[nodiscard]] std::vector<std::pair<std::string, stream_acl>> access_lists(std::string_view prefix) const;

  // Erases the events reads hide now (deleted, truncated, beyond max_count or
  // max_age) and gives back their disk space, while everything else goes on:
  // see scavenge.hpp. Blocks the calling thread, which must not be one that
  // runs the store's executor. Errors: read_only, store_closed, store_failed,
  // invalid_stream_name (options.stream), the I/O error with the file's name.
  [[nodiscard]] result<scavenge_report> scavenge(const scavenge_options& options = {});

  // Flushes what is buffered, writes a recovery checkpoint and stops accepting
  // appends (they fail with store_closed). Completes with the flush's error.
  // Like every operation below: with use_future / use_awaitable an error is
  // thrown as an operation_error carrying its detail; a callback taking
  // (error_code, std::string) gets the detail, one taking (error_code) the
  // code alone (completion.hpp).
  template <class CompletionToken>
  auto close(CompletionToken&& token) {
    return detail::initiate_detailed(std::forward<CompletionToken>(token),
                                     [this](auto handler) { async_close(std::move(handler)); });
  }

  // One page of a stream (write stream or "$all"). Errors: stream_not_found
  // (a write stream with no events), invalid_stream_name, corrupt_data.
  [[nodiscard]] result<read_page> read(std::string_view stream, read_options options = {}) const;
  // The same, lazily, page by page.
  event_range events(std::string_view stream, read_options options = {}) const;

  // Folds a stream's events into a state: evolve(state, event) returns the new
  // state, or evolve(state&, event) updates it in place. Returns the state
  // and the version it stands for. A stream read() refuses is refused here
  // alike (stream_not_found for one with no events, stream_deleted, ...).
  template <class State, class Evolve>
  [[nodiscard]] result<folded<State>> aggregate(std::string_view stream, State state, Evolve evolve) const {
    return aggregate(
        stream, std::move(state), std::move(evolve), snapshot_options{.name = {}, .every = 0},
        [](const State&) { return std::string(); }, [](std::string_view) { return std::optional<State>(); });
  }
  // The same, starting from the newest valid snapshot stored under
  // `snapshots.name` and storing a new one (on the store's background
  // thread, after this returns) once `snapshots.every` events were folded.
  // save(const State&) gives the state as JSON text; load(std::string_view
  // json) gives it back, or nullopt to fold from the start. A snapshot is
  // used only if it is of this stream as it is now: with the same first
  // visible event and the very event it was folded to still at its version
  // (a truncate, a max_count or max_age window that moved, a delete and
  // recreate, events lost to a power loss and appended again, or a repair
  // make it stale, and the fold starts over). Snapshots are kept for write
  // streams only (invalid_argument for $ and read streams). Snapshots are a cache: a damaged or missing one
  // costs a full fold, never a wrong state; a read-only store uses the
  // writer's and stores none. Errors: read()'s, invalid_argument for a name
  // that is not a valid stream name (it names a file) or a stream that is not
  // a write stream.
  template <class State, class Evolve, class Save, class Load>
  [[nodiscard]] result<folded<State>> aggregate(std::string_view stream, State state, Evolve evolve,
                                                const snapshot_options& snapshots, Save save,
                                                Load load) const {
    auto head = read(stream, {.from = 0, .max_count = 1});
    if (!head) return head.error();
    folded<State> out{std::move(state)};
    // Numbers in the stream read (sequence): for a write stream its versions.
    std::optional<std::uint64_t> first;  // the stream's first visible event
    if (!head->events.empty()) first = head->events.front().sequence;
    std::uint64_t from = 0;
    bool have_version = false;
    if (!snapshots.name.empty()) {
      auto stored = load_snapshot(stream, snapshots.name, first);
      if (!stored) return stored.error();
      if (*stored) {
        if (std::optional<State> loaded = load(std::string_view((*stored)->second))) {
          out.state = std::move(*loaded);
          out.version = (*stored)->first;
          out.snapshot = (*stored)->first;
          have_version = true;
          from = (*stored)->first + 1;
        }
      }
    }
    auto range = events(stream, {.from = from});
    std::optional<std::uint64_t> folded_first;  // the first event this call folded
    for (const recorded_event& e : range) {
      if (!folded_first) folded_first = e.sequence;
      if constexpr (std::is_invocable_r_v<State, Evolve&, State&&, const recorded_event&>) {
        out.state = evolve(std::move(out.state), e);
      } else {
        evolve(out.state, e);
      }
      out.version = e.sequence;
      have_version = true;
      ++out.events_folded;
    }
    if (range.error()) return *range.error();
    if (!have_version) {
      // Every event hidden (truncated): the state is the initial one, at the stream's version.
      auto v = stream_version(stream);
      if (!v) return v.error();
      out.version = v->value_or(0);
    }
    // Stored only for a fold from `first` itself (no truncate between the
    // two reads) or from a snapshot.
    if (snapshots.every != 0 && !snapshots.name.empty() && first && out.events_folded >= snapshots.every &&
        (out.snapshot || folded_first == first)) {
      store_snapshot(stream, snapshots.name, out.version, *first, save(out.state));
    }
    return out;
  }

  // The version of the stream's last event; nullopt when it has none.
  [[nodiscard]] result<std::optional<std::uint64_t>> stream_version(std::string_view stream) const;
  // Streams with at least one event, starting at index `offset`, in the stream
  // index's order: a hash of the name, stable while no stream is created
  // (not creation order; a page walks the index, so a large offset costs
  // the streams it skips).
  std::vector<stream_info> list_streams(std::size_t offset = 0, std::size_t limit = 1000) const;
  std::size_t stream_count() const;
  // Number of events in $all (= last position + 1).
  std::uint64_t event_count() const;

  // A live subscription to a stream (write, read or system stream, or "$all"),
  // from options.from (from_end: new events only); see subscription.hpp.
  // Pull batches with next(token); the subscription's own work runs on
  // `executor` (default: the store's). A stream that does not exist yet is
  // empty: the subscription waits for its first events.
  [[nodiscard]] result<subscription> subscribe(std::string_view stream,
                                               subscription_options options = {}) const;
  [[nodiscard]] result<subscription> subscribe(std::string_view stream, subscription_options options,
                                               subscription::executor_type executor) const;
  // Callback form: `on_batch(error_code, const subscription_batch&)` receives
  // every batch until an error ends it (operation_aborted once cancelled or
  // destroyed, store_closed after close()). The next batch is read only after
  // on_batch returns, so a slow handler holds back only itself.
  // The handler runs on the store's executor, like the appends' flushes: with
  // many subscribers give them an executor of their own (next overload), or
  // their reads compete with the writer.
  template <class OnBatch>
  [[nodiscard]] result<subscription> subscribe(std::string_view stream, subscription_options options,
                                               OnBatch on_batch)
      const requires std::is_invocable_v<OnBatch&, boost::system::error_code, const subscription_batch&> {
    auto sub = subscribe(stream, options);
    if (sub) start_callbacks(*sub, std::move(on_batch));
    return sub;
  }
  template <class OnBatch>
  [[nodiscard]] result<subscription> subscribe(std::string_view stream, subscription_options options,
                                               subscription::executor_type executor, OnBatch on_batch)
      const requires std::is_invocable_v<OnBatch&, boost::system::error_code, const subscription_batch&> {
    auto sub = subscribe(stream, options, std::move(executor));
    if (sub) start_callbacks(*sub, std::move(on_batch));
    return sub;
  }

  // Creates the read stream `name` from `f` (see read_stream.hpp) and
  // back-fills it from every stored event on the store's background thread,
  // without holding up appends; `progress(done, total)` reports $all
  // positions scanned (called on that thread). Completes once every event
  // acknowledged before the call that matches is linked and readable; from
  // then on every published event that matches is linked within one indexer
  // step. The definition is stored: reopening needs no
  // re-declaration. Creating it again with the same filter (values compared
  // as JSON: 12.5 == 1.25E1) is a no-op, after a restart too; with another,
  // read_stream_exists (also for the name of a write stream). A filter that
  // validate() refuses: invalid_argument (read_stream.hpp says why).
  template <class CompletionToken>
  auto create_read_stream(std::string_view name, evstore::filter f, CompletionToken&& token,
                          std::function<void(std::uint64_t, std::uint64_t)> progress = {}) {
    return detail::initiate_detailed(
        std::forward<CompletionToken>(token),
        [this, n = std::string(name), fl = std::move(f), p = std::move(progress)](auto handler) mutable {
          async_create_read_stream(std::move(n), std::move(fl), std::move(p), std::move(handler));
        });
  }
  // Deletes a read stream's definition and links; no event is touched. Done
  // (success, its subscribers end with stream_deleted) once the stored
  // definitions no longer list it; a link file that cannot be removed then is
  // left to the next read stream of that name, which removes it first.
  template <class CompletionToken>
  auto delete_read_stream(std::string_view name, CompletionToken&& token) {
    return detail::initiate_detailed(std::forward<CompletionToken>(token),
                                     [this, n = std::string(name)](auto handler) mutable {
                                       async_delete_read_stream(std::move(n), std::move(handler));
                                     });
  }
  std::vector<read_stream_info> list_read_streams() const;

  // The durable consumer `name` of `stream` (see consumer.hpp), with its
  // stored position and state. Errors: consumer_busy (already open, here or in
  // another process), invalid_stream_name, read_only (a read-only store
  // without consumer_directory), corrupt_data (a damaged checkpoint file).
  [[nodiscard]] result<evstore::consumer> consumer(std::string_view stream, std::string_view name) const;
  // The stored position and state of a consumer, whether or not an instance
  // is open (no lock taken). stream_not_found if it never committed.
  [[nodiscard]] result<consumer_info> consumer_state(std::string_view stream, std::string_view name) const;
  // Every consumer that has committed, by stream then name (none for a
  // read-only store without consumer_directory). Errors: the I/O error,
  // corrupt_data (a damaged checkpoint file).
  [[nodiscard]] result<std::vector<consumer_info>> list_consumers() const;

  // Read-only stores: picks up events and streams the writer has added since.
  [[nodiscard]] result<std::uint64_t> refresh();

  bool is_read_only() const;
  const store_options& options() const;
  store_statistics statistics() const;
  // The indexer's health: an empty code while every read and system stream
  // is current; otherwise its first error with the detail (which link or
  // file, the OS error). A link that cannot be written (say, a file-system
  // limit on its name) fails alone: reads of it fail with its error, the
  // others stay current, and the next open rebuilds it. Any other error
  // (reading $all, writing links/progress) stops the indexer until the next
  // open. /health reports it; see README "Read streams".
  evstore::error indexer_status() const;

 private:
  explicit store(std::shared_ptr<detail::store_impl> impl);
  // own_executor: the handler has an associated executor (has_own_executor);
  // one without is called on the writer's strand, as dispatch would.
  void async_append(std::string stream, std::vector<event_data> events, expected_version expected,
                    boost::asio::any_completion_handler<append_signature> handler, bool own_executor);
  void async_delete_stream(std::string stream, delete_options options,
                           boost::asio::any_completion_handler<append_signature> handler, bool own_executor);
  void async_set_stream_metadata(std::string stream, stream_metadata metadata, expected_version expected,
                                 bool keep_acl, boost::asio::any_completion_handler<append_signature> handler,
                                 bool own_executor);
  // What append(), delete_stream() and set_stream_metadata() share: `start`
  // gets the type-erased handler and whether it has an executor of its own;
  // with use_future / use_awaitable an error is thrown as an append_error.
  template <class CompletionToken, class Start>
  static auto initiate_append(CompletionToken&& token, Start start) {
    if constexpr (detail::throws_on_error<std::decay_t<CompletionToken>>) {
      return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, append_result)>(
          [](auto handler, Start begin) {
            auto executor = boost::asio::get_associated_executor(handler);
            std::move(begin)(boost::asio::bind_executor(executor,
                                                        [h = std::move(handler)](boost::system::error_code ec,
                                                                                 append_result r) mutable {
                                                          std::exception_ptr e;
                                                          if (ec)
                                                            e = std::make_exception_ptr(append_error(ec, r));
                                                          std::move(h)(e, std::move(r));
                                                        }),
                             true);
          },
          token, std::move(start));
    } else {
      return boost::asio::async_initiate<CompletionToken, append_signature>(
          [](auto handler, Start begin) {
            constexpr bool own_executor = detail::has_own_executor<decltype(handler)>;
            std::move(begin)(std::move(handler), own_executor);
          },
          token, std::move(start));
    }
  }
  void async_close(boost::asio::any_completion_handler<detail::detailed_signature> handler);
  void async_create_read_stream(std::string name, evstore::filter f,
                                std::function<void(std::uint64_t, std::uint64_t)> progress,
                                boost::asio::any_completion_handler<detail::detailed_signature> handler);
  void async_delete_read_stream(std::string name,
                                boost::asio::any_completion_handler<detail::detailed_signature> handler);
  static void start_callbacks(
      subscription& sub, std::function<void(boost::system::error_code, const subscription_batch&)> on_batch);
  // aggregate()'s snapshots: the stored (version, state JSON) under `name`
  // if it is valid for the stream whose first visible event is `first`
  // (none without one); invalid_argument for a name no file can carry.
  // Storing one runs on the background thread (a failure is counted in
  // statistics, never reported: the next fold simply starts further back).
  [[nodiscard]] result<std::optional<std::pair<std::uint64_t, std::string>>> load_snapshot(
      std::string_view stream, std::string_view name, std::optional<std::uint64_t> first) const;
  void store_snapshot(std::string_view stream, std::string_view name, std::uint64_t version,
                      std::uint64_t first, std::string state) const;

  std::shared_ptr<detail::store_impl> impl_;
};

}  // namespace evstore
