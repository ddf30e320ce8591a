// The read path: pages of a stream or of $all, and lazy ranges over them.
//
// Any thread, no locks on the data path. A read loads the published $all count
// first and looks at nothing at or above it: the stream index gives a stream's
// positions (only those below the count), $all's fixed-size entries locate
// their records (one pread per run of consecutive positions), and the records
// are read grouped by partition log, with one pread per stretch of nearby
// records. Every record is checked: its checksum and framing, and its name,
// version and position against what the index and $all said. A mismatch is
// corruption: the range is refused, with the file and offset.
#include "store/reader.hpp"

#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/file_error.hpp"
#include "links/indexer.hpp"
#include "require.hpp"
#include "store/byte_budget.hpp"
#include "store/store_impl.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <thread>

namespace evstore::detail {
namespace {

constexpr std::uint64_t chunk_events = 4096;
// Records closer than this in one segment are read with one pread (the bytes
// between are read and dropped): cheaper than a second system call.
constexpr std::uint64_t merge_gap = 64 * 1024;
// The same for $all's entries: 256 entries are 4 KiB.
constexpr std::uint64_t locate_gap_entries = 256;

recorded_event to_recorded(const format::decoded_record& r, std::string_view stream, std::uint64_t sequence,
                           const std::shared_ptr<page_storage>& storage) {
  recorded_event e;
  e.storage = storage;
  e.sequence = sequence;
  e.stream = stream;
  e.type = r.fields.type;
  e.data = r.fields.data;
  e.metadata = r.fields.metadata;
  if (r.kind == format::record_kind_erased) {  // read_options::include_hidden's placeholder
    e.type = erased_event_type;
    e.data = "null";
  }
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

// Scavenging erased the event's body: reads leave it out, but for those
// with include_hidden (the store's own readers, which need only a record's
// stream and version, look at the records themselves).
bool erased(const format::decoded_record& r) { return r.kind == format::record_kind_erased; }

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

void finish_page(read_page& page, const range& r, const read_options& o, std::uint64_t committed) {
  if (o.direction == direction::forward) {
    page.next = r.first + r.count;
    page.end = page.next >= committed;
  } else {
    page.end = r.first == 0 || r.count == 0;
    page.next = page.end ? 0 : r.first - 1;
  }
}

// Copies each distinct stream name of a page into its storage once.
class page_names {
 public:
  explicit page_names(page_storage& storage) : storage_(storage) {}
  std::string_view operator()(std::string_view name) {
    if (last_.data() == nullptr || last_ != name) last_ = storage_.keep_name(name);
    return last_;
  }

 private:
  page_storage& storage_;
  std::string_view last_;
};

}  // namespace

std::string store_impl::all_path() const { return layout::all_entries(options_.directory); }

result<void> store_impl::locate(std::span<located_record> out) const {
  const std::string path = all_path();
  auto all = files_->get(path);
  if (!all) return read_error(all.error(), path, 0);
  std::vector<std::byte> bytes;
  // One pread per stretch of positions less than a page of entries apart (a
  // stream's events interleaved with a few others' cost one read, not one each).
  for (std::size_t i = 0; i < out.size();) {
    std::size_t j = i + 1;
    while (j < out.size() && out[j].position > out[j - 1].position &&
           out[j].position - out[j - 1].position <= locate_gap_entries)
      ++j;
    const std::uint64_t base = out[i].position;
    bytes.resize((out[j - 1].position - base + 1) * format::all_entry2_size);
    const std::uint64_t at = base * format::all_entry2_size;
    auto n = (*all)->file->read_at(at, bytes);
    if (!n) return read_error(n.error(), path, at);
    if (*n != bytes.size()) return corruption("$all index shorter than its count", relative(path), at + *n);
    for (std::size_t k = i; k < j; ++k) {
      auto e = format::decode_all_entry2(
          std::span(bytes).subspan((out[k].position - base) * format::all_entry2_size));
      if (!e || e->partition >= partitions_count_) {
        return corruption("bad $all index entry", relative(path), out[k].position * format::all_entry2_size);
      }
      out[k].partition = e->partition;
      out[k].offset = e->offset;
      out[k].size = e->size;
      out[k].commit_end = e->commit_end;
      out[k].erased = e->erased;
    }
    i = j;
  }
  return {};
}

result<void> store_impl::read_records(const std::vector<located_record>& located, page_storage& storage,
                                      std::vector<format::decoded_record>& records) const {
  records.resize(located.size());
  if (located.empty()) return {};
  // Log order: by partition, then offset. A stretch of records of one segment
  // with gaps below merge_gap is one read.
  std::vector<std::uint32_t> order(located.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return std::tie(located[a].partition, located[a].offset) <
           std::tie(located[b].partition, located[b].offset);
  });
  // Stretches: [begin, end) of `order`, each read with one pread straight into
  // the page's buffer (the bytes between its records, under merge_gap, too).
  struct stretch {
    std::size_t begin = 0, end = 0;
    std::uint64_t from = 0, to = 0;
  };
  std::vector<stretch> stretches;
  std::size_t total = 0;
  for (std::size_t i = 0; i < order.size();) {
    const located_record& first = located[order[i]];
    const std::uint64_t segment = geometry_.segment_of(first.offset);
    std::uint64_t end = first.offset + first.size;
    std::size_t j = i + 1;
    while (j < order.size()) {
      const located_record& next = located[order[j]];
      if (next.partition != first.partition || geometry_.segment_of(next.offset) != segment ||
          next.offset > end + merge_gap || next.offset < first.offset)
        break;
      end = std::max(end, next.offset + next.size);
      ++j;
    }
    stretches.push_back({i, j, first.offset, end});
    total += end - first.offset;
    i = j;
  }
  // Not zeroed: every byte of it is read into below.
  storage.buffers.push_back(std::make_shared_for_overwrite<std::byte[]>(total));
  const std::span<std::byte> buffer(storage.buffers.back().get(), total);
  std::vector<std::size_t> at(located.size());  // where each record's bytes are in *buffer
  std::size_t base = 0;
  for (const stretch& st : stretches) {
    const located_record& first = located[order[st.begin]];
    const std::span<std::byte> into = buffer.subspan(base, st.to - st.from);
    if (auto ok = log_reader_->read({first.partition, st.from}, into); !ok) return ok.error();
    for (std::size_t k = st.begin; k < st.end; ++k)
      at[order[k]] = base + (located[order[k]].offset - st.from);
    base += st.to - st.from;
  }
  for (std::size_t k = 0; k < located.size(); ++k) {
    const located_record& l = located[k];
    format::decoded_record& rec = records[k];
    const auto record = buffer.subspan(at[k], l.size);
    if (!matches(record, l, rec)) {
      // A scavenge may be erasing this record now: it marks the entry first.
      if (auto ok = reread_erased(l, record, rec); !ok) return ok.error();
    }
  }
  return {};
}

bool store_impl::matches(std::span<const std::byte> bytes, const located_record& l,
                         format::decoded_record& rec) {
  return format::decode_record(bytes, rec, format::record_names::required) == format::decode_status::ok &&
         rec.size == l.size && rec.fields.position == l.position && rec.fields.commit_end == l.commit_end &&
         (rec.kind == format::record_kind_event || rec.kind == format::record_kind_erased);
}

result<void> store_impl::reread_erased(const located_record& l, std::span<std::byte> bytes,
                                       format::decoded_record& rec) const {
  const auto damaged = [&] {
    return corruption("damaged record or mismatch with $all",
                      segment_relative_path(l.partition, geometry_.segment_of(l.offset)),
                      geometry_.in_segment(l.offset));
  };
  located_record now = l;
  if (auto ok = locate(std::span(&now, 1)); !ok) return ok.error();
  if (!now.erased || now.partition != l.partition || now.offset != l.offset || now.size != l.size)
    return damaged();
  // The scavenger writes the erased record right after marking its entry:
  // read again until it is whole. Still torn after that, it is a batch a
  // crash interrupted and the writer's next open finishes (recovery.cpp):
  // the event is gone either way, so it reads as erased without a name.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    if (auto ok = log_reader_->read({l.partition, l.offset}, bytes); !ok) return ok.error();
    if (matches(bytes, l, rec)) return {};
  }
  rec = {};
  rec.kind = format::record_kind_erased;
  rec.size = l.size;
  rec.fields.position = l.position;
  rec.fields.commit_end = l.commit_end;
  return {};
}

