#include "index/index_run_reader.hpp"

#include "index/group_cursor.hpp"
#include "index/versions_below.hpp"
#include "io/file_error.hpp"

#include <algorithm>
#include <array>

namespace evstore::detail {
namespace {

// open() reads this much of the file's end at once: the trailer and, for runs
// of up to ~40,000 streams, the whole footer.
constexpr std::uint64_t tail_read_size = 64 * 1024;

result<void> read_exact(file& f, const std::string& path, std::uint64_t offset, std::span<std::byte> buf) {
  auto n = f.read_at(offset, buf);
  if (!n) return io_error_at(n.error(), "reading", path, offset);
  if (*n != buf.size()) return corruption_at("file ends early", path, offset + *n);
  return {};
}

}  // namespace

index_run_reader::index_run_reader(std::unique_ptr<file> f, std::string path, run_format::run_footer footer,
                                   std::shared_ptr<block_cache> cache)
    : file_(std::move(f)),
      path_(std::move(path)),
      footer_(std::move(footer)),
      bloom_(footer_.bloom),
      cache_(std::move(cache)) {
  footer_.bloom = {};
}

result<std::shared_ptr<const index_run_reader>> index_run_reader::open(file_system& fs,
                                                                       const std::string& path,
                                                                       std::shared_ptr<block_cache> cache) {
  auto f = fs.open(path, open_mode::read_only);
  if (!f) return io_error_at(f.error(), "opening", path, 0);
  auto size = (*f)->size();
  if (!size) return io_error_at(size.error(), "reading the size of", path, 0);
  if (*size < run_format::header_size + run_format::footer_fixed_size + run_format::crc_size +
                  run_format::trailer_size)
    return corruption_at("run file too short", path, *size);
  const std::uint64_t tail_size = std::min(*size, tail_read_size);
  const std::uint64_t tail_offset = *size - tail_size;
  std::vector<std::byte> tail(tail_size);
  if (auto r = read_exact(**f, path, tail_offset, tail); !r) return r.error();
  auto trailer = run_format::decode_trailer(std::span(tail).last(run_format::trailer_size), *size, path);
  if (!trailer) return trailer.error();
  std::vector<std::byte> footer_bytes;
  if (trailer->footer_offset >= tail_offset) {
    const auto begin = tail.begin() + static_cast<std::ptrdiff_t>(trailer->footer_offset - tail_offset);
    footer_bytes.assign(begin, begin + static_cast<std::ptrdiff_t>(trailer->footer_length));
  } else {
    footer_bytes.resize(trailer->footer_length);
    if (auto r = read_exact(**f, path, trailer->footer_offset, footer_bytes); !r) return r.error();
  }
  auto footer = run_format::decode_footer(footer_bytes, trailer->footer_offset, path);
  if (!footer) return footer.error();
  return std::shared_ptr<const index_run_reader>(
      new index_run_reader(std::move(*f), path, std::move(*footer), std::move(cache)));
}

std::size_t index_run_reader::memory_bytes() const noexcept {
  std::size_t n = bloom_.bytes().size() + footer_.fences.capacity() * sizeof(run_format::run_fence);
  for (const auto& fence : footer_.fences)
    if (fence.name.size() > 15) n += fence.name.capacity() + 1;  // beyond the small-string buffer
  return n;
}

std::optional<std::size_t> index_run_reader::block_for(const stream_key_view& key) const {
  const auto& fences = footer_.fences;
  auto it =
      std::upper_bound(fences.begin(), fences.end(), key,
                       [](const stream_key_view& k, const run_format::run_fence& f) { return k < f.key(); });
  if (it == fences.begin()) return std::nullopt;
  return static_cast<std::size_t>(it - fences.begin() - 1);
}

result<void> index_run_reader::read_block(std::size_t i, run_format::decoded_block& out) const {
  const run_format::run_fence& fence = footer_.fences[i];
  out.bytes.resize(fence.length);
  if (auto r = read_exact(*file_, path_, fence.offset, out.bytes); !r) return r;
  return run_format::decode_block(out, fence, footer_.header, path_);
}

namespace {

// The decoded block of this thread's lookups, each of which is done with it
// when it returns: once its buffers have grown to a block, a lookup
// allocates nothing (a writer that has not cached a stream looks up its last
// version on its first append).
run_format::decoded_block& scratch_block() {
  thread_local run_format::decoded_block block;
  return block;
}

// The last group of the block whose key is <= key, if it belongs to key's name.
const run_format::run_group* group_at_or_before(const run_format::decoded_block& block,
                                                const stream_key_view& key) {
  auto it =
      std::upper_bound(block.groups.begin(), block.groups.end(), key,
                       [](const stream_key_view& k, const run_format::run_group& g) { return k < g.key; });
  if (it == block.groups.begin()) return nullptr;
  const run_format::run_group& g = *(it - 1);
  if (g.key.hash != key.hash || g.key.name != key.name) return nullptr;
  return &g;
}

}  // namespace

result<const run_format::decoded_block*> index_run_reader::lookup_block(
    std::size_t i, std::shared_ptr<const run_format::decoded_block>& hold) const {
  if (!cache_) {
    run_format::decoded_block& block = scratch_block();
    if (auto r = read_block(i, block); !r) return r.error();
    return &block;
  }
  hold = cache_->find(id_, i);
  if (!hold) {
    auto block = std::make_shared<run_format::decoded_block>();
    if (auto r = read_block(i, *block); !r) return r.error();
    cache_->insert(id_, i, block);
    hold = std::move(block);
  }
  return hold.get();
}

result<std::size_t> index_run_reader::lookup(std::uint64_t hash, std::string_view name, std::uint64_t from,
                                             std::size_t max_count, std::vector<std::uint64_t>& out) const {
  if (max_count == 0 || !bloom_.may_contain(hash)) return 0;
  const stream_key_view key{hash, name, from};
  auto i = block_for(key);
  if (!i) return 0;
  std::shared_ptr<const run_format::decoded_block> hold;
  auto got = lookup_block(*i, hold);
  if (!got) return got.error();
  const run_format::decoded_block* block = *got;
  const run_format::run_group* g = group_at_or_before(*block, key);
  if (g == nullptr || from >= g->end_version()) return 0;
  std::size_t taken = 0;
  std::uint64_t next = from;
  while (true) {
    const auto positions = block->positions_of(*g).subspan(next - g->key.first_version);
    const std::size_t n = std::min(max_count - taken, positions.size());
    out.insert(out.end(), positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(n));
    taken += n;
    next += n;
    if (taken == max_count) return taken;
    // The name's next group follows in this block or starts the next one.
    const std::size_t gi = static_cast<std::size_t>(g - block->groups.data()) + 1;
    if (gi < block->groups.size()) {
      g = &block->groups[gi];
    } else {
      if (++*i == footer_.fences.size()) return taken;
      const auto& fence = footer_.fences[*i];
      if (fence.hash != hash || fence.name != name) return taken;
      got = lookup_block(*i, hold);
      if (!got) return got.error();
      block = *got;
      g = &block->groups[0];
    }
    if (g->key.hash != hash || g->key.name != name) return taken;
    if (g->key.first_version != next)
      return corruption_at("versions of a stream not contiguous", path_, footer_.fences[*i].offset);
  }
}

result<std::optional<std::uint64_t>> index_run_reader::last_version(std::uint64_t hash,
                                                                    std::string_view name) const {
  if (!bloom_.may_contain(hash)) return std::nullopt;
  const stream_key_view key{hash, name, UINT64_MAX};
  auto i = block_for(key);
  if (!i) return std::nullopt;
  std::shared_ptr<const run_format::decoded_block> hold;
  auto got = lookup_block(*i, hold);
  if (!got) return got.error();
  const run_format::decoded_block* block = *got;
  const run_format::run_group* g = group_at_or_before(*block, key);
  if (g == nullptr) return std::nullopt;
  return g->end_version() - 1;
}

result<std::optional<std::uint64_t>> index_run_reader::count_below(std::uint64_t hash, std::string_view name,
                                                                   std::uint64_t all_count) const {
  if (!bloom_.may_contain(hash)) return std::nullopt;
  const stream_key_view key{hash, name, UINT64_MAX};
  auto i = block_for(key);
  if (!i) return std::nullopt;
  std::shared_ptr<const run_format::decoded_block> hold;
  auto got = lookup_block(*i, hold);
  if (!got) return got.error();
  const run_format::decoded_block* block = *got;
  const run_format::run_group* g = group_at_or_before(*block, key);
  while (g != nullptr && g->key.hash == hash && g->key.name == name) {
    if (auto n = versions_below(g->key.first_version, block->positions_of(*g), all_count)) return n;
    if (g->key.first_version == 0) return std::optional<std::uint64_t>{0};
    // The name's previous group: earlier in this block, or the last of the previous one.
    if (g != block->groups.data()) {
      --g;
    } else if (*i == 0) {
      return std::nullopt;
    } else {
      got = lookup_block(--*i, hold);
      if (!got) return got.error();
      block = *got;
      g = &block->groups.back();
    }
  }
  return std::nullopt;
}

result<void> index_run_reader::verify() const {
  std::array<std::byte, run_format::header_size> h{};
  if (auto r = read_exact(*file_, path_, 0, h); !r) return r;
  auto header = run_format::decode_header(h, path_);
  if (!header) return header.error();
  if (*header != footer_.header) return corruption_at("run header disagrees with its footer", path_, 0);
  // Walk every group: order across blocks, each stream's continuity, the counts.
  run_cursor cursor(std::shared_ptr<const index_run_reader>(std::shared_ptr<const index_run_reader>{}, this));
  continuity_check check;
  while (true) {
    auto more = cursor.advance();
    if (!more) return more.error();
    if (!*more) break;
    if (auto r = check.next(cursor.current(), path_); !r) return r;
  }
  if (check.streams() != footer_.stream_count || check.events() != footer_.event_count)
    return corruption_at("footer counts disagree with the blocks", path_, 0);
  return {};
}

}  // namespace evstore::detail
