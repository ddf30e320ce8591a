#include "format/format.hpp"

#include "format/crc32c.hpp"
#include "require.hpp"

#include <algorithm>
#include <cstring>

namespace evstore::detail::format {
namespace {

constexpr std::array<char, 8> magic_of(file_kind k) {
  switch (k) {
    case file_kind::partition: return {'E', 'V', 'S', 'P', 'A', 'R', 'T', '\n'};
    case file_kind::stream_index: return {'E', 'V', 'S', 'S', 'I', 'D', 'X', '\n'};
    case file_kind::all_index: return {'E', 'V', 'S', 'A', 'L', 'L', 'X', '\n'};
    case file_kind::catalog: return {'E', 'V', 'S', 'C', 'A', 'T', 'L', '\n'};
    case file_kind::journal: return {'E', 'V', 'S', 'J', 'R', 'N', 'L', '\n'};
    case file_kind::link_index: return {'E', 'V', 'S', 'L', 'N', 'K', 'X', '\n'};
    case file_kind::segment: return {'E', 'V', 'S', 'S', 'E', 'G', 'M', '\n'};
  }
  return {};
}

constexpr std::array<char, 8> checkpoint_magic = {'E', 'V', 'S', 'C', 'K', 'P', 'T', '\n'};
constexpr std::array<char, 8> link_progress_magic = {'E', 'V', 'S', 'L', 'I', 'N', 'K', '\n'};
constexpr std::array<char, 8> head_magic = {'E', 'V', 'S', 'H', 'E', 'A', 'D', '\n'};
constexpr std::array<char, 8> consumer_magic = {'E', 'V', 'S', 'C', 'O', 'N', 'S', '\n'};

std::uint32_t masked_crc(const std::byte* p, std::size_t n) { return crc32c::mask(crc32c::value(p, n)); }

// memcpy with a null source is undefined even for 0 bytes; empty views may be null.
void copy(std::byte* to, const void* from, std::size_t n) {
  if (n > 0) std::memcpy(to, from, n);
}

std::string_view view(const std::byte* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

bool all_zero(bytes in) {
  // Every byte equals its successor and the first is zero: one memcmp, which is
  // vectorised, instead of a byte loop (recovery checks megabytes of zeros).
  return in.empty() || (in[0] == std::byte{0} && std::memcmp(in.data(), in.data() + 1, in.size() - 1) == 0);
}

void encode_file_header(const file_header& h, mutable_bytes out) {
  EVSTORE_REQUIRE(out.size() >= file_header_size && h.name.size() <= header_name_capacity);
  std::memset(out.data(), 0, file_header_size);
  const auto magic = magic_of(h.kind);
  std::memcpy(out.data(), magic.data(), magic.size());
  put_u32(out.data() + 8, format_version);
  put_u32(out.data() + 12, static_cast<std::uint32_t>(file_header_size));
  put_u32(out.data() + 16, h.entry_size);
  put_u32(out.data() + 20, h.stream_id);
  put_u32(out.data() + 24, static_cast<std::uint32_t>(h.name.size()));
  copy(out.data() + 28, h.name.data(), h.name.size());
  put_u32(out.data() + 228, h.segment);
  put_u64(out.data() + 232, h.segment_size);
  put_u32(out.data() + 252, masked_crc(out.data(), 252));
}

std::optional<file_header> decode_file_header(bytes in, file_kind expected_kind) {
  if (in.size() < file_header_size) return std::nullopt;
  const auto magic = magic_of(expected_kind);
  if (std::memcmp(in.data(), magic.data(), magic.size()) != 0) return std::nullopt;
  if (get_u32(in.data() + 252) != masked_crc(in.data(), 252)) return std::nullopt;
  if (get_u32(in.data() + 8) != format_version || get_u32(in.data() + 12) != file_header_size)
    return std::nullopt;
  const std::uint32_t name_len = get_u32(in.data() + 24);
  if (name_len > header_name_capacity) return std::nullopt;
  // Reserved and padding bytes are written as zeros; anything else is not a
  // form this format produces (even under a valid checksum), so it is refused.
  // Only segment files use the segment fields (228..240).
  const std::size_t zeros_end = expected_kind == file_kind::segment ? 228 : 252;
  if (!all_zero(in.subspan(28 + name_len, zeros_end - 28 - name_len)) || !all_zero(in.subspan(240, 12)))
    return std::nullopt;
  return file_header{expected_kind,
                     get_u32(in.data() + 16),
                     get_u32(in.data() + 20),
                     view(in.data() + 28, name_len),
                     get_u32(in.data() + 228),
                     get_u64(in.data() + 232)};
}

std::uint32_t encode_record(const record_fields& r, mutable_bytes out) {
  EVSTORE_REQUIRE(r.stream.size() <= max_record_name);
  const std::size_t size = record_size(r);
  std::byte* p = out.data();
  put_u32(p, static_cast<std::uint32_t>(size));
  put_u16(p + 8, record_kind_event);
  std::uint16_t flags = 0;
  if (r.id) flags |= record_flag_has_id;
  if (r.commit_end) flags |= record_flag_commit_end;
  put_u16(p + 10, flags);
  put_u32(p + 12, static_cast<std::uint32_t>(r.type.size()));
  put_u64(p + 16, r.position);
  put_u64(p + 24, r.version);
  put_u64(p + 32, static_cast<std::uint64_t>(r.committed_at));
  put_u64(p + 40, r.commit_first_position);
  put_u32(p + 48, r.commit_count);
  put_u32(p + 52, static_cast<std::uint32_t>(r.data.size()));
  put_u32(p + 56, static_cast<std::uint32_t>(r.metadata.size()));
  put_u16(p + 60, static_cast<std::uint16_t>(r.stream.size()));
  put_u16(p + 62, 0);
  if (r.id) {
    std::memcpy(p + 64, r.id->data(), 16);
  } else {
    std::memset(p + 64, 0, 16);
  }
  std::byte* q = p + record_header_size;
  copy(q, r.stream.data(), r.stream.size());
  q += r.stream.size();
  copy(q, r.type.data(), r.type.size());
  q += r.type.size();
  copy(q, r.data.data(), r.data.size());
  q += r.data.size();
  copy(q, r.metadata.data(), r.metadata.size());
  q += r.metadata.size();
  put_u32(q, static_cast<std::uint32_t>(size));
  const std::uint32_t crc = masked_crc(p + 8, size - 8);
  put_u32(p + 4, crc);
  return crc;
}

std::uint32_t encode_erased_record(const record_fields& r, mutable_bytes out) {
  EVSTORE_REQUIRE(!r.stream.empty() && r.stream.size() <= max_record_name &&
                  out.size() >= record_overhead + r.stream.size() && out.size() <= max_record_size);
  const std::size_t size = out.size();
  std::byte* p = out.data();
  std::memset(p, 0, size);
  put_u32(p, static_cast<std::uint32_t>(size));
  put_u16(p + 8, record_kind_erased);
  put_u16(p + 10, r.commit_end ? record_flag_commit_end : 0);
  put_u64(p + 16, r.position);
  put_u64(p + 24, r.version);
  put_u64(p + 32, static_cast<std::uint64_t>(r.committed_at));
  put_u64(p + 40, r.commit_first_position);
  put_u32(p + 48, r.commit_count);
  put_u16(p + 60, static_cast<std::uint16_t>(r.stream.size()));
  copy(p + record_header_size, r.stream.data(), r.stream.size());
  put_u32(p + size - record_trailer_size, static_cast<std::uint32_t>(size));
  const std::uint32_t crc = masked_crc(p + 8, size - 8);
  put_u32(p + 4, crc);
  return crc;
}

decode_status check_record_framing(bytes in, std::uint32_t& size) {
  if (in.size() < 4) return decode_status::truncated;
  size = get_u32(in.data());
  if (size == 0) return decode_status::end;
  if (size < record_overhead || size > max_record_size) return decode_status::corrupt;
  if (in.size() < size) return decode_status::truncated;
  const std::byte* p = in.data();
  if (get_u32(p + 4) != masked_crc(p + 8, size - 8)) return decode_status::corrupt;
  if (get_u32(p + size - 4) != size) return decode_status::corrupt;
  return decode_status::ok;
}

decode_status decode_record(bytes in, decoded_record& out, record_names names) {
  std::uint32_t size = 0;
  if (const auto framing = check_record_framing(in, size); framing != decode_status::ok) return framing;
  const std::byte* p = in.data();
  const std::uint32_t stored = get_u32(p + 4);
  const std::uint32_t type_len = get_u32(p + 12);
  const std::uint32_t data_len = get_u32(p + 52);
  const std::uint32_t meta_len = get_u32(p + 56);
  const std::uint16_t name_len = get_u16(p + 60);
  if (name_len > max_record_name || (name_len == 0) != (names == record_names::none))
    return decode_status::corrupt;
  const std::uint16_t flags = get_u16(p + 10);
  out.kind = get_u16(p + 8);
  if (out.kind == record_kind_erased) {
    // Only the name is left; zeros after it up to the trailer.
    if (type_len != 0 || data_len != 0 || meta_len != 0 || name_len == 0 ||
        std::uint64_t{name_len} + record_overhead > size || (flags & ~record_flag_commit_end) != 0 ||
        get_u16(p + 62) != 0 || !all_zero(in.subspan(64, 16)) ||
        !all_zero(in.subspan(record_header_size + name_len, size - record_overhead - name_len))) {
      return decode_status::corrupt;
    }
  } else if (std::uint64_t{type_len} + data_len + meta_len + name_len + record_overhead != size) {
    return decode_status::corrupt;
  }
  if (out.kind == record_kind_event) {
    if ((flags & ~(record_flag_has_id | record_flag_commit_end)) != 0 || get_u16(p + 62) != 0) {
      return decode_status::corrupt;
    }
    if (!(flags & record_flag_has_id) && !all_zero(in.subspan(64, 16))) return decode_status::corrupt;
  }
  out.size = size;
  out.stored_crc = stored;
  record_fields& f = out.fields;
  f.position = get_u64(p + 16);
  f.version = get_u64(p + 24);
  f.committed_at = static_cast<std::int64_t>(get_u64(p + 32));
  f.commit_first_position = get_u64(p + 40);
  f.commit_count = get_u32(p + 48);
  f.commit_end = (flags & record_flag_commit_end) != 0;
  if (flags & record_flag_has_id) {
    std::array<std::byte, 16> id;
    std::memcpy(id.data(), p + 64, 16);
    f.id = id;
  } else {
    f.id.reset();
  }
  const std::byte* q = p + record_header_size;
  f.stream = view(q, name_len);
  q += name_len;
  f.type = view(q, type_len);
  f.data = view(q + type_len, data_len);
  f.metadata = view(q + type_len + data_len, meta_len);
  return decode_status::ok;
}

void encode_all_entry(const all_entry& e, mutable_bytes out) {
  std::byte* p = out.data();
  put_u64(p, e.offset);
  put_u32(p + 8, e.stream_id);
  put_u32(p + 12, e.size | (e.commit_end ? all_entry_commit_end_bit : 0u));
  put_u64(p + 16, e.version);
  put_u32(p + 24, e.record_crc);
  put_u32(p + 28, masked_crc(p, 28));
}

std::optional<all_entry> decode_all_entry(bytes in) {
  if (in.size() < all_entry_size) return std::nullopt;
  const std::byte* p = in.data();
  if (get_u32(p + 28) != masked_crc(p, 28)) return std::nullopt;
  const std::uint32_t size_bits = get_u32(p + 12);
  all_entry e{get_u64(p),
              get_u32(p + 8),
              size_bits & ~all_entry_commit_end_bit,
              (size_bits & all_entry_commit_end_bit) != 0,
              get_u64(p + 16),
              get_u32(p + 24)};
  if (e.size < record_overhead || e.size > max_record_size) return std::nullopt;
  return e;
}

void encode_all_entry2(const all_entry2& e, mutable_bytes out) {
  EVSTORE_REQUIRE(e.offset <= all_entry2_max_offset && out.size() >= all_entry2_size);
  std::byte* p = out.data();
  put_u64(p, std::uint64_t{e.partition} << all_entry2_offset_bits | e.offset);
  put_u32(p + 8,
          e.size | (e.commit_end ? all_entry_commit_end_bit : 0u) | (e.erased ? all_entry2_erased_bit : 0u));
  put_u32(p + 12, masked_crc(p, 12));
}

std::optional<all_entry2> decode_all_entry2(bytes in) {
  if (in.size() < all_entry2_size) return std::nullopt;
  const std::byte* p = in.data();
  if (get_u32(p + 12) != masked_crc(p, 12)) return std::nullopt;
  const std::uint64_t locator = get_u64(p);
  const std::uint32_t size_bits = get_u32(p + 8);
  all_entry2 e{static_cast<std::uint16_t>(locator >> all_entry2_offset_bits), locator & all_entry2_max_offset,
               size_bits & ~(all_entry_commit_end_bit | all_entry2_erased_bit),
               (size_bits & all_entry_commit_end_bit) != 0, (size_bits & all_entry2_erased_bit) != 0};
  if (e.size < record_overhead || e.size > max_record_size) return std::nullopt;
  return e;
}

void encode_stream_entry(const stream_entry& e, mutable_bytes out) {
  std::byte* p = out.data();
  put_u64(p, e.offset);
  put_u64(p + 8, e.position);
  put_u32(p + 16, e.size);
  put_u32(p + 20, masked_crc(p, 20));
}

std::optional<stream_entry> decode_stream_entry(bytes in) {
  if (in.size() < stream_entry_size) return std::nullopt;
  const std::byte* p = in.data();
  if (get_u32(p + 20) != masked_crc(p, 20)) return std::nullopt;
  stream_entry e{get_u64(p), get_u64(p + 8), get_u32(p + 16)};
  if (e.size < record_overhead || e.size > max_record_size) return std::nullopt;
  return e;
}

std::size_t catalog_record_size(std::size_t name_len) { return catalog_record_header_size + name_len; }

void encode_catalog_record(const catalog_record& r, mutable_bytes out) {
  std::byte* p = out.data();
  const std::size_t size = catalog_record_size(r.name.size());
  put_u32(p, static_cast<std::uint32_t>(size));
  put_u32(p + 8, r.stream_id);
  put_u32(p + 12, r.kind);
  put_u64(p + 16, r.first_position);
  copy(p + catalog_record_header_size, r.name.data(), r.name.size());
  put_u32(p + 4, masked_crc(p + 8, size - 8));
}

decode_status decode_catalog_record(bytes in, catalog_record& out, std::uint32_t& size) {
  if (in.size() < 4) return decode_status::truncated;
  size = get_u32(in.data());
  if (size == 0) return decode_status::end;
  if (size < catalog_record_header_size || size > catalog_record_header_size + 4096)
    return decode_status::corrupt;
  if (in.size() < size) return decode_status::truncated;
  const std::byte* p = in.data();
  if (get_u32(p + 4) != masked_crc(p + 8, size - 8)) return decode_status::corrupt;
  out.stream_id = get_u32(p + 8);
  out.kind = get_u32(p + 12);
  out.first_position = get_u64(p + 16);
  out.name = view(p + catalog_record_header_size, size - catalog_record_header_size);
  return decode_status::ok;
}

std::optional<std::uint64_t> first_position_after_damage(bytes catalog, std::uint64_t at) {
  for (std::uint64_t j = at + 1; j < catalog.size(); ++j) {
    catalog_record later;
    std::uint32_t later_size = 0;
    if (decode_catalog_record(catalog.subspan(j), later, later_size) == decode_status::ok)
      return later.first_position;
  }
  return std::nullopt;
}

void encode_checkpoint(const checkpoint& c, mutable_bytes out) {
  std::byte* p = out.data();
  std::memset(p, 0, checkpoint_slot_size);
  std::memcpy(p, checkpoint_magic.data(), 8);
  put_u64(p + 8, c.sequence);
  put_u64(p + 16, c.all_count);
  put_u32(p + 24, c.stream_count);
  put_u64(p + 32, c.journal_offset);
  put_u32(p + 60, masked_crc(p, 60));
}

std::optional<checkpoint> decode_checkpoint_file(bytes in) {
  std::optional<checkpoint> best;
  for (std::size_t slot = 0; slot < 2 && in.size() >= (slot + 1) * checkpoint_slot_size; ++slot) {
    auto c = decode_checkpoint(in.subspan(slot * checkpoint_slot_size));
    if (c && c->sequence > (best ? best->sequence : 0)) best = c;
  }
  return best;
}

std::optional<checkpoint> decode_checkpoint(bytes in) {
  const std::byte* p = in.data();
  if (in.size() < checkpoint_slot_size || std::memcmp(p, checkpoint_magic.data(), 8) != 0)
    return std::nullopt;
  if (get_u32(p + 60) != masked_crc(p, 60)) return std::nullopt;
  return checkpoint{get_u64(p + 8), get_u64(p + 16), get_u32(p + 24), get_u64(p + 32)};
}

namespace {
constexpr std::array<char, 8> checkpoint2_magic = {'E', 'V', 'S', 'C', 'K', 'P', '2', '\n'};
}  // namespace

void encode_checkpoint2(const checkpoint2& c, mutable_bytes out) {
  const auto partitions = static_cast<std::uint32_t>(c.ends.size());
  const std::size_t size = checkpoint2_slot_size(partitions);
  EVSTORE_REQUIRE(out.size() >= size && c.ends.size() <= UINT32_MAX);
  std::byte* p = out.data();
  std::memset(p, 0, size);
  std::memcpy(p, checkpoint2_magic.data(), 8);
  put_u64(p + 8, c.sequence);
  put_u64(p + 16, c.all_count);
  put_u32(p + 24, partitions);
  put_u64(p + 32, c.stream_count);
  for (std::size_t i = 0; i < c.ends.size(); ++i) put_u64(p + 40 + 8 * i, c.ends[i]);
  put_u32(p + size - 8, masked_crc(p, size - 8));
}

std::optional<checkpoint2> decode_checkpoint2(bytes in, std::uint32_t partitions) {
  const std::size_t size = checkpoint2_slot_size(partitions);
  if (in.size() < size) return std::nullopt;
  const std::byte* p = in.data();
  if (std::memcmp(p, checkpoint2_magic.data(), 8) != 0) return std::nullopt;
  if (get_u32(p + 24) != partitions) return std::nullopt;
  if (get_u32(p + size - 8) != masked_crc(p, size - 8)) return std::nullopt;
  if (get_u32(p + 28) != 0 || get_u32(p + size - 4) != 0) return std::nullopt;
  checkpoint2 c{get_u64(p + 8), get_u64(p + 16), get_u64(p + 32), std::vector<std::uint64_t>(partitions)};
  if (c.sequence == 0) return std::nullopt;
  for (std::size_t i = 0; i < partitions; ++i) c.ends[i] = get_u64(p + 40 + 8 * i);
  return c;
}

std::optional<checkpoint2> decode_checkpoint2_file(bytes in, std::uint32_t partitions) {
  const std::size_t size = checkpoint2_slot_size(partitions);
  std::optional<checkpoint2> best;
  for (std::size_t slot = 0; slot < 2 && in.size() >= (slot + 1) * size; ++slot) {
    auto c = decode_checkpoint2(in.subspan(slot * size, size), partitions);
    if (c && (!best || c->sequence > best->sequence)) best = std::move(c);
  }
  return best;
}

void encode_link_entry(std::uint64_t position, mutable_bytes out) {
  put_u64(out.data(), position);
  put_u32(out.data() + 8, 0);
  put_u32(out.data() + 12, masked_crc(out.data(), 12));
}

std::optional<std::uint64_t> decode_link_entry(bytes in) {
  if (in.size() < link_entry_size || get_u32(in.data() + 12) != masked_crc(in.data(), 12))
    return std::nullopt;
  return get_u64(in.data());
}

namespace {
// A magic, a u64 and a checksum: the progress and head files.
void encode_counter(const std::array<char, 8>& magic, std::uint64_t value, mutable_bytes out) {
  std::memcpy(out.data(), magic.data(), 8);
  put_u64(out.data() + 8, value);
  put_u32(out.data() + 16, 0);
  put_u32(out.data() + 20, masked_crc(out.data(), 20));
}

std::optional<std::uint64_t> decode_counter(const std::array<char, 8>& magic, bytes in) {
  if (in.size() < 24 || std::memcmp(in.data(), magic.data(), 8) != 0) return std::nullopt;
  if (get_u32(in.data() + 20) != masked_crc(in.data(), 20) || get_u32(in.data() + 16) != 0)
    return std::nullopt;
  return get_u64(in.data() + 8);
}
}  // namespace

void encode_link_progress(std::uint64_t progress, mutable_bytes out) {
  encode_counter(link_progress_magic, progress, out);
}
std::optional<std::uint64_t> decode_link_progress(bytes in) {
  return decode_counter(link_progress_magic, in);
}
void encode_head(std::uint64_t count, mutable_bytes out) { encode_counter(head_magic, count, out); }
std::optional<std::uint64_t> decode_head(bytes in) { return decode_counter(head_magic, in); }

namespace {
std::uint32_t consumer_crc(const std::byte* header, std::string_view state) {
  return crc32c::mask(crc32c::extend(crc32c::value(header, 28), state.data(), state.size()));
}
}  // namespace

std::vector<std::byte> encode_consumer_checkpoint(const consumer_checkpoint& c) {
  std::vector<std::byte> out(consumer_header_size + c.state.size());
  std::byte* p = out.data();
  std::memcpy(p, consumer_magic.data(), 8);
  put_u32(p + 8, format_version);
  put_u32(p + 12, static_cast<std::uint32_t>(c.state.size()));
  put_u64(p + 16, c.position);
  put_u32(p + 24, 0);
  copy(p + consumer_header_size, c.state.data(), c.state.size());
  put_u32(p + 28, consumer_crc(p, c.state));
  return out;
}

std::optional<consumer_checkpoint> decode_consumer_checkpoint(bytes in) {
  const std::byte* p = in.data();
  if (in.size() < consumer_header_size || std::memcmp(p, consumer_magic.data(), 8) != 0) return std::nullopt;
  if (get_u32(p + 8) != format_version || get_u32(p + 12) != in.size() - consumer_header_size)
    return std::nullopt;
  const std::string_view state = view(p + consumer_header_size, in.size() - consumer_header_size);
  if (get_u32(p + 28) != consumer_crc(p, state) || get_u32(p + 24) != 0) return std::nullopt;
  return consumer_checkpoint{get_u64(p + 16), state};
}

void append_journal_op(std::vector<std::byte>& frame, const journal_op& op) {
  if (frame.size() < journal_frame_header_size) frame.resize(journal_frame_header_size);
  const std::size_t at = frame.size();
  frame.resize(at + journal_op_header_size + op.path.size() + op.data.size());
  std::byte* p = frame.data() + at;
  put_u64(p, op.offset);
  put_u32(p + 8, static_cast<std::uint32_t>(op.data.size()));
  put_u16(p + 12, static_cast<std::uint16_t>(op.path.size()));
  put_u16(p + 14, op.new_file ? journal_op_new_file : 0);
  copy(p + journal_op_header_size, op.path.data(), op.path.size());
  if (!op.data.empty())
    std::memcpy(p + journal_op_header_size + op.path.size(), op.data.data(), op.data.size());
}

void seal_journal_frame(std::vector<std::byte>& frame, std::uint64_t first_position,
                        std::uint64_t event_count, std::uint32_t op_count) {
  if (frame.size() < journal_frame_header_size) frame.resize(journal_frame_header_size);
  std::byte* p = frame.data();
  put_u32(p, static_cast<std::uint32_t>(frame.size()));
  put_u64(p + 8, first_position);
  put_u64(p + 16, event_count);
  put_u32(p + 24, op_count);
  put_u32(p + 28, 0);
  put_u32(p + 4, masked_crc(p + 8, frame.size() - 8));
}

std::uint32_t peek_journal_frame_size(bytes in) { return in.size() < 4 ? 0 : get_u32(in.data()); }

decode_status decode_journal_frame(bytes in, journal_frame& out) {
  if (in.size() < 4) return decode_status::truncated;
  const std::uint32_t size = get_u32(in.data());
  if (size == 0) return decode_status::end;
  if (size < journal_frame_header_size) return decode_status::corrupt;
  if (in.size() < size) return decode_status::truncated;
  const std::byte* p = in.data();
  if (get_u32(p + 4) != masked_crc(p + 8, size - 8)) return decode_status::corrupt;
  out.size = size;
  out.first_position = get_u64(p + 8);
  out.event_count = get_u64(p + 16);
  const std::uint32_t op_count = get_u32(p + 24);
  out.ops.clear();
  std::size_t at = journal_frame_header_size;
  for (std::uint32_t i = 0; i < op_count; ++i) {
    if (size - at < journal_op_header_size) return decode_status::corrupt;
    const std::byte* q = p + at;
    journal_op op;
    op.offset = get_u64(q);
    const std::uint32_t len = get_u32(q + 8);
    const std::uint16_t path_len = get_u16(q + 12);
    op.new_file = (get_u16(q + 14) & journal_op_new_file) != 0;
    if (size - at - journal_op_header_size < std::uint64_t{path_len} + len) return decode_status::corrupt;
    op.path = view(q + journal_op_header_size, path_len);
    op.data = bytes(q + journal_op_header_size + path_len, len);
    out.ops.push_back(op);
    at += journal_op_header_size + path_len + len;
  }
  return at == size ? decode_status::ok : decode_status::corrupt;
}

}  // namespace evstore::detail::format