result<store_impl::stream_records> store_impl::read_stream_records(std::string_view stream,
                                                                   std::uint64_t first, std::uint64_t count,
                                                                   std::uint64_t all_count,
                                                                   page_storage& storage, byte_budget* budget,
                                                                   direction dir) const {
  std::vector<std::uint64_t> positions;
  auto got = index_->lookup(stream, first, count, positions);
  if (!got) return got.error();
  std::vector<located_record> located;
  located.reserve(positions.size());
  for (const std::uint64_t p : positions) {
    if (p >= all_count) break;
    located.push_back({p, 0, 0, 0, false});
  }
  if (located.size() != count)
    return corruption("stream index holds fewer versions than it counted", "index", 0);
  if (auto ok = locate(located); !ok) return ok.error();
  if (budget != nullptr) trim_to_budget(located, first, *budget, dir);
  stream_records out;
  out.first = first;
  if (auto ok = read_records(located, storage, out.records); !ok) return ok.error();
  for (std::uint64_t i = 0; i < out.records.size(); ++i) {
    if (out.records[i].fields.version != first + i || out.records[i].fields.stream != stream) {
      const located_record& l = located[i];
      return corruption("record does not match the stream index",
                        segment_relative_path(l.partition, geometry_.segment_of(l.offset)),
                        geometry_.in_segment(l.offset));
    }
  }
  return out;
}

