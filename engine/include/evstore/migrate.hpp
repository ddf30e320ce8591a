// Converting a store of format 1 (evstore before format 2: a file pair per
// stream) to the format this evstore reads (docs/format.md, "Migration from
// format 1"). Offline: the store must not be open in any process.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace evstore {

struct migrate_options {
  // The new store's partition logs and segment size (store_options::partitions
  // and segment_size say what they do).
  std::uint16_t partitions = 1;
  std::uint64_t segment_size = std::uint64_t{256} << 20;
  // Where the files live; default: the real file system.
  std::shared_ptr<evstore::file_system> file_system;
};

struct migrate_report {
  // false: `directory` already held a format-2 store (nothing was done).
  bool migrated = false;
  std::uint64_t events = 0;
  std::uint64_t read_streams = 0;  // definitions carried over (their links are rebuilt at open)
  std::uint64_t consumers = 0;     // durable consumer checkpoints carried over
  // Events past the format-1 store's committed end that a crash left (the
  // format-1 recovery would have cut them too), and why.
  std::uint64_t left_out = 0;
  std::string left_out_reason;
  // Where the format-1 store now is: `directory` + ".v1", kept as a backup.
  std::string backup;
};

// Reads the format-1 store in `directory` (never writing it), writes the
// format-2 store with the same events, positions, versions, ids and commit
// times beside it, then swaps: `directory` becomes the new store and the old
// one moves to `directory`.v1. Running it again after a crash finishes the
// job. Errors: store_locked (the store is open), format_mismatch (neither
// format 1 nor 2), corrupt_data (damage the format-1 recovery would refuse,
// with the file and offset), invalid_argument (`directory`.v1 exists), I/O.
[[nodiscard]] result<migrate_report> migrate_store(const std::string& directory,
                                                   const migrate_options& options = {});

}  // namespace evstore
