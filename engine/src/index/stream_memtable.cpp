#include "index/stream_memtable.hpp"

#include "index/versions_below.hpp"
#include "require.hpp"

#include <algorithm>

namespace evstore::detail {
namespace {

// A hash node (next pointer, cached hash, key, entry), its bucket pointer and
// the malloc header of the node.
constexpr std::size_t node_overhead =
    4 * sizeof(void*) + sizeof(stream_memtable::key) + sizeof(stream_memtable::entry);

}  // namespace

void stream_memtable::add(std::string_view name, std::uint64_t version, std::uint64_t position) {
  add(stream_hash(name), name, version, position);
}

void stream_memtable::add(std::uint64_t hash, std::string_view name, std::uint64_t version,
                          std::uint64_t position) {
  EVSTORE_REQUIRE(events_ == 0 || position >= end_position_);
  auto it = streams_.find(stream_key_view{hash, name, 0});
  if (it == streams_.end()) {
    it = streams_.emplace(key{hash, std::string(name)}, entry{version, {}}).first;
    bytes_ += node_overhead + (name.size() > 15 ? name.size() + 1 : 0);
  }
  entry& e = it->second;
  EVSTORE_REQUIRE(version == e.end_version());
  const std::size_t capacity = e.positions.capacity();
  if (capacity == 0) e.positions.reserve(4);
  e.positions.push_back(position);
  bytes_ += (e.positions.capacity() - capacity) * sizeof(std::uint64_t);
  if (events_ == 0) first_position_ = position;
  end_position_ = position + 1;
  ++events_;
}

const stream_memtable::entry* stream_memtable::find(std::uint64_t hash, std::string_view name) const {
  auto it = streams_.find(stream_key_view{hash, name, 0});
  return it == streams_.end() ? nullptr : &it->second;
}

std::size_t stream_memtable::lookup(std::uint64_t hash, std::string_view name, std::uint64_t from,
                                    std::size_t max_count, std::vector<std::uint64_t>& out) const {
  const entry* e = find(hash, name);
  if (e == nullptr || from < e->first_version || from >= e->end_version()) return 0;
  const auto begin = e->positions.begin() + static_cast<std::ptrdiff_t>(from - e->first_version);
  const std::size_t n =
      std::min<std::size_t>(max_count, static_cast<std::size_t>(e->positions.end() - begin));
  out.insert(out.end(), begin, begin + static_cast<std::ptrdiff_t>(n));
  return n;
}

std::vector<const stream_memtable::value_type*> stream_memtable::sorted() const {
  std::vector<const value_type*> out;
  out.reserve(streams_.size());
  for (const value_type& v : streams_) out.push_back(&v);
  std::sort(out.begin(), out.end(), [](const value_type* a, const value_type* b) {
    return stream_key_view{a->first.hash, a->first.name, 0} <
           stream_key_view{b->first.hash, b->first.name, 0};
  });
  return out;
}

std::optional<std::uint64_t> stream_memtable::last_version(std::uint64_t hash, std::string_view name) const {
  const entry* e = find(hash, name);
  if (e == nullptr) return std::nullopt;
  return e->end_version() - 1;
}

std::optional<std::uint64_t> stream_memtable::count_below(std::uint64_t hash, std::string_view name,
                                                          std::uint64_t all_count) const {
  const entry* e = find(hash, name);
  if (e == nullptr) return std::nullopt;
  return versions_below(e->first_version, e->positions, all_count);
}

stream_memtable stream_memtable::without_below(std::uint64_t end) const {
  if (events_ == 0 || first_position_ >= end) return *this;
  stream_memtable out;
  out.first_position_ = UINT64_MAX;
  for (const auto& [k, e] : streams_) {
    const auto cut = std::lower_bound(e.positions.begin(), e.positions.end(), end);
    if (cut == e.positions.end()) continue;
    entry kept{e.first_version + static_cast<std::uint64_t>(cut - e.positions.begin()),
               {cut, e.positions.end()}};
    out.first_position_ = std::min(out.first_position_, kept.positions.front());
    out.events_ += kept.positions.size();
    out.bytes_ += node_overhead + (k.name.size() > 15 ? k.name.size() + 1 : 0) +
                  kept.positions.capacity() * sizeof(std::uint64_t);
    out.streams_.emplace(k, std::move(kept));
  }
  if (out.events_ == 0) return stream_memtable();
  out.end_position_ = end_position_;
  return out;
}

}  // namespace evstore::detail
