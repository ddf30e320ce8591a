// The stream index of format v2: (stream name, version) -> $all position for
// every stream, in one log-structured index whose file count does not depend on
// the number of streams:
//   <dir>/manifest               the live runs (index_manifest.hpp)
//   <dir>/run-<seq:016x>.sidx    immutable sorted runs (run_format.hpp)
// plus the memtable (stream_memtable.hpp) of the newest entries, which lives in
// memory only: after a restart the store re-adds the events of $all from
// durable_end() on (every position below it is in a run of the manifest).
//
// Versions of a stream are contiguous from 0 and its positions increase with
// the version; a newer run holds later versions of a stream than an older one,
// the frozen memtable (if any) later ones, and the live memtable the latest. So
// a lookup asks the live memtable, then the older sources newest first (a run's
// bloom filter first: a run without the name costs no read) for the one holding
// `from`, then the newer sources for what follows.
//
// Threading: one writer thread calls add, add_batch, freeze_and_write_run,
// compact and refresh; any number of reader threads call lookup, last_version,
// count_below, list, durable_end, runs and sizes at the same time.
//   - The sources are {live memtable, frozen memtable, runs}. The live memtable
//     is guarded by a writer-preferring reader/writer lock
//     (writer_preferring_mutex.hpp); the frozen memtable and the run set are
//     immutable and shared by std::shared_ptr, swapped under that lock.
//   - A reader holds the lock shared only to copy what the live memtable holds
//     for it and the two pointers (not even those when no bloom filter and
//     not the frozen memtable may hold the name); the runs' block reads and
//     the frozen memtable's lookups happen after it is released. Uncontended,
//     the lock and the pointer copies cost ~6 ns each (2-core machine). Every source swap happens
//     in one exclusive section, so a reader sees one consistent set: a version
//     moving from memtable to run is in the frozen memtable or in the run it
//     sees, never in neither nor in both.
//   - freeze_and_write_run moves the live memtable to the frozen one (exclusive,
//     O(1)), writes and syncs the run and the manifest with no lock held, then
//     installs {runs + new run, no frozen memtable} (exclusive, O(1)). compact
//     merges and syncs with no lock held and swaps the run set likewise. So no
//     reader ever waits for the writer's file I/O; the writer's exclusive
//     sections are a pointer swap or the adds of one flush (add_batch).
//   - A reader may keep using a run that compaction has replaced (its
//     shared_ptr keeps the file open; the removed file stays readable through
//     it, as on POSIX), and a frozen memtable or run set is freed by whichever
//     thread drops the last reference, outside the lock.
#pragma once

#include "index/index_manifest.hpp"
#include "index/index_run_reader.hpp"
#include "index/stream_list.hpp"
#include "index/stream_memtable.hpp"
#include "index/writer_preferring_mutex.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

class stream_index {
 public:
  struct options {
    // compact() merges every run into one when there are more than this many:
    // a lookup of an absent name costs max_runs bloom probes, a present one at
    // most max_runs + 1 block reads.
    std::size_t max_runs = 8;
    // A follower's index: another process writes it. Open creates and
    // removes nothing (a run file no manifest names may be the writer's run
    // in progress, not an orphan); freeze/compact are not allowed. The
    // follower adds the writer's new $all entries to its own memtable (memory
    // only) and calls refresh() to follow the writer's manifest.
    bool read_only = false;
    // A writer that must read everything before it writes anything (store
    // recovery): open leaves orphan run files for a later remove_orphans().
    bool keep_orphans = false;
    // Decoded run blocks kept for lookups (block_cache.hpp); null: none.
    std::shared_ptr<block_cache> cache;
  };

  // Opens the index in `dir`: reads the manifest and the footer of each live
  // run. Unless read_only, creates the directory first and then removes
  // orphan run files and manifest.tmp (left by a crashed writer).
  [[nodiscard]] static result<std::unique_ptr<stream_index>> open(std::shared_ptr<file_system> fs,
                                                                  std::string dir, options opts);

  // --- The writer thread.
  // Removes run files no manifest names and manifest.tmp (left by a crashed
  // writer); open does it unless keep_orphans. REQUIRES: !read_only.
  [[nodiscard]] result<void> remove_orphans();
  // remove_orphans() in two steps, for recovery, which reads everything
  // before it writes: orphans() lists (reads only), remove_orphans(names)
  // removes what it listed.
  [[nodiscard]] result<std::vector<std::string>> orphans() const;
  [[nodiscard]] result<void> remove_orphans(const std::vector<std::string>& names);

