// Opening and recovery. Cost: the catalog, the checkpoint and the $all
// entries written after the last checkpoint (bounded by
// store_options::checkpoint_interval) — never the number of events. Streams
// load lazily, with a binary search over their index checked against $all.
//
// Recovery policy (docs/architecture.md, "Recovery"):
//   * $all is the commit log. Entries after the checkpoint are accepted while
//     each decodes, names a known stream and matches a complete, checksummed
//     record at the position it claims; the first that does not ends the log.
//   * The end is then moved back to the last complete commit, so an append is
//     all or nothing.
//   * Catalog records of streams whose first event lies beyond that end belong
//     to a flush that never completed: they are cut.
//   * A writer then repairs (tail_repair.cpp): cuts the $all tail, rewrites
//     the tail's stream index entries (which may have been lost), cuts
//     partitions and indexes of streams the lost tail touched, syncs all of it
//     (directories too), and only then writes a new checkpoint.
//   * In durable mode the journal frames written since the checkpoint are
//     replayed first (journal.cpp), which restores every acknowledged flush.
//   * Only framing, checksums, identities (stream, position, version) and the
//     end of a file end the log. A failed read, or a missing file that a
//     committed stream must have, is no torn tail: open fails with the file,
//     offset and errno. A writer reads everything its repair needs before it
//     writes anything, so such a failure leaves the store as it was.
//   * Damage before the checkpoint is not a torn write: it is reported as
//     corrupt_data (file and offset) when read, and by `evstore verify`.
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "store/store_impl.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <optional>
#include <span>

