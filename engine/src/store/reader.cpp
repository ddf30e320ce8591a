// The read path: pages of a stream or of $all, and lazy ranges over them.
//
// Any thread, no locks on the data path: a read takes a snapshot of the
// published counts, reads the fixed-size index entries of the range with one
// pread, the records they point to with one pread per contiguous run, and
// checks every record's checksum and identity against its index entry. A
// mismatch is corruption: the range is refused, with the file and offset.
#include "store/reader.hpp"

#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "links/indexer.hpp"
#include "require.hpp"
#include "store/byte_budget.hpp"
#include "store/store_impl.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace evstore::detail {
namespace {

constexpr std::uint64_t chunk_events = 4096;

recorded_event to_recorded(const format::decoded_record& r, std::string_view stream, std::uint64_t sequence,
                           const std::shared_ptr<page_storage>& storage) {
  recorded_event e;
  e.storage = storage;
  e.sequence = sequence;
  e.stream = stream;
  e.type = r.fields.type;
  e.data = r.fields.data;
  e.metadata = r.fields.metadata;
  if (r.fields.id) {
    boost::uuids::uuid id;
    std::memcpy(id.data, r.fields.id->data(), 16);
    e.id = id;
  }
  e.version = r.fields.version;
  e.position = r.fields.position;
  e.committed_at = r.fields.committed_at;
  return e;
}

// [first, first + count) clipped to a snapshot of `committed`, walked in `dir`.
struct range {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

range clip(const read_options& o, std::uint64_t committed) {
  if (o.max_count == 0 || committed == 0) return {};
  if (o.direction == direction::forward) {
    if (o.from >= committed) return {o.from, 0};
    return {o.from, std::min(o.max_count, committed - o.from)};
  }
  const std::uint64_t last = std::min(o.from, committed - 1);
  const std::uint64_t n = std::min(o.max_count, last + 1);
  return {last + 1 - n, n};
}

// Calls load(first, count) for chunks covering `r`, in reading order; load
// returns how many of its chunk it took (fewer once the page's byte budget is
// spent, which ends the walk). Returns the part of `r` read.
template <class Load>
[[nodiscard]] result<range> for_each_chunk(const range& r, direction dir, Load&& load) {
  std::uint64_t taken = 0;
  if (dir == direction::forward) {
    for (std::uint64_t at = r.first; at < r.first + r.count; at += chunk_events) {
      const std::uint64_t k = std::min(chunk_events, r.first + r.count - at);
      auto got = load(at, k);
      if (!got) return got.error();
      taken += *got;
      if (*got < k) break;
    }
    return range{r.first, taken};
  }
  for (std::uint64_t hi = r.first + r.count; hi > r.first;) {
    const std::uint64_t k = std::min(chunk_events, hi - r.first);
    auto got = load(hi - k, k);
    if (!got) return got.error();
    taken += *got;
    if (*got < k) break;
    hi -= k;
  }
  return range{r.first + r.count - taken, taken};
}

// Drops what does not fit in `budget` from `entries` (storage order) and
// moves `first` (the first entry's number) to match: the tail when reading
// forward, the head when reading backward.
template <class Entries>
void trim_to_budget(Entries& entries, std::uint64_t& first, byte_budget& budget, direction dir) {
  const std::size_t keep = budget.fit(entries, dir);
  const std::size_t drop = entries.size() - keep;
  if (drop == 0) return;
  if (dir == direction::forward) {
    entries.resize(keep);
  } else {
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(drop));
    first += drop;
  }
}

// The names of the streams of a $all or link page, copied into its storage
// once per stream.
class page_names {
 public:
  page_names(const stream_registry& registry, page_storage& storage)
      : registry_(registry), storage_(storage) {}
  std::string_view operator()(std::uint32_t stream_id) {
    auto [it, fresh] = names_.try_emplace(stream_id);
    if (fresh) it->second = storage_.keep_name(registry_.by_id(stream_id)->name);
    return it->second;
  }

