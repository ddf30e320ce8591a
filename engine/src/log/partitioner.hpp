// Which partition log holds a stream's records in a format-2 store
// (docs/format.md, "Partition logs"): xxh3_64 of the stream's name modulo the
// store's partition count (store.json). The store and `evstore migrate` both
// place streams with this function, so a migrated store is laid out as the
// store would have written it. Changing it changes where existing streams
// live: it is part of the format.
#pragma once

#include "index/stream_key.hpp"
#include "require.hpp"

#include <cstdint>
#include <string_view>

namespace evstore::detail {

// REQUIRES: partitions >= 1.
inline std::uint16_t default_partition(std::string_view stream, std::uint32_t partitions) {
  EVSTORE_REQUIRE(partitions >= 1);
  return static_cast<std::uint16_t>(stream_hash(stream) % partitions);
}

}  // namespace evstore::detail
