// index/scavenge: the batch a scavenge is erasing, written (and synced) before
// any of its $all entries or records is touched and removed once all of them
// are, so that a writer's open after a crash finishes the batch (redo is
// idempotent: it writes the same bytes again). docs/format.md, "Scavenging".
//   0   u8[8]  magic "EVSSCAV\n"
//   8   u32    version (1)
//   12  u32    number of entries
//   16  entry* each:
//         u64  position
//         u8[16] the erased $all entry (format::all_entry2 with `erased` set)
//         u64  version, i64 committed_at, u64 commit_first_position
//         u32  commit_count, u16 name length, u16 zero, name bytes
//   ..  u32    masked crc32c of every byte before, u32 zero
#pragma once

#include "format/format.hpp"

#include <optional>
#include <string>
#include <vector>

namespace evstore::detail::format {

// One event to erase: where its record is and the header its erased record keeps.
struct scavenge_entry {
  std::uint64_t position = 0;
  all_entry2 entry;  // erased set; partition, offset and size of the record
  std::string stream;
  std::uint64_t version = 0;
  std::int64_t committed_at = 0;
  std::uint64_t commit_first_position = 0;
  std::uint32_t commit_count = 0;
  // The fields encode_erased_record takes (views into this entry).
  record_fields erased_fields() const;
};

std::vector<std::byte> encode_scavenge_state(const std::vector<scavenge_entry>& batch);
// nullopt if the magic, version, framing or checksum is wrong (a write torn
// by a crash, before any entry or record of the batch was touched).
std::optional<std::vector<scavenge_entry>> decode_scavenge_state(bytes in);

}  // namespace evstore::detail::format
