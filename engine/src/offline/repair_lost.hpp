// Repair's salvage of damaged records (repair.cpp, step 3b): which stream and
// version each lost $all position held, and the "$lost" placeholder record
// that keeps its place.
//
// A position below the checkpoint that no intact record holds is a lost
// event: the store had acknowledged it. Its owner is found from, in order:
// the $all entry at that position, the stream index entries of the versions a
// stream is missing, then elimination (a stream missing k versions between two
// intact records owns the k unheld positions between them when no other
// stream can). A claim is accepted only if it fits the stream: the version is
// missing and positions still increase with versions around it.
#pragma once

#include "format/format.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

// What is known of one stream: (version, position) of its intact records,
// sorted (a vector: a store may hold millions).
struct stream_known {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> positions;
  // Its partition ended in damage: events after its last known version may be lost.
  bool tail_damaged = false;
};

// Evidence (an index entry) that `stream` had `version` at `position`.
struct claim {
  std::size_t stream = 0;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
};

struct owner {
  std::size_t stream = 0;
  std::uint64_t version = 0;
};

// The owners of `holes` (sorted, unheld positions) that the claims (most
// trusted first) or elimination determine; holes left out have none.
// `limit`: holes lie below it (the interval of a gap that reaches past it may
// hold lost events that are no hole, so it is only filled by elimination).
// Adds every assigned (version, position) to `streams`.
std::map<std::uint64_t, owner> assign_lost(std::vector<stream_known>& streams,
                                           const std::vector<std::uint64_t>& holes,
                                           const std::vector<claim>& claims, std::uint64_t limit);

// The type of a placeholder event. The writer does not refuse it from an
// application (types are free text), so the metadata marks it as well.
inline constexpr std::string_view lost_type = "$lost";

// The metadata of a placeholder: {"lost":{"file":<segment>,"offset":<n>}}:
// the damaged bytes of that log segment from that in-segment offset most
// likely held the event (saved, when there were any, in
// lost+found/<segment>@<offset>).
std::string lost_metadata(std::string_view partition, std::uint64_t offset);

// The placeholder record: `fields` gives the stream's name, position, version,
// committed_at and the commit fields; type, data, metadata and id are set here. Returns the
// encoded record and its stored crc.
std::vector<std::byte> encode_placeholder(format::record_fields fields, const std::string& metadata,
                                          std::uint32_t& crc);

}  // namespace evstore::detail::repair
