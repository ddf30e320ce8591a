// Opening and recovery. Cost: the catalog, the checkpoint and the $all
// entries written after the last checkpoint (bounded by
// store_options::checkpoint_interval) — never the number of events. Streams
// load lazily, with a binary search over their index checked against $all.
//
// Recovery policy (the explicit choice ARCHITECTURE.md asks for):
//   * $all is the commit log. Entries after the checkpoint are accepted while
//     each decodes, names a known stream and matches a complete, checksummed
//     record at the position it claims; the first that does not ends the log.
//   * The end is then moved back to the last complete commit, so an append is
//     all or nothing.
//   * Catalog records of streams whose first event lies beyond that end belong
//     to a flush that never completed: they are cut.
//   * A writer then repairs: cuts the $all tail, rewrites the tail's stream
//     index entries (which may have been lost), cuts partitions and indexes of
//     streams the lost tail touched, syncs all of it (directories too), and
//     only then writes a new checkpoint.
//   * In durable mode the journal frames written since the checkpoint are
//     replayed first (journal.cpp), which restores every acknowledged flush.
//   * Damage before the checkpoint is not a torn write: it is reported as
//     corrupt_data (file and offset) when read, and by `evstore verify`.
#include "io_util.hpp"
#include "layout.hpp"
#include "store_impl.hpp"
#include "stream_name.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <set>

