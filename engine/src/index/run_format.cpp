#include "index/run_format.hpp"

#include "format/crc32c.hpp"
#include "format/format.hpp"
#include "index/varint.hpp"
#include "io/file_error.hpp"

#include <cstring>

namespace evstore::detail::run_format {
namespace {

using format::get_u32;
using format::get_u64;
using format::put_u32;
using format::put_u64;

constexpr char header_magic[8] = {'E', 'V', 'S', 'S', 'I', 'D', 'X', '\n'};
constexpr char trailer_magic[8] = {'E', 'V', 'S', 'S', 'E', 'N', 'D', '\n'};

void append_u32(std::vector<std::byte>& out, std::uint32_t v) {
  const std::size_t at = out.size();
  out.resize(at + 4);
  put_u32(out.data() + at, v);
}

void append_u64(std::vector<std::byte>& out, std::uint64_t v) {
  const std::size_t at = out.size();
  out.resize(at + 8);
  put_u64(out.data() + at, v);
}

void append_bytes(std::vector<std::byte>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

// A bounds-checked reader over bytes that belong to `path` starting at `base`.
// Each read returns false on damage and remembers what and where, so the hot
// loop of decode_block builds no error until one is needed: failure() then
// names the offset of the field that did not decode.
class field_reader {
 public:
  field_reader(std::span<const std::byte> in, std::uint64_t base, const std::string& path)
      : in_(in), base_(base), path_(path) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return in_.size() - pos_; }
  bool done() const noexcept { return pos_ == in_.size(); }
  error damage(std::string_view what) const { return corruption_at(what, path_, base_ + pos_); }
  error failure() const { return damage(what_); }

  bool u64(std::uint64_t& v) noexcept {
    if (left() < 8) return fail("truncated field");
    v = get_u64(in_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool u32(std::uint32_t& v) noexcept {
    if (left() < 4) return fail("truncated field");
    v = get_u32(in_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool var(std::uint64_t max, std::uint64_t& v) noexcept {
    const std::size_t at = pos_;
    const auto got = varint::get(in_, pos_);
    if (got && *got <= max) {
      v = *got;
      return true;
    }
    pos_ = at;
    return fail(got ? "out-of-range length" : "bad varint");
  }
  bool name(std::string_view& s) noexcept {
    std::uint64_t len = 0;
    if (!var(max_name_size, len)) return false;
    if (len == 0 || len > left()) return fail("bad name length");
    s = std::string_view(reinterpret_cast<const char*>(in_.data() + pos_), len);
    pos_ += len;
    return true;
  }

 private:
  bool fail(std::string_view what) noexcept {
    what_ = what;
    return false;
  }

  std::span<const std::byte> in_;
  std::uint64_t base_;
  const std::string& path_;
  std::size_t pos_ = 0;
  std::string_view what_;
};

}  // namespace

std::uint32_t masked_crc(const std::byte* p, std::size_t n) noexcept {
  return crc32c::mask(crc32c::value(p, n));
}

void encode_header(const run_header& h, std::span<std::byte, header_size> out) {
  std::memset(out.data(), 0, header_size);
  std::memcpy(out.data(), header_magic, 8);
  put_u32(out.data() + 8, version);
  put_u32(out.data() + 12, header_size);
  put_u64(out.data() + 16, h.seq);
  put_u64(out.data() + 24, h.first_position);
  put_u64(out.data() + 32, h.end_position);
  put_u32(out.data() + 60, masked_crc(out.data(), 60));
}

result<run_header> decode_header(std::span<const std::byte> in, const std::string& path) {
  if (in.size() < header_size) return corruption_at("truncated run header", path, 0);
  const std::byte* p = in.data();
  if (get_u32(p + 60) != masked_crc(p, 60)) return corruption_at("run header checksum mismatch", path, 0);
  if (std::memcmp(p, header_magic, 8) != 0 || get_u32(p + 8) != version || get_u32(p + 12) != header_size ||
      !format::all_zero(in.subspan(40, 20)))
    return corruption_at("bad run header", path, 0);
  run_header h{get_u64(p + 16), get_u64(p + 24), get_u64(p + 32)};
  if (h.end_position < h.first_position) return corruption_at("bad run position range", path, 24);
  return h;
}

std::size_t group_size(std::string_view name, std::uint64_t first_version,
                       std::span<const std::uint64_t> positions) {
  std::size_t n = 8 + varint::size(name.size()) + name.size() + varint::size(first_version) +
                  varint::size(positions.size()) + varint::size(positions[0]);
  for (std::size_t i = 1; i < positions.size(); ++i) n += varint::size(positions[i] - positions[i - 1]);
  return n;
}

void encode_group(std::vector<std::byte>& out, stream_key_view key,
                  std::span<const std::uint64_t> positions) {
  append_u64(out, key.hash);
  varint::put(out, key.name.size());
  append_bytes(out, key.name.data(), key.name.size());
  varint::put(out, key.first_version);
  varint::put(out, positions.size());
  varint::put(out, positions[0]);
  for (std::size_t i = 1; i < positions.size(); ++i) varint::put(out, positions[i] - positions[i - 1]);
}

void append_block_crc(std::vector<std::byte>& block) {
  append_u32(block, masked_crc(block.data(), block.size()));
}

std::vector<std::byte> encode_footer(const run_footer& f) {
  std::vector<std::byte> out;
  append_u64(out, f.header.seq);
  append_u64(out, f.header.first_position);
  append_u64(out, f.header.end_position);
  append_u64(out, f.stream_count);
  append_u64(out, f.event_count);
  append_u32(out, static_cast<std::uint32_t>(f.fences.size()));
  append_u32(out, static_cast<std::uint32_t>(f.bloom.size()));
  out.insert(out.end(), f.bloom.begin(), f.bloom.end());
  for (const run_fence& fence : f.fences) {
    append_u64(out, fence.offset);
    append_u32(out, fence.length);
    append_u64(out, fence.hash);
    varint::put(out, fence.name.size());
    append_bytes(out, fence.name.data(), fence.name.size());
    varint::put(out, fence.first_version);
  }
  append_u32(out, masked_crc(out.data(), out.size()));
  return out;
}

result<run_footer> decode_footer(std::span<const std::byte> in, std::uint64_t footer_offset,
                                 const std::string& path) {
  if (in.size() < footer_fixed_size + crc_size) return corruption_at("truncated footer", path, footer_offset);
  const std::size_t body = in.size() - crc_size;
  if (get_u32(in.data() + body) != masked_crc(in.data(), body))
    return corruption_at("footer checksum mismatch", path, footer_offset + body);
  const std::byte* p = in.data();
  run_footer f;
  f.header = {get_u64(p), get_u64(p + 8), get_u64(p + 16)};
  f.stream_count = get_u64(p + 24);
  f.event_count = get_u64(p + 32);
  const std::uint32_t block_count = get_u32(p + 40);
  const std::uint32_t bloom_bytes = get_u32(p + 44);
  if (f.header.end_position < f.header.first_position || f.event_count < f.stream_count ||
      f.event_count > f.header.end_position - f.header.first_position ||
      (block_count == 0) != (f.event_count == 0))
    return corruption_at("bad footer counts", path, footer_offset);
  if (bloom_bytes > body - footer_fixed_size || bloom_bytes == 0)
    return corruption_at("bad bloom length", path, footer_offset + 44);
  f.bloom.assign(p + footer_fixed_size, p + footer_fixed_size + bloom_bytes);
  // Each fence takes at least 22 bytes: bound the count before reserving.
  const std::size_t fence_bytes = body - footer_fixed_size - bloom_bytes;
  if (block_count > fence_bytes / 22) return corruption_at("bad block count", path, footer_offset + 40);
  f.fences.reserve(block_count);
  const std::size_t fences_at = footer_fixed_size + bloom_bytes;
  field_reader r(in.subspan(fences_at, body - fences_at), footer_offset + fences_at, path);
  std::uint64_t expected_offset = header_size;
  for (std::uint32_t i = 0; i < block_count; ++i) {
    const std::size_t at = r.pos();
    run_fence fence;
    std::string_view name;
    if (!r.u64(fence.offset) || !r.u32(fence.length) || !r.u64(fence.hash) || !r.name(name) ||
        !r.var(UINT64_MAX, fence.first_version))
      return r.failure();
    fence.name = std::string(name);
    if (fence.offset != expected_offset || fence.length <= crc_size || fence.length > max_block_size ||
        fence.length > footer_offset - fence.offset)
      return corruption_at("bad fence", path, footer_offset + fences_at + at);
    if (!f.fences.empty() && !(f.fences.back().key() < fence.key()))
      return corruption_at("fences out of order", path, footer_offset + fences_at + at);
    expected_offset = fence.offset + fence.length;
    f.fences.push_back(std::move(fence));
  }
  if (!r.done()) return r.damage("trailing bytes in footer");
  if (expected_offset != footer_offset && block_count > 0)
    return corruption_at("blocks do not reach the footer", path, footer_offset);
  if (block_count == 0 && footer_offset != header_size)
    return corruption_at("bad footer offset", path, footer_offset);
  return f;
}

void encode_trailer(const run_trailer& t, std::span<std::byte, trailer_size> out) {
  std::memset(out.data(), 0, trailer_size);
  put_u64(out.data(), t.footer_offset);
  put_u64(out.data() + 8, t.footer_length);
  put_u32(out.data() + 20, masked_crc(out.data(), 20));
  std::memcpy(out.data() + 24, trailer_magic, 8);
}

result<run_trailer> decode_trailer(std::span<const std::byte> in, std::uint64_t file_size,
                                   const std::string& path) {
  const std::uint64_t at = file_size - trailer_size;
  const std::byte* p = in.data();
  if (in.size() != trailer_size || std::memcmp(p + 24, trailer_magic, 8) != 0)
    return corruption_at("bad run trailer magic", path, at + 24);
  if (get_u32(p + 20) != masked_crc(p, 20) || get_u32(p + 16) != 0)
    return corruption_at("run trailer checksum mismatch", path, at);
  run_trailer t{get_u64(p), get_u64(p + 8)};
  if (t.footer_offset < header_size || t.footer_offset > at || t.footer_length != at - t.footer_offset ||
      t.footer_length > max_footer_size)
    return corruption_at("bad footer location", path, at);
  return t;
}

result<void> decode_block(decoded_block& out, const run_fence& fence, const run_header& run,
                          const std::string& path) {
  const std::span<const std::byte> all(out.bytes);
  const std::size_t body = all.size() - crc_size;
  if (get_u32(all.data() + body) != masked_crc(all.data(), body))
    return corruption_at("block checksum mismatch", path, fence.offset + body);
  out.groups.clear();
  out.positions.clear();
  field_reader r(all.subspan(0, body), fence.offset, path);
  while (!r.done()) {
    run_group g;
    std::uint64_t count = 0;
    if (!r.u64(g.key.hash) || !r.name(g.key.name) || !r.var(UINT64_MAX, g.key.first_version) ||
        !r.var(max_group_positions, count))
      return r.failure();
    if (count == 0) return r.damage("empty group");
    g.count = static_cast<std::uint32_t>(count);
    g.positions_index = static_cast<std::uint32_t>(out.positions.size());
    if (out.groups.empty() ? g.key != fence.key() : !(out.groups.back().key < g.key))
      return r.damage("group key out of order");
    if (g.key.first_version > UINT64_MAX - count) return r.damage("version overflow");
    std::uint64_t position = 0;
    if (!r.var(UINT64_MAX, position)) return r.failure();
    out.positions.push_back(position);
    for (std::uint32_t i = 1; i < g.count; ++i) {
      std::uint64_t delta = 0;
      if (!r.var(UINT64_MAX, delta)) return r.failure();
      if (delta == 0 || delta > UINT64_MAX - position) return r.damage("bad position delta");
      position += delta;
      out.positions.push_back(position);
    }
    if (out.positions[g.positions_index] < run.first_position || position >= run.end_position)
      return r.damage("position outside the run's range");
    out.groups.push_back(g);
  }
  if (out.groups.empty()) return corruption_at("empty block", path, fence.offset);
  return {};
}

}  // namespace evstore::detail::run_format
