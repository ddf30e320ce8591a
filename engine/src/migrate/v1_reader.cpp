// Opening a format-1 store for migration (v1_reader.hpp): what it is, where
// its committed end is. Reads only; the journal's frames are laid over the
// files in memory.
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "journal/journal_reader.hpp"
#include "migrate/v1_reader_impl.hpp"
#include "require.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <span>

namespace evstore::detail::migrate {
namespace {

// The start of `text` for an error message, its control bytes escaped.
std::string excerpt(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 80)) {
    if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x" + std::string(1, "0123456789abcdef"[(c >> 4) & 0xf]) + "0123456789abcdef"[c & 0xf];
    } else {
      out += c;
    }
  }
  return text.size() > 80 ? out + "..." : out;
}

}  // namespace

std::string v1_reader::impl::relative(const std::string& path) const {
  if (path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/')
    return path.substr(dir.size() + 1);
  return path;
}

error v1_reader::impl::read_error(const error& e, const std::string& path, std::uint64_t offset) const {
  return io_error_at(e.code, "reading", relative(path), offset);
}

result<void> v1_reader::impl::read_store_json() {
  const std::string path = layout::store_json(dir);
  auto f = fs->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory)
    return error(errc::invalid_argument, "no evstore store in " + dir + " (no store.json)");
  if (!f) return read_error(f.error(), path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return read_error(bytes.error(), path, 0);
  const std::string_view text = to_string_view(*bytes);
  boost::system::error_code ec;
  const boost::json::value meta = boost::json::parse(text, ec);
  const auto* obj = ec ? nullptr : meta.if_object();
  const auto* format = obj != nullptr ? obj->if_contains("format") : nullptr;
  const auto* version = obj != nullptr ? obj->if_contains("version") : nullptr;
  if (format == nullptr || !format->is_string() || format->as_string() != "evstore" || version == nullptr ||
      !version->is_int64()) {
    return error(errc::corrupt_data,
                 relative(path) + " does not describe an evstore store: found \"" + excerpt(text) + "\"");
  }
  if (version->as_int64() != format::format_version) {
    return error(errc::format_mismatch, relative(path) + " says format version " +
                                            std::to_string(version->as_int64()) +
                                            "; this reader reads format version 1 only");
  }
  return {};
}

result<format::checkpoint> v1_reader::impl::read_checkpoint() {
  const std::string path = layout::checkpoint(dir);
  auto f = fs->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return format::checkpoint{};
  if (!f) return read_error(f.error(), path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return read_error(bytes.error(), path, 0);
  // No valid slot: recovery starts from nothing, as here.
  return format::decode_checkpoint_file(*bytes).value_or(format::checkpoint{});
}

// The writer's published count (index/head); 0 if missing or torn.
result<std::uint64_t> v1_reader::impl::read_head() {
  const std::string path = layout::head(dir);
  auto f = fs->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return std::uint64_t{0};
  if (!f) return read_error(f.error(), path, 0);
  std::array<std::byte, format::head_size> buf{};
  auto n = (*f)->read_at(0, buf);
  if (!n) return read_error(n.error(), path, 0);
  if (*n != buf.size()) return std::uint64_t{0};
  return format::decode_head(buf).value_or(0);
}

// The frames recovery would replay, kept in memory: the store stays as it is.
result<void> v1_reader::impl::read_journal(const format::checkpoint& cp) {
  if (cp.journal_offset == 0) return {};
  const std::string path = layout::journal(dir);
  auto f = fs->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return {};
  if (!f) return read_error(f.error(), path, 0);
  auto walk = collect_journal(**f, path, dir, cp.journal_offset, cp.all_count, journal);
  if (!walk) return error(walk.error().code, walk.error().detail + " (" + relative(path) + ")");
  if (walk->damage) {
    return corruption_at(walk->damage->what, relative(path), walk->damage->offset);
  }
  return {};
}

// Catalog records while they decode with dense ids (a torn tail ends them,
// as in recovery); fewer streams than the checkpoint promises is damage.
result<void> v1_reader::impl::read_catalog(const format::checkpoint& cp) {
  const std::string path = layout::catalog(dir);
  auto src = overlay_source::open(*fs, path, journal);
  if (!src) return read_error(src.error(), path, 0);
  std::vector<std::byte> bytes(src->size());
  auto n = src->read(0, bytes);
  if (!n) return read_error(n.error(), path, 0);
  if (bytes.size() < format::file_header_size ||
      !format::decode_file_header(bytes, format::file_kind::catalog)) {
    return error(errc::corrupt_data, "bad file header in " + relative(path) + " at offset 0");
  }
  std::size_t at = format::file_header_size;
  while (at < bytes.size()) {
    format::catalog_record r;
    std::uint32_t size = 0;
    if (format::decode_catalog_record(std::span(bytes).subspan(at), r, size) != format::decode_status::ok ||
        r.stream_id != streams.size() || validate_stream_name(r.name, name_use::read)) {
      break;
    }
    streams.push_back(
        {std::string(r.name), layout::partition(dir, encode_stream_file_name(r.name)), r.first_position});
    at += size;
  }
  // Garbage after the last record is a torn tail unless a later record is of
  // an acknowledged stream: then it is damage in the middle (recovery.cpp).
  if (at < bytes.size() && !format::all_zero(std::span(bytes).subspan(at))) {
    if (auto later = format::first_position_after_damage(bytes, at)) {
      auto head = read_head();
      if (!head) return head.error();
      if (*later < std::max(cp.all_count, *head)) {
        return error(errc::corrupt_data,
                     "damaged catalog record before the record of an acknowledged stream in " +
                         relative(path) + " at offset " + std::to_string(at));
      }
    }
  }
  if (streams.size() < cp.stream_count) {
    return error(errc::corrupt_data, "catalog has " + std::to_string(streams.size()) +
                                         " streams, the checkpoint promises " +
                                         std::to_string(cp.stream_count) + " in " + relative(path) +
                                         " at offset " + std::to_string(at));
  }
  return {};
}

result<std::vector<std::byte>> v1_reader::impl::read_entries(std::uint64_t from, std::uint64_t n) {
  const std::uint64_t offset = format::file_header_size + from * format::all_entry_size;
  std::vector<std::byte> bytes(static_cast<std::size_t>(n * format::all_entry_size));
  auto got = all->read(offset, bytes);
  if (!got) return read_error(got.error(), layout::all_index(dir), offset);
  bytes.resize(*got / format::all_entry_size * format::all_entry_size);
  return bytes;
}

// How many entries from `from` on still decode: what a torn tail leaves out.
result<std::uint64_t> v1_reader::impl::count_decodable(std::uint64_t from) {
  std::uint64_t count = 0;
  for (std::uint64_t at = from; at < all_entries; at += entries_per_read) {
    auto bytes = read_entries(at, std::min<std::uint64_t>(entries_per_read, all_entries - at));
    if (!bytes) return bytes.error();
    for (std::size_t i = 0; i < bytes->size(); i += format::all_entry_size, ++count) {
      if (!format::decode_all_entry(std::span(*bytes).subspan(i, format::all_entry_size))) return count;
    }
  }
  return count;
}

// As recovery (store/recovery.cpp): past the checkpoint, entries are accepted
// while they check out; the end then moves back to the last commit end.
result<void> v1_reader::impl::find_committed_end() {
  std::uint64_t scanned = checkpoint_count;
  std::uint64_t committed = checkpoint_count;
  std::optional<v1_mismatch> stop;
  while (scanned < all_entries && !stop) {
    auto batch =
        read_batch(scanned, std::min<std::uint64_t>(entries_per_read, all_entries - scanned), nullptr);
    if (!batch) return batch.error();
    if (batch->commit_end != 0) committed = batch->commit_end;
    scanned += batch->accepted;
    stop = std::move(batch->mismatch);
  }
  // A stream created before the checkpoint must have its partition: no torn tail.
  if (stop && stop->lost_partition) {
    return corruption_at(stop->what, stop->file, stop->offset);
  }
  end = committed;
  auto left = count_decodable(end);
  if (!left) return left.error();
  left_out.events = *left;
  if (*left == 0) return {};
  if (committed < scanned) {
    left_out.reason = "positions " + std::to_string(committed) + " to " + std::to_string(scanned - 1) +
                      " belong to an append whose last event is missing or damaged";
    if (stop) left_out.reason += "; then ";
  }
  if (stop) {
    left_out.reason += "position " + std::to_string(stop->position) + ": " + stop->what + " in " +
                       stop->file + " at offset " + std::to_string(stop->offset);
  }
  return {};
}

result<void> v1_reader::impl::open() {
  if (auto r = read_store_json(); !r) return r;
  auto cp = read_checkpoint();
  if (!cp) return cp.error();
  checkpoint_count = cp->all_count;
  if (auto r = read_journal(*cp); !r) return r;
  if (auto r = read_catalog(*cp); !r) return r;
  const std::string path = layout::all_index(dir);
  auto src = overlay_source::open(*fs, path, journal);
  if (!src) return read_error(src.error(), path, 0);
  all.emplace(std::move(*src));
  std::array<std::byte, format::file_header_size> header{};
  auto got = all->read(0, header);
  if (!got) return read_error(got.error(), path, 0);
  auto h =
      *got == header.size() ? format::decode_file_header(header, format::file_kind::all_index) : std::nullopt;
  if (!h || h->entry_size != format::all_entry_size)
    return error(errc::corrupt_data, "bad file header in " + relative(path) + " at offset 0");
  all_entries = (all->size() - format::file_header_size) / format::all_entry_size;
  if (all_entries < checkpoint_count) {
    return error(errc::corrupt_data, "$all has " + std::to_string(all_entries) +
                                         " entries, the checkpoint promises " +
                                         std::to_string(checkpoint_count) + " in " + relative(path) +
                                         " at offset " + std::to_string(all->size()));
  }
  return find_committed_end();
}

result<v1_reader> v1_reader::open(file_system& fs, const std::string& dir, std::size_t max_open_files) {
  EVSTORE_REQUIRE(max_open_files > 0);
  auto p = std::make_unique<impl>();
  p->max_open_partitions = max_open_files;
  p->fs = &fs;
  p->dir = dir;
  while (p->dir.size() > 1 && p->dir.back() == '/') p->dir.pop_back();
  if (auto r = p->open(); !r) return r.error();
  return v1_reader(std::move(p));
}

v1_reader::v1_reader(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
v1_reader::v1_reader(v1_reader&&) noexcept = default;
v1_reader& v1_reader::operator=(v1_reader&&) noexcept = default;
v1_reader::~v1_reader() = default;

std::uint64_t v1_reader::event_count() const { return impl_->end; }
std::uint64_t v1_reader::next_position() const { return impl_->next; }
const v1_left_out& v1_reader::left_out() const { return impl_->left_out; }

}  // namespace evstore::detail::migrate
