// `evstore migrate`'s work: turns the format-1 store in a directory into a
// format-2 store in the same place, keeping the format-1 store as a backup.
//
//   1. reads <dir> with v1_reader (never writing it) and writes the format-2
//      store into <dir>.v2-tmp (v2_writer; a leftover <dir>.v2-tmp is removed
//      first), with the read-stream definitions and durable consumer
//      checkpoints of <dir> (links are not copied: the store rebuilds them
//      from $all, its links/progress being absent);
//   2. renames <dir> to <dir>.v1 (the user's backup: never removed here) and
//      syncs the parent directory;
//   3. renames <dir>.v2-tmp to <dir> and syncs the parent directory.
// Each step leaves a state from which running migrate_store again finishes
// the job: <dir> of format 2 with <dir>.v1 beside it is done; <dir> missing
// with <dir>.v1 beside it resumes at step 3 (when <dir>.v2-tmp holds a
// complete store, i.e. its store.json) or at step 1 reading <dir>.v1; <dir>
// of format 1 starts over (a leftover <dir>.v2-tmp may predate appends made
// since, so it is never reused).
//
// The source's LOCK is held throughout, so a store open in another process
// is refused (store_locked) rather than copied while it changes.
#pragma once

#include "migrate/v1_reader.hpp"
#include "migrate/v2_writer.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace evstore::detail::migrate {

struct migrate_options {
  v2_writer_options store;   // partitions, segment size of the new store
  std::size_t batch = 1024;  // events read at a time (v1_reader::next)
};

struct migrate_result {
  // False when <dir> was already of format 2 (an earlier run finished, or it
  // was created so): nothing was written.
  bool migrated_now = false;
  // Whether this run wrote the format-2 store (false when it only finished
  // the swap of a store an interrupted run had written).
  bool wrote_store = false;
  std::uint64_t events = 0;              // events in the format-2 store
  std::optional<std::uint64_t> streams;  // counted when this run wrote the store
  std::size_t read_streams = 0;          // definitions carried (when written)
  std::size_t consumers = 0;             // consumer checkpoints carried (when written)
  v1_left_out left_out;                  // the format-1 torn tail not migrated (v1_reader)
  std::string store;                     // <dir>: the format-2 store
  std::string backup;                    // <dir>.v1: the format-1 store, kept; "" if none
};

// <dir>.v1 and <dir>.v2-tmp for `dir` (without a trailing '/').
std::string backup_directory(const std::string& dir);
std::string temporary_directory(const std::string& dir);

// Migrates (or finishes migrating) the store in `dir`; see above. Errors:
// invalid_argument when there is no store in `dir` (nor a backup of an
// interrupted run), or when <dir> is of format 1 and <dir>.v1 exists already
// (a backup of an earlier migration the user must move first);
// store_locked when another process has the store open; v1_reader's errors
// (corrupt_data, format_mismatch, failed reads, with file and offset);
// v2_writer's and the file system's (file and offset) when writing fails.
[[nodiscard]] result<migrate_result> migrate_store(const std::shared_ptr<file_system>& fs, std::string dir,
                                                   const migrate_options& options = {});

}  // namespace evstore::detail::migrate
