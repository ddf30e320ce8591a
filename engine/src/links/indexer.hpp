// Read streams and system streams ($ce-<category>, $et-<type>): link files
// derived from $all, and the indexer that keeps them current.
//
// The indexer follows $all on the store's background thread, behind the
// writer: it reads published events (flushed, and fsynced in durable mode),
// routes each to the links it belongs to (one hash lookup per system stream,
// one filter test per read stream), appends their entries, and publishes the
// new entry counts. Appends never wait for it; a read stream lags $all by one
// indexer step. Its progress P (links/progress) is written after the link
// files (synced first in durable mode), so every link is complete below P; on
// restart each link is cut back to P and the indexer redoes $all from P.
//
// When P is written ("persisted"): in buffered mode after every live step. In
// durable mode lazily, because links are derived from $all, which the
// journal's one fdatasync per flush already makes durable: a live step
// persists only once link_sync_interval has passed since the last persist or
// P moved by checkpoint_interval events since; drain() persists what is left;
// and once caught up, a timer on the background thread persists what is
// unpersisted when the interval is over. So a durable append costs one sync,
// and followers (which read P) see read and system streams at most about
// link_sync_interval behind $all. The published progress (progress(), what
// the live links count) moves every live step in both modes.
//
// A link that cannot be written (its file cannot be created, written or
// synced) fails alone: the others stay current, reads of it fail with its
// error, and links/progress stays where it was until the next open, which
// redoes $all from there and so rebuilds it. Any other error stops the
// indexer until the next open. status() reports either.
//
// A new read stream is back-filled by the same thread in chunks, from 0 up to
// P, interleaved with live steps, so appends and other links never wait for
// the back-fill; it is then linked live. Its definition (links/
// read_streams.json) says whether the back-fill finished; an unfinished one
// restarts from 0.
//
// Parts: indexer.cpp (scheduling: opening, the loop, live steps, back-fills,
// drain), link_files.cpp (link-file storage: progress, loading, reading,
// writing, resetting, failing a link, a follower's refresh) and
// read_stream_definitions.cpp (the stored definitions, create and delete).
//
// Threading: count(), read(), list() from any thread. Everything else of the
// indexer runs on the background executor (one thread). Its tasks hold only
// `this`, never the store: the store's destructor stops and joins that thread
// first, so no task outlives it and no task can drop the store's last
// reference on its own thread. The sync timer is destroyed when the indexer
// stops (its wait is cancelled), so that join never waits for it; so is the
// linger timer.
#pragma once

#include "io/file_cache.hpp"
#include "links/filter_matcher.hpp"
#include <evstore/error.hpp>
#include <evstore/read_stream.hpp>
#include <evstore/store.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace evstore::detail {

class store_impl;
struct cached_file;

// The names of system streams ($ce-<category>, $et-<type>).
inline bool is_system_name(std::string_view name) {
  return name.starts_with("$ce-") || name.starts_with("$et-");
}

struct link_state {
  std::string name;
  std::string path;
  std::atomic<std::uint64_t> count{0};  // published entries
  std::atomic<bool> loaded{false};
  // Bumped each time its read stream is deleted (or a follower sees it go):
  // subscribers of the old one end (stream_deleted), never continue in a new
  // read stream of the same name.
  std::atomic<std::uint64_t> incarnation{0};
  std::mutex load_mutex;
  // Indexer thread only.
  bool writer_ready = false;  // cut back to the progress, entries counted
  std::uint64_t written = 0;  // entries in the file
  std::vector<std::byte> pending;
  std::uint64_t pending_entries = 0;
  bool dirty = false;  // written since the last progress write (durable mode: unsynced)
  // Durable mode: directories made for this link's file (its name needs
  // sub-directories of links/), deepest first, whose entries are not synced yet.
  std::vector<std::string> unsynced_dirs;
  // A link that could not be written fails alone: set once by the indexer
  // (under load_mutex, then the flag), cleared only by reset_link(). Reads of
  // it fail with `failure` instead of reading short.
  std::atomic<bool> failed{false};
  evstore::error failure;  // under load_mutex
};

struct read_stream_definition {
  std::string name;
  filter_matcher matcher;
  bool building = false;
  std::uint64_t built_to = 0;  // back-fill cursor while building
  link_state* link = nullptr;
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  std::vector<boost::asio::any_completion_handler<void(boost::system::error_code)>> waiters;
  // Built: its waiters complete once the live links reach this $all count
  // (every event acknowledged before its creation), not before.
  std::uint64_t complete_at = 0;
};

