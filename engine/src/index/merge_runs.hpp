// Merges runs (and optionally a frozen memtable) into one new run file: a k-way
// merge in key order, one block of each input in memory at a time (plus the
// writer's buffers: index_run_writer.hpp), so a merge never loads a whole run.
// A stream's groups come out in version order (for one name the key orders by
// first version) and are re-cut into groups of 256 positions. Each stream's
// versions must continue each other across the inputs; a gap or an overlap is
// errc::corrupt_data naming both inputs.
#pragma once

#include "index/index_run_reader.hpp"
#include "index/index_run_writer.hpp"
#include "index/stream_memtable.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace evstore::detail {

// Writes run `seq` at `path` holding everything in `runs` and `frozen` (may be
// null or empty), synced; covers the union of their position ranges. Nothing
// is removed: the caller swaps the manifest, then removes the inputs.
[[nodiscard]] result<run_summary> merge_runs(file_system& fs, const std::string& path, std::uint64_t seq,
                                             const std::vector<std::shared_ptr<const index_run_reader>>& runs,
                                             const stream_memtable* frozen);

}  // namespace evstore::detail