 private:
  const stream_registry& registry_;
  page_storage& storage_;
  std::unordered_map<std::uint32_t, std::string_view> names_;
};

void finish_page(read_page& page, const range& r, const read_options& o, std::uint64_t committed) {
  if (o.direction == direction::forward) {
    page.next = r.first + r.count;
    page.end = page.next >= committed;
  } else {
    page.end = r.first == 0 || r.count == 0;
    page.next = page.end ? 0 : r.first - 1;
  }
}

// The bytes of one stream's partition that a read of records gets at once,
// and where they go in the shared buffer (~0: the records are read alone).
struct stream_range {
  std::uint64_t lo = 0, hi = 0, bytes = 0, buffer_at = 0;
};

// The range of each stream among `entries`; returns the bytes of the buffer
// the ranges read at once share.
std::uint64_t plan_stream_ranges(const std::vector<format::all_entry>& entries,
                                 std::unordered_map<std::uint32_t, stream_range>& ranges) {
  for (const format::all_entry& e : entries) {
    auto [it, fresh] = ranges.try_emplace(e.stream_id, stream_range{e.offset, e.offset + e.size, 0, 0});
    stream_range& sr = it->second;
    sr.lo = std::min(sr.lo, e.offset);
    sr.hi = std::max(sr.hi, e.offset + e.size);
    sr.bytes += e.size;
  }
  std::uint64_t total = 0;
  for (auto& [id, sr] : ranges) {
    // Gaps are allowed (skippable record kinds) but never sized by damage; a
    // sparse selection (a read stream) reads its events one by one instead.
    if (sr.hi - sr.lo > sr.bytes + (1u << 20)) sr.buffer_at = ~std::uint64_t{0};
  }
  for (auto& [id, sr] : ranges) {
    if (sr.buffer_at == ~std::uint64_t{0}) continue;
    sr.buffer_at = total;
    total += sr.hi - sr.lo;
  }
  return total;
}

}  // namespace

result<store_impl::raw_chunk> store_impl::read_stream_records(const stream_state& s, std::uint64_t first,
                                                              std::uint64_t count, byte_budget* budget,
                                                              direction dir) const {
  raw_chunk chunk;
  chunk.first = first;
  EVSTORE_REQUIRE(first + count <= s.committed_count.load(std::memory_order_acquire));
  if (count == 0) return chunk;
  auto index = files_.get(s.index_path);
  if (!index) return error(index.error(), relative(s.index_path));
  std::vector<std::byte> entries(count * format::stream_entry_size);
  const std::uint64_t entries_at = format::file_header_size + first * format::stream_entry_size;
  auto n = (*index)->file->read_at(entries_at, entries);
  if (!n) return error(n.error(), relative(s.index_path));
  if (*n != entries.size())
    return corruption("stream index shorter than its stream", relative(s.index_path), entries_at + *n);

  std::vector<format::stream_entry> decoded(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    auto e = format::decode_stream_entry(
        std::span(entries).subspan(i * format::stream_entry_size, format::stream_entry_size));
    // Entries only need to increase: a future skippable record kind may sit between events.
    const bool follows = i == 0 || (e && e->offset >= decoded[i - 1].offset + decoded[i - 1].size);
    if (!e || !follows) {
      return corruption("bad stream index entry", relative(s.index_path),
                        entries_at + i * format::stream_entry_size);
    }
    decoded[i] = *e;
  }
  if (budget != nullptr) {
    trim_to_budget(decoded, first, *budget, dir);
    count = decoded.size();
    chunk.first = first;
  }
  const std::uint64_t base = decoded.front().offset;
  const std::uint64_t end = decoded.back().offset + decoded.back().size;
  auto part = files_.get(s.partition_path);
  if (!part) return error(part.error(), relative(s.partition_path));
  chunk.buffer = std::make_shared<std::vector<std::byte>>(end - base);
  auto got = (*part)->file->read_at(base, *chunk.buffer);
  if (!got) return error(got.error(), relative(s.partition_path));
  if (*got != chunk.buffer->size()) {
    return corruption("partition shorter than its index", relative(s.partition_path), base + *got);
  }
  chunk.records.resize(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    const format::stream_entry& e = decoded[i];
    format::decoded_record& r = chunk.records[i];
    const auto status = format::decode_record(std::span(*chunk.buffer).subspan(e.offset - base, e.size), r);
    if (status != format::decode_status::ok) {
      return corruption("damaged record (checksum or framing)", relative(s.partition_path), e.offset);
    }
    if (r.size != e.size || r.fields.version != first + i || r.fields.position != e.position ||
        r.kind != format::record_kind_event) {
      return corruption("record does not match its index entry", relative(s.partition_path), e.offset);
    }
  }
  return chunk;
}

result<read_page> store_impl::read_stream_page(stream_state& s, const read_options& o) const {
  const std::uint64_t committed = s.committed_count.load(std::memory_order_acquire);
  const range r = clip(o, committed);
  read_page page;
  auto storage = std::make_shared<page_storage>();
  const std::string_view name = storage->keep_name(s.name);
  page.events.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(r.count, 1u << 20)));
  byte_budget budget(o.max_bytes);
  auto res =
      for_each_chunk(r, o.direction, [&](std::uint64_t first, std::uint64_t count) -> result<std::uint64_t> {
        auto chunk = read_stream_records(s, first, count, &budget, o.direction);
        if (!chunk) return chunk.error();
        storage->buffers.push_back(chunk->buffer);
        if (o.direction == direction::forward) {
          for (const auto& rec : chunk->records)
            page.events.push_back(to_recorded(rec, name, rec.fields.version, storage));
        } else {
          for (auto it = chunk->records.rbegin(); it != chunk->records.rend(); ++it) {
            page.events.push_back(to_recorded(*it, name, it->fields.version, storage));
          }
        }
        return chunk->records.size();
      });
  if (!res) return res.error();
  finish_page(page, *res, o, committed);
  return page;
}

