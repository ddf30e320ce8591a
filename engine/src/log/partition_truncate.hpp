// Cutting a format v2 partition log back to an offset: what recovery does with
// a torn tail that scan_partition_tail reported, before a writer opens there.
#pragma once

#include "io/file_cache.hpp"
#include "log/log_layout.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace evstore::detail {

// Makes `end` (normalized) the end of the partition: removes every later
// segment (then syncs the log directory), and writes zeros over the bytes of
// end's segment from `end` to its last non-zero byte (then syncs it). Later
// segments go first: a crash in between leaves a tail the next scan finds and
// cuts again, never a segment with records after a hole. `cache`, if given,
// forgets the removed segments' descriptors. REQUIRES: nothing reads or writes
// the partition meanwhile.
[[nodiscard]] result<void> truncate_partition(file_system& fs, const std::string& store_dir,
                                              std::uint16_t partition, const log_geometry& g,
                                              std::uint64_t end, file_cache* cache = nullptr);

// truncate_partition in two steps, for recovery, which reads everything
// before it writes anything: plan_partition_cut only reads (lists the later
// segments, opens end's segment and finds its non-zero bytes past `end`);
// apply_partition_cut only writes what the plan found.
struct partition_cut {
  std::uint16_t partition = 0;
  std::uint64_t segment = 0;                  // the segment that holds the end
  std::vector<std::uint64_t> later_segments;  // to remove
  std::unique_ptr<file> handle;               // end's segment; empty when nothing to zero
  std::uint64_t from = 0;                     // in-segment offset of the end
  std::size_t dirty = 0;                      // bytes from `from` to zero
};
[[nodiscard]] result<partition_cut> plan_partition_cut(file_system& fs, const std::string& store_dir,
                                                       std::uint16_t partition, const log_geometry& g,
                                                       std::uint64_t end);
[[nodiscard]] result<void> apply_partition_cut(file_system& fs, const std::string& store_dir,
                                               partition_cut& cut, file_cache* cache = nullptr);

}  // namespace evstore::detail