  // REQUIRES: version == last_version(name) + 1 (0 for a new stream) and
  // position above every position added before (and, after refresh(), at or
  // above the durable_end it returned).
  void add(std::string_view name, std::uint64_t version, std::uint64_t position);
  struct entry {
    std::string_view name;
    std::uint64_t version = 0;
    std::uint64_t position = 0;
  };
  // add() of each entry in order, under one acquisition of the lock (a
  // flush adds all its events at once). Same REQUIRES as add().
  void add_batch(std::span<const entry> entries);

  // Writes the memtable as a new run, makes it durable in the manifest, then
  // drops it (readers see it as the frozen memtable meanwhile). No-op when
  // the memtable is empty. On failure the frozen memtable is kept (readers
  // still see it) and the next call writes it first, as a run of its own.
  // REQUIRES: !read_only.
  [[nodiscard]] result<void> freeze_and_write_run();
  // Merges every run into one when there are more than max_runs; true if it did.
  // The old run files are removed after the new manifest is durable.
  // REQUIRES: !read_only.
  [[nodiscard]] result<bool> compact();
  // A follower's step: re-reads the manifest and, if it changed, opens its new
  // runs, drops those it no longer names, and drops from the memtable what the
  // runs now cover (positions below the new durable_end), all in one swap.
  // Returns durable_end(): the follower adds $all entries from there on. A run
  // file that vanishes between the manifest read and its open (the writer
  // compacted meanwhile) makes it read the manifest again, a bounded number
  // of times. REQUIRES: read_only.
  [[nodiscard]] result<std::uint64_t> refresh();

  // --- Any thread.

  // Appends the positions of versions [from, from + max_count) of `name` (fewer
  // at the stream's end); returns how many.
  [[nodiscard]] result<std::size_t> lookup(std::string_view name, std::uint64_t from, std::size_t max_count,
                                           std::vector<std::uint64_t>& out) const;
  // The stream's highest version; nullopt if it has none.
  [[nodiscard]] result<std::optional<std::uint64_t>> last_version(std::string_view name) const;
  // How many versions of `name` have a position below all_count (a reader
  // passes the store's published $all count, so it never sees part of an
  // append being indexed). From the newest source with such a position: no
  // I/O when that is a memtable, else what last_version costs.
  [[nodiscard]] result<std::uint64_t> count_below(std::string_view name, std::uint64_t all_count) const;
  // Up to `limit` streams after `after_name` (empty: from the first) in the
  // index's key order (stream_key.hpp), each with its count_below(all_count);
  // streams with none are left out. stream_list.hpp says how.
  [[nodiscard]] result<stream_page> list(std::string_view after_name, std::size_t limit,
                                         std::uint64_t all_count) const;

  // Every $all position below this is in the manifest's runs.
  std::uint64_t durable_end() const;
  struct sizes_view {
    std::size_t live_streams = 0;
    std::uint64_t live_events = 0;
    std::size_t live_bytes = 0;  // stream_memtable::byte_size(): the writer freezes at a bound
    std::uint64_t frozen_events = 0;
    std::size_t runs = 0;
  };
  sizes_view sizes() const;
  // The live runs, oldest first (a snapshot).
  std::vector<std::shared_ptr<const index_run_reader>> runs() const;

 private:
  using run_list = std::vector<std::shared_ptr<const index_run_reader>>;
  // Immutable once published.
  struct run_set {
    run_list runs;  // oldest first
    std::uint64_t durable_end = 0;
  };

  stream_index(std::shared_ptr<file_system> fs, std::string dir, options opts);
  // The manifest and its runs, reusing the readers of `current` that it still
  // names. A follower retries when a run vanishes (see refresh()).
  struct loaded {
    index_manifest manifest;
    std::shared_ptr<const run_set> runs;
  };
  [[nodiscard]] result<std::optional<loaded>> load_manifest(const run_set& current) const;
  std::uint64_t take_seq() noexcept;
  std::string run_path(std::uint64_t seq) const { return dir_ + "/" + run_file_name(seq); }
  // Writes frozen_ as a run, then installs it and drops frozen_.
  [[nodiscard]] result<void> write_frozen();
  void publish_runs(std::shared_ptr<const run_set> runs, bool drop_frozen);
  // REQUIRES: mutex_ held (shared or exclusive).
  bool older_may_hold(std::uint64_t hash, std::string_view name) const;

  std::shared_ptr<file_system> fs_;
  std::string dir_;
  options options_;
  index_manifest manifest_;  // the writer thread's only

  // Readers read these under mutex_ shared; the writer thread changes them
  // under it exclusive (and, being their only writer, reads them without it).
  mutable writer_preferring_mutex mutex_;
  stream_memtable live_;
  std::shared_ptr<const stream_memtable> frozen_;
  std::shared_ptr<const run_set> runs_;
};

}  // namespace evstore::detail
