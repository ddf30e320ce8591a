#include "format/scavenge_state.hpp"

#include "format/crc32c.hpp"

#include <cstring>

namespace evstore::detail::format {
namespace {

constexpr char magic[8] = {'E', 'V', 'S', 'S', 'C', 'A', 'V', '\n'};
constexpr std::uint32_t state_version = 1;
constexpr std::size_t header_size = 16;
constexpr std::size_t entry_fixed_size = 8 + all_entry2_size + 8 + 8 + 8 + 4 + 2 + 2;
constexpr std::size_t trailer_size = 8;

std::uint32_t masked(const std::byte* p, std::size_t n) { return crc32c::mask(crc32c::value(p, n)); }

}  // namespace

record_fields scavenge_entry::erased_fields() const {
  record_fields f;
  f.stream = stream;
  f.position = position;
  f.version = version;
  f.committed_at = committed_at;
  f.commit_first_position = commit_first_position;
  f.commit_count = commit_count;
  f.commit_end = entry.commit_end;
  return f;
}

std::vector<std::byte> encode_scavenge_state(const std::vector<scavenge_entry>& batch) {
  std::size_t size = header_size + trailer_size;
  for (const auto& e : batch) size += entry_fixed_size + e.stream.size();
  std::vector<std::byte> out(size);
  std::byte* p = out.data();
  std::memcpy(p, magic, 8);
  put_u32(p + 8, state_version);
  put_u32(p + 12, static_cast<std::uint32_t>(batch.size()));
  std::byte* q = p + header_size;
  for (const auto& e : batch) {
    put_u64(q, e.position);
    encode_all_entry2(e.entry, mutable_bytes(q + 8, all_entry2_size));
    q += 8 + all_entry2_size;
    put_u64(q, e.version);
    put_u64(q + 8, static_cast<std::uint64_t>(e.committed_at));
    put_u64(q + 16, e.commit_first_position);
    put_u32(q + 24, e.commit_count);
    put_u16(q + 28, static_cast<std::uint16_t>(e.stream.size()));
    put_u16(q + 30, 0);
    std::memcpy(q + 32, e.stream.data(), e.stream.size());
    q += 32 + e.stream.size();
  }
  put_u32(q, masked(p, static_cast<std::size_t>(q - p)));
  put_u32(q + 4, 0);
  return out;
}

std::optional<std::vector<scavenge_entry>> decode_scavenge_state(bytes in) {
  if (in.size() < header_size + trailer_size) return std::nullopt;
  const std::byte* p = in.data();
  if (std::memcmp(p, magic, 8) != 0 || get_u32(p + 8) != state_version) return std::nullopt;
  const std::uint32_t n = get_u32(p + 12);
  std::vector<scavenge_entry> batch;
  std::size_t at = header_size;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (in.size() - at < entry_fixed_size + trailer_size) return std::nullopt;
    const std::byte* q = p + at;
    scavenge_entry e;
    e.position = get_u64(q);
    auto entry = decode_all_entry2(in.subspan(at + 8, all_entry2_size));
    if (!entry || !entry->erased) return std::nullopt;
    e.entry = *entry;
    q += 8 + all_entry2_size;
    e.version = get_u64(q);
    e.committed_at = static_cast<std::int64_t>(get_u64(q + 8));
    e.commit_first_position = get_u64(q + 16);
    e.commit_count = get_u32(q + 24);
    const std::uint16_t name_len = get_u16(q + 28);
    if (get_u16(q + 30) != 0 || name_len == 0 || name_len > max_record_name ||
        std::size_t{name_len} + record_overhead > e.entry.size)
      return std::nullopt;
    at += entry_fixed_size;
    if (in.size() - at < name_len + trailer_size) return std::nullopt;
    e.stream.assign(reinterpret_cast<const char*>(p + at), name_len);
    at += name_len;
    batch.push_back(std::move(e));
  }
  if (in.size() != at + trailer_size || get_u32(p + at) != masked(p, at) || get_u32(p + at + 4) != 0)
    return std::nullopt;
  return batch;
}

}  // namespace evstore::detail::format
