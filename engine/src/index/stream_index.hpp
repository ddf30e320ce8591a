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
// and the memtable the latest. So a lookup asks the memtable, then the runs
// newest first (bloom filter first: a run without the name costs no read) for
// the source holding `from`, then the newer sources for what follows.
//
// Threading (today): one thread at a time, the caller serializes. The design
// leaves room for one writer thread plus concurrent readers: runs are immutable
// and shared by std::shared_ptr (a reader may keep using a run that compaction
// has replaced; its file is removed only once unlinked files are safe to read,
// as on POSIX), so a later version can publish {frozen memtable, runs} as an
// immutable snapshot that readers load while the writer fills a new memtable.
#pragma once

#include "index/index_manifest.hpp"
#include "index/index_run_reader.hpp"
#include "index/stream_memtable.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <optional>
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
    // in progress, not an orphan), and add/freeze/compact are not allowed.
    bool read_only = false;
  };

  // Opens the index in `dir`: reads the manifest and the footer of each live
  // run. Unless read_only, creates the directory first and then removes
  // orphan run files and manifest.tmp (left by a crashed writer).
  [[nodiscard]] static result<std::unique_ptr<stream_index>> open(std::shared_ptr<file_system> fs,
                                                                  std::string dir, options opts);

  // REQUIRES: !read_only, version == last_version(name) + 1 (0 for a new
  // stream) and position above every position added before.
  void add(std::string_view name, std::uint64_t version, std::uint64_t position);

  // Writes the memtable as a new run, makes it durable in the manifest, then
  // empties the memtable. No-op when the memtable is empty. On failure the
  // memtable is kept (a retry writes the same run again). REQUIRES: !read_only.
  [[nodiscard]] result<void> freeze_and_write_run();
  // Merges every run into one when there are more than max_runs; true if it did.
  // REQUIRES: !read_only.
  // The old run files are removed after the new manifest is durable.
  [[nodiscard]] result<bool> compact();

  // Appends the positions of versions [from, from + max_count) of `name` (fewer
  // at the stream's end); returns how many.
  [[nodiscard]] result<std::size_t> lookup(std::string_view name, std::uint64_t from, std::size_t max_count,
                                           std::vector<std::uint64_t>& out) const;
  // The stream's highest version; nullopt if it has none.
  [[nodiscard]] result<std::optional<std::uint64_t>> last_version(std::string_view name) const;

  // Every $all position below this is in the manifest's runs.
  std::uint64_t durable_end() const noexcept;
  const stream_memtable& memtable() const noexcept { return memtable_; }
  // Oldest first.
  const std::vector<std::shared_ptr<const index_run_reader>>& runs() const noexcept { return runs_; }

 private:
  stream_index(std::shared_ptr<file_system> fs, std::string dir, options opts)
      : fs_(std::move(fs)), dir_(std::move(dir)), options_(opts) {}
  [[nodiscard]] result<void> load();
  [[nodiscard]] result<void> remove_orphans();
  std::uint64_t take_seq() noexcept;
  std::string run_path(std::uint64_t seq) const { return dir_ + "/" + run_file_name(seq); }
  [[nodiscard]] result<void> install(const index_manifest& next,
                                     std::vector<std::shared_ptr<const index_run_reader>> runs);

  std::shared_ptr<file_system> fs_;
  std::string dir_;
  options options_;
  index_manifest manifest_;
  std::vector<std::shared_ptr<const index_run_reader>> runs_;
  stream_memtable memtable_;
};

}  // namespace evstore::detail