namespace evstore::detail {
namespace {

constexpr std::size_t scan_chunk_entries = 4096;

}  // namespace

result<void> store_impl::prepare_directory() {
  const std::string& dir = options_.directory;
  if (dir.empty()) return error(errc::invalid_argument, "store_options::directory is empty");
  if (options_.read_only) {
    if (!fs_->exists(layout::store_json(dir)))
      return error(errc::invalid_argument, "no evstore store in " + dir);
  } else {
    for (const auto& d : {dir, layout::streams_dir(dir), layout::index_dir(dir)}) {
      if (auto ec = fs_->create_directories(d)) return error(ec, "cannot create " + d);
    }
    auto lock = fs_->lock(layout::lock_file(dir));
    if (!lock) {
      return error(lock.error(), lock.error() == errc::store_locked
                                     ? "another process writes " + dir
                                     : "cannot lock " + layout::lock_file(dir));
    }
    lock_ = std::move(*lock);
  }

  const std::string meta_path = layout::store_json(dir);
  // Opened rather than tested with exists(), which cannot report an error:
  // taking an existing store for a new one would empty its catalog and $all.
  auto f = fs_->open(meta_path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) {
    // A new store: the index files first, store.json last, so that a store.json
    // always means a complete skeleton.
    std::array<std::byte, format::file_header_size> header{};
    const std::pair<std::string, format::file_kind> files[] = {
        {layout::all_index(dir), format::file_kind::all_index},
        {layout::catalog(dir), format::file_kind::catalog}};
    for (const auto& [path, kind] : files) {
      format::encode_file_header(
          {kind, kind == format::file_kind::all_index ? std::uint32_t{format::all_entry_size} : 0u, 0, {}},
          header);
      auto created = fs_->open(path, open_mode::read_write_create);
      if (!created) return error(created.error(), "cannot create " + path);
      if (auto ec = (*created)->truncate(0)) return error(ec, path);
      if (auto ec = (*created)->write_at(0, header)) return error(ec, path);
      if (auto ec = (*created)->sync()) return error(ec, path);
    }
    if (auto ec = fs_->sync_directory(layout::index_dir(dir))) return error(ec, layout::index_dir(dir));
    return write_store_json();
  }
  if (!f) return read_error(f.error(), meta_path, 0);
  auto text = read_all(**f);
  if (!text) return read_error(text.error(), meta_path, 0);
  boost::system::error_code ec;
  const boost::json::value meta = boost::json::parse(to_string_view(*text), ec);
  const auto* obj = meta.if_object();
  if (ec || obj == nullptr || !obj->contains("version") || !(*obj).at("version").is_int64() ||
      (*obj).at("version").as_int64() != format::format_version) {
    return error(errc::format_mismatch,
                 meta_path + " does not describe an evstore store of format version 1");
  }
  return {};
}

// store.json appears atomically (temp file, sync, rename, sync the directory),
// so a crash while creating a store never leaves a half-written one behind.
result<void> store_impl::write_store_json() {
  const std::string path = layout::store_json(options_.directory);
  boost::json::object meta{{"format", "evstore"}, {"version", format::format_version}};
  const std::string text = boost::json::serialize(meta) + "\n";
  if (auto ec = write_file_atomically(*fs_, path, std::as_bytes(std::span(text)))) return error(ec, path);
  return {};
}

// Reads the catalog records after the ones already known (all of them at
// open; a follower's refresh() reads only what the writer added since).
result<void> store_impl::read_catalog() {
  const std::string path = layout::catalog(options_.directory);
  auto f = files_.get(path);
  if (!f) return read_error(f.error(), path, 0);
  file& cat = *(*f)->file;
  if (catalog_end_ <= format::file_header_size) {
    std::array<std::byte, format::file_header_size> header{};
    auto n = cat.read_at(0, header);
    if (!n) return read_error(n.error(), path, 0);
    if (*n != header.size() || !format::decode_file_header(header, format::file_kind::catalog)) {
      return corruption("bad file header", relative(path), 0);
    }
    catalog_end_ = format::file_header_size;
  }
  auto size = cat.size();
  if (!size) return read_error(size.error(), path, 0);
  if (*size <= catalog_end_) return {};
  std::vector<std::byte> bytes(*size - catalog_end_);
  auto n = cat.read_at(catalog_end_, bytes);
  if (!n) return read_error(n.error(), path, catalog_end_);
  bytes.resize(*n);
  std::uint64_t at = 0;
  std::uint32_t index = registry_.size();
  while (at < bytes.size()) {
    format::catalog_record r;
    std::uint32_t record_size = 0;
    const auto status = format::decode_catalog_record(std::span(bytes).subspan(at), r, record_size);
    if (status != format::decode_status::ok) break;
    if (r.stream_id != index || validate_stream_name(r.name, name_use::read)) break;
    const std::string encoded = encode_stream_file_name(r.name);
    stream_state* st = registry_.add(std::string(r.name), layout::partition(options_.directory, encoded),
                                     layout::stream_index(options_.directory, encoded));
    st->first_position = r.first_position;
    catalog_offsets_.push_back(catalog_end_ + at);
    ++index;
    at += record_size;
  }
  // Garbage after the last record is an unacknowledged flush's torn write (a
  // reader leaves it: it may be a record the writer is writing right now).
  // A valid record after the garbage may be one too (power loss keeps some
  // sectors of a torn write and not others), unless that record's stream was
  // acknowledged: then the garbage is damage in the middle, which recover()
  // refuses rather than cut acknowledged streams.
  const bool garbage = at < bytes.size() && !format::all_zero(std::span(bytes).subspan(at));
  catalog_damage_ = std::nullopt;
  if (!options_.read_only && garbage) {
    if (auto later = format::first_position_after_damage(bytes, at))
      catalog_damage_ = catalog_damage{catalog_end_ + at, *later};
  }
  catalog_end_ += at;
  // The writer cuts it with the rest of the repair (recover()), after every read.
  catalog_torn_ = !options_.read_only && garbage;
  return {};
}

result<format::checkpoint> store_impl::read_checkpoint() {
  const std::string path = layout::checkpoint(options_.directory);
  format::checkpoint best{};
  // Opened rather than tested with exists(), which cannot report an error: a
  // checkpoint that fails to open is not a missing one.
  auto f = fs_->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return best;
  if (!f) return read_error(f.error(), path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return read_error(bytes.error(), path, 0);
  best = format::decode_checkpoint_file(*bytes).value_or(best);
  checkpoint_sequence_ = best.sequence;
  checkpoint_count_ = best.all_count;
  return best;
}

result<void> store_impl::check_catalog_against(const format::checkpoint& cp) {
  if (cp.stream_count > registry_.size()) {
    return corruption("catalog has " + std::to_string(registry_.size()) +
                          " streams, the checkpoint promises " + std::to_string(cp.stream_count),
                      relative(layout::catalog(options_.directory)), catalog_end_);
  }
  return {};
}

boost::system::error_code store_impl::write_checkpoint(std::uint64_t count, std::uint64_t journal_offset) {
  const std::string path = layout::checkpoint(options_.directory);
  const bool created = !fs_->exists(path);
  auto f = fs_->open(path, open_mode::read_write_create);
  if (!f) return f.error();
  const format::checkpoint c{++checkpoint_sequence_, count, checkpoint_stream_count_, journal_offset};
  std::array<std::byte, format::checkpoint_slot_size> slot{};
  format::encode_checkpoint(c, slot);
  if (auto ec = (*f)->write_at((c.sequence % 2) * format::checkpoint_slot_size, slot)) return ec;
  // Losing a checkpoint only lengthens the next recovery, but it must never
  // promise more than is on disk, so it is written after the data it covers
  // and synced in durable mode.
  if (options_.fsync_on_flush) {
    if (auto ec = (*f)->sync()) return ec;
    if (created) {
      if (auto ec = fs_->sync_directory(layout::index_dir(options_.directory))) return ec;
    }
  }
  checkpoint_count_ = count;
  return {};
}

// Reads and checks $all entries from `from` on, appending the valid ones to
// `tail`; stops at the first entry that is missing, damaged or whose record is
// not complete. Returns the first position not accepted. A failed read is an
// error, never the end of the log.
result<std::uint64_t> store_impl::scan_all_tail(std::uint64_t from, std::vector<format::all_entry>& tail) {
  const std::string path = layout::all_index(options_.directory);
  auto f = files_.get(path);
  if (!f) return read_error(f.error(), path, 0);
  std::vector<std::byte> chunk(scan_chunk_entries * format::all_entry_size);
  std::vector<std::byte> record;
  std::uint64_t position = from;
  for (;;) {
    const std::uint64_t chunk_at = format::file_header_size + position * format::all_entry_size;
    auto n = (*f)->file->read_at(chunk_at, chunk);
    if (!n) return read_error(n.error(), path, chunk_at);
    const std::size_t entries = *n / format::all_entry_size;
    for (std::size_t i = 0; i < entries; ++i, ++position) {
      auto e = format::decode_all_entry(
          std::span(chunk).subspan(i * format::all_entry_size, format::all_entry_size));
      if (!e) return position;
      const stream_state* s = registry_.by_id(e->stream_id);
      if (s == nullptr) return position;
      auto part = files_.get(s->partition_path);
      if (!part) {
        // The flush that creates a stream writes its $all entries before its
        // partition: only a stream created after `from` may lack one.
        if (part.error() == boost::system::errc::no_such_file_or_directory) {
          if (s->first_position >= from) return position;
          return corruption("partition missing for a stream with committed events",
                            relative(s->partition_path), 0);
        }
        return read_error(part.error(), s->partition_path, e->offset);
      }
      record.resize(e->size);
      auto got = (*part)->file->read_at(e->offset, record);
      if (!got) return read_error(got.error(), s->partition_path, e->offset);
      if (*got != e->size) return position;
      format::decoded_record r;
      if (format::decode_record(record, r) != format::decode_status::ok || r.size != e->size ||
          r.stored_crc != e->record_crc || r.fields.position != position || r.fields.version != e->version ||
          r.fields.commit_end != e->commit_end) {
        return position;
      }
      tail.push_back(*e);
    }
    if (entries < scan_chunk_entries) return position;
  }
}

result<void> store_impl::recover() {
  auto cp = read_checkpoint();
  if (!cp) return cp.error();
  if (options_.read_only) {
    journal_end_ = cp->journal_offset;
  } else if (auto r = replay_journal(cp->journal_offset, cp->all_count); !r) {
    return r;
  }
  if (auto r = read_catalog(); !r) return r;
  if (auto r = check_catalog_against(*cp); !r) return r;
  // The writer's published head counts acknowledged appends (durable mode:
  // fdatasynced in the journal, which replay has just rewritten).
  auto head = read_head();
  if (!head) return head.error();
  if (catalog_damage_ && catalog_damage_->next_first_position < std::max(cp->all_count, head->value_or(0))) {
    return corruption("damaged catalog record before the record of an acknowledged stream",
                      relative(layout::catalog(options_.directory)), catalog_damage_->offset);
  }
  std::vector<format::all_entry> tail;
  auto scanned = scan_all_tail(cp->all_count, tail);
  if (!scanned) return scanned.error();
  std::uint64_t end = *scanned;
  if (options_.read_only) {
    // A follower never publishes past what the writer acknowledged.
    if (*head) end = std::max(cp->all_count, std::min(end, **head));
  }
  while (end > cp->all_count && !tail[end - cp->all_count - 1].commit_end)
    --end;  // all or nothing per append
  tail.resize(end - cp->all_count);
  if (options_.read_only) {
    // A reader cannot repair: it publishes only what every index already shows.
    auto usable = indexed_prefix(cp->all_count, tail);
    if (!usable) return usable.error();
    all_count_.store(*usable, std::memory_order_release);
    return {};
  }
  all_count_.store(end, std::memory_order_release);
  next_position_ = end;
  auto plan = plan_repair(end, tail, cp->all_count);
  if (!plan) return plan.error();
  if (auto r = cut_uncommitted_streams(*plan); !r) return r;
  checkpoint_stream_count_ = registry_.size();
  return repair_tail(*plan, tail);
}

}  // namespace evstore::detail
