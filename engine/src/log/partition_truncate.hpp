// Cutting a format v2 partition log back to an offset: what recovery does with
// a torn tail that scan_partition_tail reported, before a writer opens there.
#pragma once

#include "io/file_cache.hpp"
#include "log/log_layout.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <string>

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

}  // namespace evstore::detail