// The records `entries` point to (entry k is the $all entry of positions[k]):
// one pread per stream, since a stream's events among them lie back to back
// in its partition (or nearly: skippable records may sit between).
result<void> store_impl::read_records(const std::vector<format::all_entry>& entries,
                                      const std::vector<std::uint64_t>& positions, page_storage& storage,
                                      std::vector<format::decoded_record>& records) const {
  std::unordered_map<std::uint32_t, stream_range> ranges;
  const std::uint64_t total = plan_stream_ranges(entries, ranges);
  auto buffer = std::make_shared<std::vector<std::byte>>(total);
  storage.buffers.push_back(buffer);
  for (const auto& [id, sr] : ranges) {
    if (sr.buffer_at == ~std::uint64_t{0}) continue;
    const stream_state& s = *registry_.by_id(id);
    auto part = files_.get(s.partition_path);
    if (!part) return error(part.error(), relative(s.partition_path));
    auto got = (*part)->file->read_at(sr.lo, std::span(*buffer).subspan(sr.buffer_at, sr.hi - sr.lo));
    if (!got) return error(got.error(), relative(s.partition_path));
    if (*got != sr.hi - sr.lo)
      return corruption("partition shorter than $all", relative(s.partition_path), sr.lo + *got);
  }
  records.resize(entries.size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const format::all_entry& e = entries[k];
    const stream_range& sr = ranges[e.stream_id];
    const stream_state& s = *registry_.by_id(e.stream_id);
    std::span<const std::byte> bytes;
    if (sr.buffer_at == ~std::uint64_t{0}) {
      auto own = std::make_shared<std::vector<std::byte>>(e.size);
      storage.buffers.push_back(own);
      auto part = files_.get(s.partition_path);
      if (!part) return error(part.error(), relative(s.partition_path));
      auto got = (*part)->file->read_at(e.offset, *own);
      if (!got) return error(got.error(), relative(s.partition_path));
      if (*got != e.size)
        return corruption("partition shorter than $all", relative(s.partition_path), e.offset + *got);
      bytes = *own;
    } else {
      bytes = std::span(*buffer).subspan(sr.buffer_at + (e.offset - sr.lo), e.size);
    }
    format::decoded_record& rec = records[k];
    const auto status = format::decode_record(bytes, rec);
    if (status != format::decode_status::ok || rec.size != e.size || rec.stored_crc != e.record_crc ||
        rec.fields.position != positions[k] || rec.fields.version != e.version) {
      return corruption("damaged record or mismatch with $all", relative(s.partition_path), e.offset);
    }
  }
  return {};
}

// $all entries [first, first + out.size()) with one pread, each checked.
result<void> store_impl::read_all_entries(const cached_file& all, std::uint64_t first,
                                          std::span<format::all_entry> out) const {
  std::vector<std::byte> entries(out.size() * format::all_entry_size);
  const std::uint64_t at = format::file_header_size + first * format::all_entry_size;
  auto path = [this] { return relative(layout::all_index(options_.directory)); };  // for errors only
  auto n = all.file->read_at(at, entries);
  if (!n) return error(n.error(), path());
  if (*n != entries.size()) return corruption("$all index shorter than its count", path(), at + *n);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto e = format::decode_all_entry(
        std::span(entries).subspan(i * format::all_entry_size, format::all_entry_size));
    if (!e || registry_.by_id(e->stream_id) == nullptr) {
      return corruption("bad $all index entry", path(), at + i * format::all_entry_size);
    }
    out[i] = *e;
  }
  return {};
}

result<read_page> store_impl::read_positions(std::vector<std::uint64_t> positions,
                                             std::uint64_t first_sequence, std::uint64_t max_bytes,
                                             direction dir) const {
  read_page page;
  auto storage = std::make_shared<page_storage>();
  const std::string all_path = layout::all_index(options_.directory);
  auto all = files_.get(all_path);
  if (!all) return error(all.error(), relative(all_path));
  std::vector<format::all_entry> decoded(positions.size());
  // One pread per run of consecutive positions.
  for (std::size_t i = 0; i < positions.size();) {
    std::size_t j = i + 1;
    while (j < positions.size() && positions[j] == positions[j - 1] + 1) ++j;
    if (auto got = read_all_entries(**all, positions[i], std::span(decoded).subspan(i, j - i)); !got)
      return got.error();
    i = j;
  }
  byte_budget budget(max_bytes);
  std::uint64_t first_kept = 0;
  trim_to_budget(decoded, first_kept, budget, dir);
  if (decoded.size() < positions.size()) {
    positions.erase(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(first_kept));
    positions.resize(decoded.size());
    first_sequence += first_kept;
  }
  std::vector<format::decoded_record> records;
  if (auto r = read_records(decoded, positions, *storage, records); !r) return r.error();
  page.events.reserve(records.size());
  page_names names(registry_, *storage);
  for (std::size_t k = 0; k < records.size(); ++k) {
    page.events.push_back(to_recorded(records[k], names(decoded[k].stream_id), first_sequence + k, storage));
  }
  return page;
}

