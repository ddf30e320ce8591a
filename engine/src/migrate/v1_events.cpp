// Reading a format-1 store's events in $all order (v1_reader.hpp): a batch of
// $all entries per read, one read per run of contiguous records of one
// partition, every record checked against its entry.
#include "format/layout.hpp"
#include "migrate/v1_reader_impl.hpp"
#include "require.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

namespace evstore::detail::migrate {
namespace {

// Why `r`, decoded from the bytes an entry points at, is not that entry's
// record; nullopt if it is (the same checks as recovery's).
std::optional<std::string> compare(const format::decoded_record& r, const format::all_entry& e,
                                   std::uint64_t position) {
  const auto differs = [](const char* field, auto stored, auto expected) {
    return std::optional<std::string>("record does not match its $all entry: " + std::string(field) + " " +
                                      std::to_string(stored) + ", the entry says " +
                                      std::to_string(expected));
  };
  if (r.kind != format::record_kind_event) return "record of unknown kind " + std::to_string(r.kind);
  if (r.size != e.size) return differs("size", r.size, e.size);
  if (r.stored_crc != e.record_crc) return differs("checksum", r.stored_crc, e.record_crc);
  if (r.fields.position != position) return differs("position", r.fields.position, position);
  if (r.fields.version != e.version) return differs("version", r.fields.version, e.version);
  if (r.fields.commit_end != e.commit_end)
    return differs("commit end", int{r.fields.commit_end}, int{e.commit_end});
  return std::nullopt;
}

v1_event to_event(const std::string& stream, const format::record_fields& f) {
  v1_event ev;
  ev.stream = stream;
  ev.version = f.version;
  ev.position = f.position;
  ev.committed_at = f.committed_at;
  if (f.id) {
    boost::uuids::uuid id{};
    std::memcpy(id.data, f.id->data(), f.id->size());
    ev.id = id;
  }
  ev.type = f.type;
  ev.data = f.data;
  ev.metadata = f.metadata;
  ev.commit_first_position = f.commit_first_position;
  ev.commit_count = f.commit_count;
  ev.commit_end = f.commit_end;
  return ev;
}

}  // namespace

result<const overlay_source*> v1_reader::impl::partition(std::uint32_t id, std::string& why) {
  if (auto it = partition_of.find(id); it != partition_of.end()) {
    partitions.splice(partitions.begin(), partitions, it->second);
    return &it->second->source;
  }
  const stream& st = streams[id];
  auto src = overlay_source::open(*fs, st.partition, journal);
  if (!src) {
    if (src.error().code != boost::system::errc::no_such_file_or_directory)
      return read_error(src.error(), st.partition, 0);
    why = "partition missing for a stream with committed events";
    return nullptr;
  }
  std::array<std::byte, format::file_header_size> header{};
  auto got = src->read(0, header);
  if (!got) return read_error(got.error(), st.partition, 0);
  auto h =
      *got == header.size() ? format::decode_file_header(header, format::file_kind::partition) : std::nullopt;
  if (!h || h->stream_id != id || h->name != st.name) {
    why = "partition header does not name stream " + std::to_string(id) + " (" + st.name + ")";
    return nullptr;
  }
  if (partitions.size() >= max_open_partitions) {
    partition_of.erase(partitions.back().id);
    partitions.pop_back();
  }
  partitions.push_front(open_partition{id, std::move(*src)});
  partition_of[id] = partitions.begin();
  return &partitions.front().source;
}

// Entries [first, last) of `entries` (positions from + first ...): contiguous
// records of one partition, read with one read.
result<void> v1_reader::impl::read_run(const std::vector<format::all_entry>& entries, std::size_t first,
                                       std::size_t last, std::uint64_t from, v1_batch& batch,
                                       std::vector<v1_event>* out) {
  const stream& st = streams[entries[first].stream_id];
  std::string why;
  auto src = partition(entries[first].stream_id, why);
  if (!src) return src.error();
  if (*src == nullptr) {
    batch.mismatch =
        v1_mismatch{from + first, why, relative(st.partition), 0, st.first_position < checkpoint_count};
    return {};
  }
  const std::uint64_t offset = entries[first].offset;
  buffer.resize(static_cast<std::size_t>(entries[last - 1].offset + entries[last - 1].size - offset));
  auto got = (*src)->read(offset, buffer);
  if (!got) return read_error(got.error(), st.partition, offset);
  for (std::size_t k = first; k < last; ++k) {
    const format::all_entry& e = entries[k];
    const std::uint64_t position = from + k;
    const std::size_t at = static_cast<std::size_t>(e.offset - offset);
    const auto mismatch = [&](std::string what) {
      batch.mismatch = v1_mismatch{position, std::move(what), relative(st.partition), e.offset, false};
    };
    if (at + e.size > *got) {
      mismatch("record runs past the end of the file (" + std::to_string((*src)->size()) + " bytes)");
      return {};
    }
    format::decoded_record r;
    if (format::decode_record(std::span(buffer).subspan(at, e.size), r) != format::decode_status::ok) {
      mismatch("damaged record (framing or checksum)");
      return {};
    }
    if (auto why_not = compare(r, e, position)) {
      mismatch(std::move(*why_not));
      return {};
    }
    ++batch.accepted;
    if (e.commit_end) batch.commit_end = position + 1;
    if (out != nullptr) out->push_back(to_event(st.name, r.fields));
  }
  return {};
}

result<v1_batch> v1_reader::impl::read_batch(std::uint64_t from, std::uint64_t n,
                                             std::vector<v1_event>* out) {
  v1_batch batch;
  auto bytes = read_entries(from, n);
  if (!bytes) return bytes.error();
  std::vector<format::all_entry> entries;
  const std::uint64_t count = bytes->size() / format::all_entry_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto e = format::decode_all_entry(
        std::span(*bytes).subspan(i * format::all_entry_size, format::all_entry_size));
    const std::uint64_t offset = format::file_header_size + (from + i) * format::all_entry_size;
    if (!e || e->stream_id >= streams.size()) {
      batch.mismatch = v1_mismatch{from + i,
                                   e ? "$all entry names stream id " + std::to_string(e->stream_id) +
                                           ", which the catalog does not hold"
                                     : std::string("damaged $all entry"),
                                   relative(layout::all_index(dir)), offset, false};
      break;
    }
    entries.push_back(*e);
  }
  if (!batch.mismatch && count < n) {
    const std::uint64_t offset = format::file_header_size + (from + count) * format::all_entry_size;
    batch.mismatch =
        v1_mismatch{from + count, "$all entry missing", relative(layout::all_index(dir)), offset, false};
  }
  std::optional<v1_mismatch> entry_damage = std::move(batch.mismatch);
  batch.mismatch.reset();
  for (std::size_t i = 0; i < entries.size() && !batch.mismatch;) {
    std::size_t j = i + 1;
    std::uint64_t bytes_in_run = entries[i].size;
    while (j < entries.size() && entries[j].stream_id == entries[i].stream_id &&
           entries[j].offset == entries[j - 1].offset + entries[j - 1].size &&
           bytes_in_run + entries[j].size <= run_bytes) {
      bytes_in_run += entries[j].size;
      ++j;
    }
    if (auto r = read_run(entries, i, j, from, batch, out); !r) return r.error();
    i = j;
  }
  if (!batch.mismatch) batch.mismatch = std::move(entry_damage);
  return batch;
}

result<std::size_t> v1_reader::next(std::vector<v1_event>& out, std::size_t max) {
  EVSTORE_REQUIRE(max > 0);
  impl& m = *impl_;
  const std::uint64_t start = m.next;
  const std::size_t had = out.size();
  const auto fail = [&](error e) -> result<std::size_t> {
    m.next = start;
    out.resize(had);
    return e;
  };
  while (out.size() - had < max && m.next < m.end) {
    const std::uint64_t n =
        std::min<std::uint64_t>({max - (out.size() - had), m.end - m.next, impl::entries_per_read});
    auto batch = m.read_batch(m.next, n, &out);
    if (!batch) return fail(batch.error());
    m.next += batch->accepted;
    if (batch->mismatch) {  // below the committed end: damage, never a skip
      const v1_mismatch& x = *batch->mismatch;
      return fail(error(errc::corrupt_data, x.what + " in " + x.file + " at offset " +
                                                std::to_string(x.offset) + " (position " +
                                                std::to_string(x.position) + ")"));
    }
  }
  return out.size() - had;
}

}  // namespace evstore::detail::migrate