namespace evstore::detail {
namespace {

constexpr std::size_t scan_chunk_entries = 4096;

}  // namespace

result<void> store_impl::prepare_directory() {
  const std::string& dir = options_.directory;
  if (dir.empty()) return error(errc::invalid_argument, "store_options::directory is empty");
  if (options_.read_only) {
    if (!fs_->exists(layout::store_json(dir))) return error(errc::invalid_argument, "no evstore store in " + dir);
  } else {
    for (const auto& d : {dir, layout::streams_dir(dir), layout::index_dir(dir)}) {
      if (auto ec = fs_->create_directories(d)) return error(ec, "cannot create " + d);
    }
    auto lock = fs_->lock(layout::lock_file(dir));
    if (!lock) {
      return error(lock.error(), lock.error() == errc::store_locked ? "another process writes " + dir
                                                                     : "cannot lock " + layout::lock_file(dir));
    }
    lock_ = std::move(*lock);
  }

  const std::string meta_path = layout::store_json(dir);
  if (!fs_->exists(meta_path)) {
    // A new store: the index files first, store.json last, so that a store.json
    // always means a complete skeleton.
    std::array<std::byte, format::file_header_size> header{};
    const std::pair<std::string, format::file_kind> files[] = {
        {layout::all_index(dir), format::file_kind::all_index}, {layout::catalog(dir), format::file_kind::catalog}};
    for (const auto& [path, kind] : files) {
      format::encode_file_header({kind, kind == format::file_kind::all_index ? std::uint32_t{format::all_entry_size} : 0u,
                                  0, {}},
                                 header);
      auto f = fs_->open(path, open_mode::read_write_create);
      if (!f) return error(f.error(), "cannot create " + path);
      if (auto ec = (*f)->truncate(0)) return error(ec, path);
      if (auto ec = (*f)->write_at(0, header)) return error(ec, path);
      if (auto ec = (*f)->sync()) return error(ec, path);
    }
    if (auto ec = fs_->sync_directory(layout::index_dir(dir))) return error(ec, layout::index_dir(dir));
    return write_store_json();
  }
  auto f = fs_->open(meta_path, open_mode::read_only);
  if (!f) return error(f.error(), "cannot open " + meta_path);
  auto text = read_all(**f);
  if (!text) return error(text.error(), meta_path);
  boost::system::error_code ec;
  const boost::json::value meta = boost::json::parse(to_string_view(*text), ec);
  const auto* obj = meta.if_object();
  if (ec || obj == nullptr || !obj->contains("version") || !(*obj).at("version").is_int64() ||
      (*obj).at("version").as_int64() != format::format_version) {
    return error(errc::format_mismatch, meta_path + " does not describe an evstore store of format version 1");
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
  if (!f) return error(f.error(), "cannot open " + path);
  file& cat = *(*f)->file;
  if (catalog_end_ <= format::file_header_size) {
    std::array<std::byte, format::file_header_size> header{};
    auto n = cat.read_at(0, header);
    if (!n) return error(n.error(), path);
    if (*n != header.size() || !format::decode_file_header(header, format::file_kind::catalog)) {
      return corruption("bad file header", relative(path), 0);
    }
    catalog_end_ = format::file_header_size;
  }
  auto size = cat.size();
  if (!size) return error(size.error(), path);
  if (*size <= catalog_end_) return {};
  std::vector<std::byte> bytes(*size - catalog_end_);
  auto n = cat.read_at(catalog_end_, bytes);
  if (!n) return error(n.error(), path);
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
  const bool garbage = at < bytes.size() && !format::all_zero(std::span(bytes).subspan(at));
  catalog_end_ += at;
  if (!options_.read_only && garbage) {
    if (auto ec = cat.truncate(catalog_end_)) return error(ec, path);
    if (auto ec = cat.sync()) return error(ec, path);
    (*f)->allocated = catalog_end_;
  }
  return {};
}

result<format::checkpoint> store_impl::read_checkpoint() {
  const std::string path = layout::checkpoint(options_.directory);
  format::checkpoint best{};
  if (!fs_->exists(path)) return best;
  auto f = fs_->open(path, open_mode::read_only);
  if (!f) return error(f.error(), path);
  auto bytes = read_all(**f);
  if (!bytes) return error(bytes.error(), path);
  best = format::decode_checkpoint_file(*bytes).value_or(best);
  checkpoint_sequence_ = best.sequence;
  checkpoint_count_ = best.all_count;
  return best;
}

result<void> store_impl::check_catalog_against(const format::checkpoint& cp) {
  if (cp.stream_count > registry_.size()) {
    return corruption("catalog has " + std::to_string(registry_.size()) + " streams, the checkpoint promises " +
                          std::to_string(cp.stream_count),
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

boost::system::error_code store_impl::sync_paths(const std::set<std::string>& files, const std::set<std::string>& dirs) {
  for (const std::string& path : files) {
    auto f = files_.get(path);
    if (!f) {
      if (f.error() == boost::system::errc::no_such_file_or_directory) continue;
      return f.error();
    }
    if (auto ec = (*f)->file->sync()) return ec;
  }
  for (const std::string& dir : dirs) {
    if (auto ec = fs_->sync_directory(dir)) return ec;
  }
  return {};
}


// Reads and checks $all entries from `from` on, appending the valid ones to
// `tail`; stops at the first entry that is missing, damaged or whose record is
// not complete. Returns the first position not accepted.
result<std::uint64_t> store_impl::scan_all_tail(std::uint64_t from, std::vector<format::all_entry>& tail) {
  const std::string path = layout::all_index(options_.directory);
  auto f = files_.get(path);
  if (!f) return error(f.error(), path);
  std::vector<std::byte> chunk(scan_chunk_entries * format::all_entry_size);
  std::vector<std::byte> record;
  std::uint64_t position = from;
  for (;;) {
    auto n = (*f)->file->read_at(format::file_header_size + position * format::all_entry_size, chunk);
    if (!n) return error(n.error(), path);
    const std::size_t entries = *n / format::all_entry_size;
    for (std::size_t i = 0; i < entries; ++i, ++position) {
      auto e = format::decode_all_entry(std::span(chunk).subspan(i * format::all_entry_size, format::all_entry_size));
      if (!e) return position;
      const stream_state* s = registry_.by_id(e->stream_id);
      if (s == nullptr) return position;
      auto part = files_.get(s->partition_path);
      if (!part) return position;
      record.resize(e->size);
      auto got = (*part)->file->read_at(e->offset, record);
      if (!got || *got != e->size) return position;
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
  std::vector<format::all_entry> tail;
  auto scanned = scan_all_tail(cp->all_count, tail);
  if (!scanned) return scanned.error();
  std::uint64_t end = *scanned;
  if (options_.read_only) {
    // A follower never publishes past what the writer acknowledged.
    if (const auto head = read_head()) end = std::max(cp->all_count, std::min(end, *head));
  }
  while (end > cp->all_count && !tail[end - cp->all_count - 1].commit_end) --end;  // all or nothing per append
  tail.resize(end - cp->all_count);
  if (options_.read_only) {
    // A reader cannot repair: it publishes only what every index already shows.
    const std::uint64_t usable = indexed_prefix(cp->all_count, tail);
    all_count_.store(usable, std::memory_order_release);
    return {};
  }
  all_count_.store(end, std::memory_order_release);
  next_position_ = end;
  auto catalog_cut = cut_uncommitted_streams(end);
  if (!catalog_cut) return catalog_cut;
  checkpoint_stream_count_ = registry_.size();
  return repair_tail(end, tail, cp->all_count);
}

// Catalog records are written by the flush that creates their stream; when
// recovery cut that flush, the record goes too (records are in creation order,
// so they are the catalog's tail).
result<void> store_impl::cut_uncommitted_streams(std::uint64_t committed) {
  std::uint32_t keep = registry_.size();
  while (keep > 0 && registry_.by_id(keep - 1)->first_position >= committed) --keep;
  if (keep == registry_.size()) return {};
  const std::string path = layout::catalog(options_.directory);
  auto f = files_.get(path);
  if (!f) return error(f.error(), path);
  const std::uint64_t at = catalog_offsets_[keep];
  if (auto ec = (*f)->file->truncate(at)) return error(ec, path);
  if (auto ec = (*f)->file->sync()) return error(ec, path);
  (*f)->allocated = at;
  catalog_end_ = at;
  catalog_offsets_.resize(keep);
  registry_.truncate(keep);
  return {};
}

result<void> store_impl::repair_tail(std::uint64_t committed, const std::vector<format::all_entry>& tail,
                                     std::uint64_t checkpoint_count) {
  const std::string all_path = layout::all_index(options_.directory);
  auto all = files_.get(all_path);
  if (!all) return error(all.error(), all_path);

  // 1. Streams touched by whatever lies after the committed end of $all, then cut it.
  std::set<std::uint32_t> dirty;
  const std::uint64_t cut_at = format::file_header_size + committed * format::all_entry_size;
  if ((*all)->allocated > cut_at) {
    std::vector<std::byte> rest((*all)->allocated - cut_at);
    auto n = (*all)->file->read_at(cut_at, rest);
    if (!n) return error(n.error(), all_path);
    rest.resize(*n);
    if (!format::all_zero(rest)) {
      for (std::size_t i = 0; i + format::all_entry_size <= rest.size(); i += format::all_entry_size) {
        if (auto e = format::decode_all_entry(std::span(rest).subspan(i, format::all_entry_size))) {
          if (e->stream_id < registry_.size()) dirty.insert(e->stream_id);  // cut streams are gone
        }
      }
      if (auto ec = (*all)->file->truncate(cut_at)) return error(ec, all_path);
      if (auto ec = (*all)->file->sync()) return error(ec, all_path);
      (*all)->allocated = cut_at;
    }
  }

  // 2. Rewrite the stream index entries of the verified tail: a flush writes
  //    them last, so they are the part of a committed append most likely lost.
  std::set<std::uint32_t> touched;
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const format::all_entry& e = tail[i];
    stream_state* s = registry_.by_id(e.stream_id);
    auto f = files_.get(s->index_path);
    std::array<std::byte, format::file_header_size> header{};
    bool header_ok = false;
    if (f) {
      auto n = (*f)->file->read_at(0, header);
      header_ok = n && *n == header.size() && format::decode_file_header(header, format::file_kind::stream_index);
    }
    if (!header_ok) {
      // Only a stream created within the tail may lack its index file.
      if (touched.count(e.stream_id) == 0 && e.version != 0) {
        return corruption("stream index missing or damaged", relative(s->index_path), 0);
      }
      if (touched.count(e.stream_id) == 0) {
        f = files_.create(s->index_path);
        if (!f) return error(f.error(), s->index_path);
        format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, s->id, s->name},
                                   header);
        if (auto ec = (*f)->file->write_at(0, header)) return error(ec, s->index_path);
        (*f)->note_written(header.size());
      }
    }
    std::array<std::byte, format::stream_entry_size> entry{};
    format::encode_stream_entry({e.offset, checkpoint_count + i, e.size}, entry);
    const std::uint64_t entry_at = format::file_header_size + e.version * format::stream_entry_size;
    if (auto ec = (*f)->file->write_at(entry_at, entry)) return error(ec, s->index_path);
    (*f)->note_written(entry_at + entry.size());
    touched.insert(e.stream_id);
  }

  // 3. Cut partitions and indexes of streams the lost tail touched back to their
  //    committed ends, so no stale record outlives recovery there.
  for (std::uint32_t id : dirty) touched.insert(id);
  for (std::uint32_t id : touched) {
    stream_state& s = *registry_.by_id(id);
    if (auto r = ensure_loaded(s); !r) return r;
    const std::uint64_t count = s.committed_count.load();
    for (const auto& [path, size] : {std::pair{s.partition_path, s.committed_end},
                                     std::pair{s.index_path, format::file_header_size +
                                                                 count * format::stream_entry_size}}) {
      auto f = files_.get(path);
      if (!f) continue;  // never created
      if ((*f)->allocated > size && dirty.count(id)) {
        if (auto ec = (*f)->file->truncate(size)) return error(ec, path);
        (*f)->allocated = size;
      }
    }
  }

  // 4. Make all of it durable, the directory entries of files the interrupted
  //    flush created included, before a checkpoint promises it.
  if (committed == checkpoint_count && dirty.empty()) return {};
  std::set<std::string> files = {layout::catalog(options_.directory), layout::all_index(options_.directory)};
  std::set<std::string> dirs = {options_.directory, layout::streams_dir(options_.directory),
                                layout::index_dir(options_.directory)};
  for (std::uint32_t id : touched) {
    const stream_state& s = *registry_.by_id(id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      files.insert(path);
      for (std::string d = layout::parent(path); d.size() > options_.directory.size(); d = layout::parent(d)) {
        dirs.insert(d);
      }
    }
  }
  if (auto ec = sync_paths(files, dirs)) return error(ec, "syncing the repaired tail");
  if (auto ec = write_checkpoint(committed, journal_end_)) return error(ec, layout::checkpoint(options_.directory));
  return {};
}


}  // namespace evstore::detail