result<read_page> store_impl::read_all_page(const read_options& o) const {
  const std::uint64_t committed = all_count();
  const range r = clip(o, committed);
  read_page page;
  auto storage = std::make_shared<page_storage>();
  const std::string all_path = layout::all_index(options_.directory);
  auto all = files_.get(all_path);
  if (!all) return error(all.error(), relative(all_path));
  std::vector<format::all_entry> decoded;
  std::vector<format::decoded_record> records;
  std::vector<std::uint64_t> positions;
  page_names names(registry_, *storage);
  byte_budget budget(o.max_bytes);
  auto res =
      for_each_chunk(r, o.direction, [&](std::uint64_t first, std::uint64_t count) -> result<std::uint64_t> {
        decoded.resize(count);
        if (auto got = read_all_entries(**all, first, decoded); !got) return got.error();
        trim_to_budget(decoded, first, budget, o.direction);
        count = decoded.size();
        positions.resize(count);
        for (std::uint64_t i = 0; i < count; ++i) positions[i] = first + i;
        if (auto got = read_records(decoded, positions, *storage, records); !got) return got.error();
        auto push = [&](std::uint64_t k) {
          page.events.push_back(to_recorded(records[k], names(decoded[k].stream_id), first + k, storage));
        };
        if (o.direction == direction::forward) {
          for (std::uint64_t k = 0; k < count; ++k) push(k);
        } else {
          for (std::uint64_t k = count; k-- > 0;) push(k);
        }
        return count;
      });
  if (!res) return res.error();
  finish_page(page, *res, o, committed);
  return page;
}

result<std::uint64_t> store_impl::published_count(std::string_view stream) const {
  if (stream == "$all") return all_count();
  if (auto links = indexer_->count(stream); !links) {
    return links.error();
  } else if (*links) {
    return **links;
  }
  if (validate_stream_name(stream, name_use::read))
    return error(errc::invalid_stream_name, std::string(stream));
  stream_state* s = registry_.find(stream);
  if (s == nullptr) return 0;
  if (auto loaded = ensure_loaded(*s); !loaded) return loaded.error();
  return s->committed_count.load(std::memory_order_acquire);
}

result<read_page> store_impl::read(std::string_view stream, const read_options& o) const {
  if (stream == "$all") return read_all_page(o);
  if (indexer_->is_link(stream)) {
    if (validate_stream_name(stream, name_use::read))
      return error(errc::invalid_stream_name, std::string(stream));
    return indexer_->read(stream, o);
  }
  if (validate_stream_name(stream, name_use::read))
    return error(errc::invalid_stream_name, std::string(stream));
  stream_state* s = registry_.find(stream);
  if (s == nullptr) return error(errc::stream_not_found, std::string(stream));
  if (auto loaded = ensure_loaded(*s); !loaded) return loaded.error();
  if (s->committed_count.load(std::memory_order_acquire) == 0)
    return error(errc::stream_not_found, std::string(stream));
  return read_stream_page(*s, o);
}

// --- cursor: the state behind event_range.

cursor::cursor(std::shared_ptr<const store_impl> impl, std::string stream, read_options o)
    : impl_(std::move(impl)), stream_(std::move(stream)), options_(o), remaining_(o.max_count) {}

void cursor::fill() {
  while (index_ >= page_.events.size() && !done_) {
    if (remaining_ == 0 || (started_ && page_.end)) {
      done_ = true;
      return;
    }
    read_options o = options_;
    if (started_) o.from = page_.next;
    o.max_count = std::min<std::uint64_t>(remaining_, page_events);
    auto page = impl_->read(stream_, o);
    if (!page) {
      // An empty stream is an empty range, not an error.
      if (page.error().code != errc::stream_not_found) error_ = page.error();
      done_ = true;
      return;
    }
    page_ = std::move(*page);
    index_ = 0;
    started_ = true;
    remaining_ -= page_.events.size();
    if (page_.events.empty()) done_ = true;
  }
}

}  // namespace evstore::detail
