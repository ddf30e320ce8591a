#include "index/index_manifest.hpp"

#include "format/format.hpp"
#include "index/run_format.hpp"
#include "io/file_error.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace evstore::detail {
namespace {

using format::get_u32;
using format::get_u64;
using format::put_u32;
using format::put_u64;
using run_format::masked_crc;

constexpr char magic[8] = {'E', 'V', 'S', 'S', 'M', 'A', 'N', '\n'};
constexpr std::size_t fixed_size = 32;
constexpr std::size_t run_size = 24;
constexpr std::uint64_t max_runs = 1u << 20;

result<index_manifest> decode(const std::vector<std::byte>& in, const std::string& path) {
  const std::size_t body = in.size() - run_format::crc_size;
  const std::byte* p = in.data();
  if (get_u32(p + body) != masked_crc(p, body))
    return corruption_at("manifest checksum mismatch", path, body);
  if (std::memcmp(p, magic, 8) != 0 || get_u32(p + 8) != run_format::version ||
      !format::all_zero(std::span(in).subspan(24, 8)))
    return corruption_at("bad manifest header", path, 0);
  const std::uint32_t count = get_u32(p + 12);
  if (std::uint64_t{count} * run_size != body - fixed_size)
    return corruption_at("bad manifest run count", path, 12);
  index_manifest m;
  m.next_seq = get_u64(p + 16);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::byte* r = p + fixed_size + i * run_size;
    manifest_run run{get_u64(r), get_u64(r + 8), get_u64(r + 16)};
    if (run.seq >= m.next_seq || (!m.runs.empty() && run.seq <= m.runs.back().seq) ||
        run.end_position < run.first_position)
      return corruption_at("bad manifest run", path, fixed_size + i * run_size);
    m.runs.push_back(run);
  }
  return m;
}

}  // namespace

std::string run_file_name(std::uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "run-%016" PRIx64 ".sidx", seq);
  return buf;
}

std::optional<std::uint64_t> parse_run_file_name(const std::string& name) {
  if (name.size() != 25 || name.compare(0, 4, "run-") != 0 || name.compare(20, 5, ".sidx") != 0)
    return std::nullopt;
  std::uint64_t seq = 0;
  for (std::size_t i = 4; i < 20; ++i) {
    const char c = name[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    seq = seq * 16 + static_cast<std::uint64_t>(d);
  }
  return seq;
}

result<std::optional<index_manifest>> index_manifest::read(file_system& fs, const std::string& dir) {
  const std::string path = dir + "/" + manifest_name;
  auto f = fs.open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory)
    return std::optional<index_manifest>{};
  if (!f) return io_error_at(f.error(), "opening", path, 0);
  auto size = (*f)->size();
  if (!size) return io_error_at(size.error(), "reading the size of", path, 0);
  if (*size < fixed_size + run_format::crc_size ||
      *size > fixed_size + run_format::crc_size + max_runs * run_size)
    return corruption_at("bad manifest size", path, *size);
  std::vector<std::byte> bytes(*size);
  auto n = (*f)->read_at(0, bytes);
  if (!n) return io_error_at(n.error(), "reading", path, 0);
  if (*n != bytes.size()) return corruption_at("manifest ends early", path, *n);
  auto m = decode(bytes, path);
  if (!m) return m.error();
  return std::optional<index_manifest>(std::move(*m));
}

result<void> index_manifest::write(file_system& fs, const std::string& dir) const {
  std::vector<std::byte> out(fixed_size + runs.size() * run_size + run_format::crc_size);
  std::memcpy(out.data(), magic, 8);
  put_u32(out.data() + 8, run_format::version);
  put_u32(out.data() + 12, static_cast<std::uint32_t>(runs.size()));
  put_u64(out.data() + 16, next_seq);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::byte* r = out.data() + fixed_size + i * run_size;
    put_u64(r, runs[i].seq);
    put_u64(r + 8, runs[i].first_position);
    put_u64(r + 16, runs[i].end_position);
  }
  const std::size_t body = out.size() - run_format::crc_size;
  put_u32(out.data() + body, masked_crc(out.data(), body));
  const std::string temp = dir + "/" + manifest_temp_name;
  auto f = fs.open(temp, open_mode::read_write_create);
  if (!f) return io_error_at(f.error(), "creating", temp, 0);
  if (auto ec = (*f)->truncate(0)) return io_error_at(ec, "truncating", temp, 0);
  if (auto ec = (*f)->write_at(0, out)) return io_error_at(ec, "writing", temp, 0);
  if (auto ec = (*f)->sync()) return io_error_at(ec, "syncing", temp, 0);
  const std::string path = dir + "/" + manifest_name;
  if (auto ec = fs.rename(temp, path)) return io_error_at(ec, "renaming over", path, 0);
  if (auto ec = fs.sync_directory(dir)) return io_error_at(ec, "syncing the directory", dir, 0);
  return {};
}

}  // namespace evstore::detail
