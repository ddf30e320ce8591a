#include "offline/repair_lost.hpp"

#include <algorithm>
#include <iterator>
#include <set>

namespace evstore::detail::repair {
namespace {

using entry = std::pair<std::uint64_t, std::uint64_t>;  // version, position

// The first known entry with a version above `version`.
std::vector<entry>::const_iterator after(const stream_known& s, std::uint64_t version) {
  return std::upper_bound(s.positions.begin(), s.positions.end(), version,
                          [](std::uint64_t v, const entry& e) { return v < e.first; });
}

// Whether `s` can have had `version` at `position`: the version is missing and
// positions still increase with versions, with room for the versions between.
bool fits(const stream_known& s, std::uint64_t version, std::uint64_t position) {
  const auto next = after(s, version);
  if (next != s.positions.begin() && std::prev(next)->first == version) return false;  // not missing
  if (next != s.positions.end() &&
      (next->second <= position || next->second - position < next->first - version)) {
    return false;
  }
  if (next == s.positions.begin()) return position >= version;  // versions 0..version-1 come before it
  const auto prev = std::prev(next);
  return prev->second < position && position - prev->second >= version - prev->first;
}

// A run of versions a stream is missing, and the positions they must lie between.
struct need {
  std::size_t stream = 0;
  std::uint64_t first_version = 0;
  std::optional<std::uint64_t> count;   // none: after a damaged tail, how many is unknown
  std::optional<std::uint64_t> after;   // positions are above this one
  std::optional<std::uint64_t> before;  // ... and below this one
};

std::vector<need> needs_of(const std::vector<stream_known>& streams) {
  std::vector<need> out;
  for (std::size_t k = 0; k < streams.size(); ++k) {
    std::optional<std::pair<std::uint64_t, std::uint64_t>> prev;
    for (const auto& [version, position] : streams[k].positions) {
      const std::uint64_t first = prev ? prev->first + 1 : 0;
      if (version > first) {
        out.push_back(
            {k, first, version - first, prev ? std::optional(prev->second) : std::nullopt, position});
      }
      prev = {version, position};
    }
    if (streams[k].tail_damaged) {
      out.push_back({k, prev ? prev->first + 1 : 0, std::nullopt,
                     prev ? std::optional(prev->second) : std::nullopt, std::nullopt});
    }
  }
  return out;
}

// The open holes a need's interval contains, in order.
std::vector<std::uint64_t> candidates(const need& n, const std::set<std::uint64_t>& open) {
  std::vector<std::uint64_t> out;
  for (auto it = n.after ? open.upper_bound(*n.after) : open.begin(); it != open.end(); ++it) {
    if (n.before && *it >= *n.before) break;
    out.push_back(*it);
  }
  return out;
}

}  // namespace

std::map<std::uint64_t, owner> assign_lost(std::vector<stream_known>& streams,
                                           const std::vector<std::uint64_t>& holes,
                                           const std::vector<claim>& claims, std::uint64_t limit) {
  std::map<std::uint64_t, owner> out;
  std::set<std::uint64_t> open(holes.begin(), holes.end());
  auto take = [&](std::size_t stream, std::uint64_t version, std::uint64_t position) {
    auto& known = streams[stream].positions;
    known.insert(after(streams[stream], version), {version, position});
    out[position] = {stream, version};
    open.erase(position);
  };
  // 1. What the indexes say, where it fits.
  for (const claim& c : claims) {
    if (open.count(c.position) && c.stream < streams.size() &&
        fits(streams[c.stream], c.version, c.position)) {
      take(c.stream, c.version, c.position);
    }
  }
  // 2. Elimination, until it settles: a hole only one need can hold is that
  //    need's; a need missing k versions with exactly k holes in its interval,
  //    all below `limit`, takes them all (its events cannot be anywhere else).
  for (bool progress = !open.empty(); progress && !open.empty();) {
    progress = false;
    const std::vector<need> needs = needs_of(streams);
    std::map<std::uint64_t, int> covered;
    std::vector<std::vector<std::uint64_t>> cands(needs.size());
    for (std::size_t i = 0; i < needs.size(); ++i) {
      cands[i] = candidates(needs[i], open);
      for (std::uint64_t p : cands[i]) ++covered[p];
    }
    for (std::size_t i = 0; i < needs.size() && !progress; ++i) {
      const need& n = needs[i];
      const auto& c = cands[i];
      if (c.empty()) continue;
      const auto exclusive = [&](std::uint64_t p) { return covered[p] == 1; };
      std::size_t take_count = 0;
      if (n.count) {
        const bool forced = n.before && *n.before <= limit;
        if (c.size() == *n.count && (forced || std::all_of(c.begin(), c.end(), exclusive)))
          take_count = c.size();
      } else {
        while (take_count < c.size() && exclusive(c[take_count])) ++take_count;  // versions follow in order
      }
      for (std::size_t j = 0; j < take_count; ++j) {
        if (!fits(streams[n.stream], n.first_version + j, c[j])) break;
        take(n.stream, n.first_version + j, c[j]);
        progress = true;
      }
    }
  }
  return out;
}

std::string lost_metadata(std::string_view partition, std::uint64_t offset) {
  // File names are stream_name.hpp encodings: nothing in them needs JSON escaping.
  return "{\"lost\":{\"file\":\"" + std::string(partition) + "\",\"offset\":" + std::to_string(offset) + "}}";
}

std::vector<std::byte> encode_placeholder(format::record_fields fields, const std::string& metadata,
                                          std::uint32_t& crc) {
  fields.type = lost_type;
  fields.data = "null";
  fields.metadata = metadata;
  fields.id.reset();
  std::vector<std::byte> out(format::record_size(fields));  // with the stream's name (format 2)
  crc = format::encode_record(fields, out);
  return out;
}

}  // namespace evstore::detail::repair
