// How many versions of a stream lie below a $all count, from one source (a
// memtable entry or a run group) holding versions [first_version, + n) with
// the positions `positions` (increasing, as positions grow with the version).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>

namespace evstore::detail {

// first_version + the number of positions below all_count, when the first one
// is: every earlier version (in older sources) is then below it too. nullopt
// when none is: the answer lies in an older source.
inline std::optional<std::uint64_t> versions_below(std::uint64_t first_version,
                                                   std::span<const std::uint64_t> positions,
                                                   std::uint64_t all_count) noexcept {
  if (positions.empty() || positions.front() >= all_count) return std::nullopt;
  const auto cut = std::lower_bound(positions.begin(), positions.end(), all_count);
  return first_version + static_cast<std::uint64_t>(cut - positions.begin());
}

}  // namespace evstore::detail