namespace {

// A stream's page: `count` of its versions are published.
result<read_page> read_stream_page(const store_impl& impl, std::string_view stream, std::uint64_t count,
                                   std::uint64_t all_count, const read_options& o) {
  const range r = clip(o, count);
  read_page page;
  auto storage = std::make_shared<page_storage>();
  const std::string_view name = storage->keep_name(stream);
  page.events.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(r.count, 1u << 20)));
  byte_budget budget(o.max_bytes);
  auto res =
      for_each_chunk(r, o.direction, [&](std::uint64_t first, std::uint64_t n) -> result<std::uint64_t> {
        auto got = impl.read_stream_records(name, first, n, all_count, *storage, &budget, o.direction);
        if (!got) return got.error();
        const auto& records = got->records;
        if (o.direction == direction::forward) {
          for (const auto& rec : records)
            if (o.include_hidden || !erased(rec))
              page.events.push_back(to_recorded(rec, name, rec.fields.version, storage));
        } else {
          for (auto it = records.rbegin(); it != records.rend(); ++it)
            if (o.include_hidden || !erased(*it))
              page.events.push_back(to_recorded(*it, name, it->fields.version, storage));
        }
        return records.size();
      });
  if (!res) return res.error();
  finish_page(page, *res, o, count);
  return page;
}

}  // namespace

result<read_page> store_impl::read_positions(std::vector<std::uint64_t> positions,
                                             std::uint64_t first_sequence, std::uint64_t max_bytes,
                                             direction dir, std::uint64_t* taken) const {
  read_page page;
  auto storage = std::make_shared<page_storage>();
  std::vector<located_record> located(positions.size());
  for (std::size_t i = 0; i < positions.size(); ++i) located[i].position = positions[i];
  if (auto ok = locate(located); !ok) return ok.error();
  byte_budget budget(max_bytes);
  std::uint64_t first_kept = 0;
  trim_to_budget(located, first_kept, budget, dir);
  first_sequence += first_kept;
  if (taken != nullptr) *taken = located.size();
  std::vector<format::decoded_record> records;
  if (auto r = read_records(located, *storage, records); !r) return r.error();
  page.events.reserve(records.size());
  page_names names(*storage);
  for (std::size_t k = 0; k < records.size(); ++k) {
    if (erased(records[k])) continue;
    page.events.push_back(
        to_recorded(records[k], names(records[k].fields.stream), first_sequence + k, storage));
  }
  return page;
}