class indexer {
 public:
  // Durable mode: the longest a live step leaves the link files unsynced and
  // links/progress unwritten while appends go on, and how long after the last
  // append the timer persists them (docs/format.md, "Links").
  static constexpr std::chrono::milliseconds link_sync_interval{100};
  // The indexer steps at most once per linger while it is caught up or only a
  // few events behind: the first event after a quiet spell is linked at once,
  // a steady trickle (one durable appender: thousands of one-event flushes a
  // second) in steps of a few events each, rather than with one wake-up, two
  // reads and a write per flush competing with the writer for the CPU. A
  // backlog is worked off without pause. None under serial_io().
  static constexpr std::chrono::microseconds link_linger{1000};

  using create_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  explicit indexer(store_impl& store);
  ~indexer();
  // Stops indexing for good: waits for a step in progress, and wake-ups
  // after this post nothing. From the store's destructor, or when the
  // application drops its store object (the engine may live on a little for
  // pending completions, but must not keep writing links or posting).
  void shutdown();

  // Loads definitions and progress. Called once while opening, before
  // recovery writes anything (it only reads); then limit_progress() with the
  // committed end recovery found.
  [[nodiscard]] result<void> open();
  void limit_progress(std::uint64_t all_count);
  // Writer stores: starts following $all (once; later calls do nothing).
  // Not called while there is nothing to link, so such a store runs no
  // background thread for it.
  void start();
  bool has_definitions() const;
  bool started() const { return started_.load(std::memory_order_acquire); }
  bool is_link(std::string_view name) const;
  // The writer, creating a write stream: calls `add` (which registers it)
  // unless `name` is a read stream's or is being claimed by create(); false
  // then. Check and registration are one step against create()'s check of the
  // write streams and its claim (both under mutex_), so one name never gets
  // both kinds.
  bool claim_write_name(std::string_view name, const std::function<void()>& add) const;
  // link_state::incarnation of read stream `name`; nullopt for system
  // streams and names never a read stream in this process.
  std::optional<std::uint64_t> incarnation(std::string_view name) const;
  // Published entries of a link stream; nullopt if `name` is no link stream.
  [[nodiscard]] result<std::optional<std::uint64_t>> count(std::string_view name) const;
  [[nodiscard]] result<read_page> read(std::string_view name, const read_options& options) const;
  std::vector<read_stream_info> list() const;
  // Read-only stores: pick up what the writer's indexer added, and new or
  // deleted read streams. True if the links moved.
  [[nodiscard]] result<bool> refresh();
  // Wakes subscribers of every link this process has touched.
  void notify_links() const;
  std::uint64_t progress() const { return progress_.load(std::memory_order_acquire); }
  // The error that stopped the indexer, else the first of a link that failed
  // alone (empty code if none); any thread.
  evstore::error status() const;
  std::uint64_t failed_links() const { return failed_links_.load(std::memory_order_acquire); }

  // close() was called (any thread): create() and remove() complete with
  // store_closed from now on and write nothing.
  void begin_close() { closing_.store(true, std::memory_order_release); }
  // After the last flush of close(), before the directory lock goes: links
  // every published event, finishes the back-fills still running, persists
  // the progress, stops for good, then calls `done` (on the background thread).
  void drain(std::function<void(boost::system::error_code)> done);

  void create(std::string name, filter f, std::function<void(std::uint64_t, std::uint64_t)> progress,
              create_handler handler);
  void remove(std::string name, create_handler handler);

 private:
  link_state* find_link(std::string_view name) const;
  link_state& link_for(const std::string& name);
  [[nodiscard]] result<void> load(link_state& l) const;
  void schedule();
  bool any_building() const;
  void step();
  [[nodiscard]] boost::system::error_code live_step(std::uint64_t upto);
  [[nodiscard]] boost::system::error_code backfill_step();
  void complete_built_waiters();
  void route(const read_page& page, const std::vector<read_stream_definition*>& defs, bool system_streams);
  [[nodiscard]] boost::system::error_code prepare_for_write(link_state& l);
  [[nodiscard]] boost::system::error_code reset_link(link_state& l);
  // Writes the links' pending entries and publishes them; a live step (not a
  // back-fill's) also moves the published progress to `new_progress` and
  // persists it when persist_due() says so.
  [[nodiscard]] boost::system::error_code write_pending(std::uint64_t new_progress, bool live_step);
  // write_pending's steps.
  void append_pending(const std::vector<link_state*>& touched);
  // Buffered mode: always. Durable mode: the interval or checkpoint_interval
  // events since the last persist (indexer.hpp, top).
  bool persist_due(std::uint64_t new_progress) const;
  // Makes links/progress say `upto` (unless a link has failed): in durable
  // mode after syncing the link files written since the last persist, their
  // new directories and links/. Every link must be written up to `upto`.
  [[nodiscard]] boost::system::error_code persist(std::uint64_t upto);
  [[nodiscard]] boost::system::error_code sync_dirty_links();
  // Caught up with something unpersisted (durable mode): persists it once the
  // interval since the last persist is over. Under step_mutex_.
  void arm_sync_timer();
  void on_sync_timer();
  // A flush woke the caught-up indexer (background thread).
  void on_woken();
  // Steps now if link_linger has passed since the last step, else when it
  // has. Under step_mutex_.
  void step_after_linger();
  void publish_pending(const std::vector<link_state*>& touched);
  [[nodiscard]] boost::system::error_code write_definitions();
  void create_on_background(const std::string& name, const filter& f,
                            std::function<void(std::uint64_t, std::uint64_t)> progress,
                            create_handler handler);
  bool answer_if_taken(std::unique_lock<std::shared_mutex>& lock, const std::string& name, const filter& f,
                       create_handler& handler);
  [[nodiscard]] result<bool> load_definitions();
  // The progress file's value (not limited to the store's $all count).
  [[nodiscard]] result<std::optional<std::uint64_t>> read_progress() const;
  // The indexer stops (until the next open).
  void fail(boost::system::error_code ec);
  // Only `l` stops: its pending entries are dropped, its readers get `ec`.
  void fail_link(link_state& l, boost::system::error_code ec, std::string_view what);
  [[nodiscard]] boost::system::error_code create_link_file(link_state& l, std::shared_ptr<cached_file>& f);
  // Durable mode: the sub-directories of links/ holding l's file, whose
  // entries the next persist syncs.
  void note_unsynced_dirs(link_state& l) const;
  // Under step_mutex_: no more steps; back-fills end with store_closed.
  void stop_locked();

  store_impl& store_;
  std::string dir_;
  mutable std::shared_mutex mutex_;  // links_ and definitions_ (the maps, not the states)
  std::map<std::string, std::unique_ptr<link_state>, std::less<>> links_;
  std::map<std::string, std::unique_ptr<read_stream_definition>, std::less<>> definitions_;
  std::string claimed_;  // under mutex_: the read stream create() is setting up, not yet in definitions_
  std::atomic<std::uint64_t> progress_{0};  // published: links are complete below it
  std::uint64_t persisted_progress_ = 0;    // what links/progress says
  // Background thread: the progress at the last persist (where
  // checkpoint_interval counts from; links/progress says it unless a link had
  // failed), when it ran, and whether anything was written or linked since.
  std::uint64_t persist_point_ = 0;
  std::chrono::steady_clock::time_point persisted_at_;
  bool unpersisted_ = false;
  // links/progress, kept open from its first write on (background thread):
  // a persist is then one write, not a directory check, a stat and a lookup.
  std::shared_ptr<cached_file> progress_file_;
  std::optional<boost::asio::steady_timer> sync_timer_;    // under step_mutex_; reset on stop
  bool sync_timer_armed_ = false;                          // under step_mutex_
  std::optional<boost::asio::steady_timer> linger_timer_;  // under step_mutex_; reset on stop
  std::chrono::steady_clock::time_point last_step_at_;     // under step_mutex_
  std::atomic<bool> started_{false};
  bool running_ = false;              // background thread
  bool scheduled_ = false;            // background thread
  boost::system::error_code failed_;  // background thread
  std::mutex step_mutex_;             // held while a step (or drain) runs
  bool stopped_ = false;              // under step_mutex_
  std::atomic<bool> closing_{false};
  std::atomic<std::uint64_t> failed_links_{0};
  mutable std::mutex error_mutex_;
  evstore::error published_error_;   // failed_ with its detail, for other threads
  evstore::error first_link_error_;  // under error_mutex_
  struct liveness {
    std::mutex mutex;
    bool yes = true;
  };
  std::shared_ptr<liveness> alive_ = std::make_shared<liveness>();
};

}  // namespace evstore::detail