result<read_page> store_impl::read_all_page(const read_options& o) const {
  const std::uint64_t committed = all_count();
  const range r = clip(o, committed);
  read_page page;
  auto storage = std::make_shared<page_storage>();
  std::vector<located_record> located;
  std::vector<format::decoded_record> records;
  page_names names(*storage);
  byte_budget budget(o.max_bytes);
  auto res =
      for_each_chunk(r, o.direction, [&](std::uint64_t first, std::uint64_t count) -> result<std::uint64_t> {
        located.assign(count, {});
        for (std::uint64_t i = 0; i < count; ++i) located[i].position = first + i;
        if (auto got = locate(located); !got) return got.error();
        trim_to_budget(located, first, budget, o.direction);
        count = located.size();
        if (auto got = read_records(located, *storage, records); !got) return got.error();
        auto push = [&](std::uint64_t k) {
          if (!o.include_hidden && erased(records[k])) return;
          page.events.push_back(to_recorded(records[k], names(records[k].fields.stream), first + k, storage));
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

result<bool> store_impl::stream_exists(std::string_view stream) const {
  auto n = index_->count_below(stream, all_count());
  if (!n) return n.error();
  return *n > 0;
}

bool store_impl::write_name_taken(std::string_view stream) const {
  if (writers_.contains(stream)) return true;
  auto exists = stream_exists(stream);
  return !exists || *exists;
}

result<std::uint64_t> store_impl::published_count(std::string_view stream) const {
  if (stream == "$all") return all_count();
  if (auto links = indexer_->count(stream); !links) {
    return links.error();
  } else if (*links) {
    return **links;
  }
  if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
  return index_->count_below(stream, all_count());
}

result<read_page> store_impl::read(std::string_view stream, const read_options& o) const {
  if (stream == "$all") return read_all_page(o);
  if (indexer_->is_link(stream)) {
    if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
    return indexer_->read(stream, o);
  }
  if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
  const std::uint64_t published = all_count();
  auto count = index_->count_below(stream, published);
  if (!count) return count.error();
  if (*count == 0) return error(errc::stream_not_found, std::string(stream));
  return read_stream_page(*this, stream, *count, published, o);
}

result<read_page> store_impl::read_bounded(std::string_view stream, read_options o) const {
  const std::uint64_t to = *o.to;
  o.to.reset();
  if (o.direction == direction::backward) {
    o.from = std::min(o.from, to);
    return read_visible(stream, o);
  }
  // Numbers are contiguous in every stream, so a page from `from` needs at
  // most to - from + 1 events; hidden ones are skipped without counting,
  // so what lies past `to` is cut off after the read as well.
  const bool past = o.from > to;
  if (past) {
    o.max_count = 1;  // read for its errors: a missing or deleted stream answers as always
  } else if (const std::uint64_t span = to - o.from; span < o.max_count) {
    o.max_count = span + 1;  // (no overflow: span < max_count)
  }
  auto page = read_visible(stream, o);
  if (!page) return page;
  const auto beyond = std::find_if(page->events.begin(), page->events.end(),
                                   [to](const recorded_event& e) { return e.sequence > to; });
  if (past || beyond != page->events.end() || page->next > to) {
    page->events.erase(beyond, page->events.end());
    page->next = past ? o.from : to + 1;
    page->end = true;
  }
  return page;
}

result<read_page> store_impl::read_visible(std::string_view stream, const read_options& o) const {
  if (o.to) return read_bounded(stream, o);
  if (o.include_hidden) return read(stream, o);
  const std::int64_t now = now_ms();
  if (stream != "$all" && !indexer_->is_link(stream)) {
    if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
    // The count first, then the table: a lifecycle is set before the count
    // that publishes it, so this snapshot's changes are all in the table.
    const std::uint64_t published = all_count();
    const auto l = lifecycle_.find(stream);
    auto count = index_->count_below(stream, published);
    if (!count) return count.error();
    if (*count == 0) return error(errc::stream_not_found, std::string(stream));
    if (!l) return read_stream_page(*this, stream, *count, published, o);
    if (reads_as_deleted(*l, *count))
      return error(errc::stream_deleted, "stream '" + std::string(stream) + "' was deleted");
    const std::uint64_t first = first_readable(*l, *count);
    read_options clamped = o;
    if (o.direction == direction::forward) {
      clamped.from = std::max(o.from, first);
    } else if (o.from < first) {
      return read_page{};  // below what is readable: the end
    }
    auto page = read_stream_page(*this, stream, *count, published, clamped);
    if (!page) return page;
    std::erase_if(page->events, [&](const recorded_event& e) {
      return e.version < first || expired(*l, e.committed_at, now);
    });
    if (o.direction == direction::backward && !page->end && page->next < first) {
      page->end = true;
      page->next = 0;
    }
    return page;
  }
  // $all, system and read streams: each event by its own stream's lifecycle
  // (the table is read after the page: it holds every change the page's
  // snapshot published).
  auto page = read(stream, o);
  if (!page || lifecycle_.empty()) return page;
  const std::uint64_t published = all_count();
  std::string_view last_name;
  std::optional<stream_lifecycle> last;
  std::uint64_t last_count = 0;
  result<void> failed;
  std::erase_if(page->events, [&](const recorded_event& e) {
    if (e.stream != last_name) {
      last_name = e.stream;
      last = lifecycle_.find(e.stream);
      if (last && last->metadata.max_count) {
        auto n = index_->count_below(e.stream, published);
        if (!n) failed = n.error();
        last_count = n ? *n : 0;
      }
    }
    if (!last) return false;
    return e.version < first_readable(*last, last_count) || expired(*last, e.committed_at, now);
  });
  if (!failed) return failed.error();
  return page;
}

// --- cursor: the state behind event_range.

cursor::cursor(std::shared_ptr<const store_impl> impl, std::string stream, read_options o)
    : impl_(std::move(impl)), stream_(std::move(stream)), options_(o), remaining_(o.max_count) {
  // store::events() and aggregate(): asked once, as the range is made.
  if (auto refused = impl_->refused_read(stream_); refused.code) {
    error_ = std::move(refused);
    done_ = true;
  }
}

void cursor::fill() {
  while (index_ >= page_.events.size() && !done_) {
    if (remaining_ == 0 || (started_ && page_.end)) {
      done_ = true;
      return;
    }
    read_options o = options_;
    if (started_) o.from = page_.next;
    o.max_count = std::min<std::uint64_t>(remaining_, page_events);
    auto page = impl_->read_visible(stream_, o);
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
    // A page of hidden events only is empty and not the end.
    if (page_.events.empty() && page_.end) done_ = true;
  }
}

}  // namespace evstore::detail
