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
//   * A writer then repairs: cuts the $all tail, rewrites the tail's stream
//     index entries (which may have been lost), cuts partitions and indexes of
//     streams the lost tail touched, syncs all of it (directories too), and
//     only then writes a new checkpoint.
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
#include <set>

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
    for (std::uint64_t j = at + 1; j < bytes.size(); ++j) {
      format::catalog_record later;
      std::uint32_t later_size = 0;
      if (format::decode_catalog_record(std::span(bytes).subspan(j), later, later_size) ==
          format::decode_status::ok) {
        catalog_damage_ = catalog_damage{catalog_end_ + at, later.first_position};
        break;
      }
    }
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

// Everything the writer's repair reads, before it writes anything: the $all
// bytes after the committed end, the stream index headers of the accepted
// tail, the committed ends of the streams the lost tail touched, and a handle
// on every file it will change or sync.
result<recovery_plan> store_impl::plan_repair(std::uint64_t committed,
                                              const std::vector<format::all_entry>& tail,
                                              std::uint64_t checkpoint_count) {
  recovery_plan plan;
  plan.committed = committed;
  plan.checkpoint_count = checkpoint_count;
  // Catalog records are written by the flush that creates their stream; when
  // recovery cuts that flush, the record goes too (records are in creation
  // order, so they are the catalog's tail).
  plan.keep_streams = registry_.size();
  while (plan.keep_streams > 0 && registry_.by_id(plan.keep_streams - 1)->first_position >= committed) {
    --plan.keep_streams;
  }
  auto hold = [&](const std::string& path) -> result<bool> {
    if (plan.files.count(path)) return true;
    auto f = files_.get(path);
    if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return false;
    if (!f) return read_error(f.error(), path, 0);
    plan.files.emplace(path, *f);
    return true;
  };
  for (const std::string& path :
       {layout::catalog(options_.directory), layout::all_index(options_.directory)}) {
    auto held = hold(path);
    if (!held) return held.error();
    if (!*held) return corruption("file missing", relative(path), 0);
  }

  // 1. Streams touched by whatever lies after the committed end of $all.
  const std::string all_path = layout::all_index(options_.directory);
  cached_file& all = *plan.files.at(all_path);
  const std::uint64_t cut_at = format::file_header_size + committed * format::all_entry_size;
  if (all.allocated > cut_at) {
    std::vector<std::byte> rest(all.allocated - cut_at);
    auto n = all.file->read_at(cut_at, rest);
    if (!n) return read_error(n.error(), all_path, cut_at);
    rest.resize(*n);
    if (!format::all_zero(rest)) {
      plan.cut_all = true;
      for (std::size_t i = 0; i + format::all_entry_size <= rest.size(); i += format::all_entry_size) {
        if (auto e = format::decode_all_entry(std::span(rest).subspan(i, format::all_entry_size))) {
          if (e->stream_id < plan.keep_streams) plan.dirty.insert(e->stream_id);  // cut streams are gone
        }
      }
    }
  }

  // 2. The stream index files of the verified tail, whose entries are rewritten.
  for (const format::all_entry& e : tail) {
    if (plan.touched.count(e.stream_id)) continue;
    plan.touched.insert(e.stream_id);
    const stream_state& s = *registry_.by_id(e.stream_id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      auto held = hold(path);
      if (!held) return held.error();
      if (!*held && path == s.partition_path) {
        return corruption("partition missing for a stream with committed events", relative(path), 0);
      }
    }
    std::array<std::byte, format::file_header_size> header{};
    bool header_ok = false;
    if (auto it = plan.files.find(s.index_path); it != plan.files.end()) {
      auto n = it->second->file->read_at(0, header);
      if (!n) return read_error(n.error(), s.index_path, 0);
      header_ok = *n == header.size() && format::decode_file_header(header, format::file_kind::stream_index);
    }
    if (!header_ok) {
      // Only a stream created within the tail may lack its index file.
      if (e.version != 0) return corruption("stream index missing or damaged", relative(s.index_path), 0);
      plan.create_index.insert(e.stream_id);
    }
  }

  // 3. The committed ends the streams the lost tail touched are cut back to:
  //    from the accepted tail where it holds their last event, else from their
  //    index (which the tail does not change).
  for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
    if (plan.ends.count(it->stream_id) == 0)
      plan.ends.emplace(it->stream_id, std::pair{it->offset + it->size, it->version + 1});
  }
  for (std::uint32_t id : plan.dirty) {
    stream_state& s = *registry_.by_id(id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      if (auto held = hold(path); !held) return held.error();
    }
    if (plan.ends.count(id)) continue;
    if (auto r = ensure_loaded(s); !r) return r.error();
    plan.ends.emplace(id, std::pair{s.committed_end, s.committed_count.load()});
  }
  return plan;
}

// Removes the files of streams whose catalog records recovery cuts, then the
// records (and any torn garbage after the last one). Files first: a crash in
// between leaves records whose streams have no files, a torn tail the next
// open cuts; the other order would leave files no record names, which a new
// stream of the same name would find, or repair would trust.
result<void> store_impl::cut_uncommitted_streams(const recovery_plan& plan) {
  const std::uint32_t keep = plan.keep_streams;
  if (keep == registry_.size() && !catalog_torn_) return {};
  std::set<std::string> dirs;
  for (std::uint32_t id = keep; id < registry_.size(); ++id) {
    const stream_state& s = *registry_.by_id(id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      files_.erase(path);
      if (auto ec = fs_->remove(path); ec && ec != boost::system::errc::no_such_file_or_directory) {
        return error(ec, "removing " + relative(path));
      }
      dirs.insert(layout::parent(path));
    }
  }
  for (const std::string& d : dirs) {
    // A long name's sub-directory the crash came before holds nothing to sync.
    if (auto ec = fs_->sync_directory(d); ec && ec != boost::system::errc::no_such_file_or_directory) {
      return error(ec, d);
    }
  }
  const std::string path = layout::catalog(options_.directory);
  cached_file& f = *plan.files.at(path);
  const std::uint64_t at = keep < registry_.size() ? catalog_offsets_[keep] : catalog_end_;
  if (auto ec = f.file->truncate(at)) return error(ec, path);
  if (auto ec = f.file->sync()) return error(ec, path);
  f.allocated = at;
  catalog_end_ = at;
  catalog_torn_ = false;
  catalog_offsets_.resize(keep);
  registry_.truncate(keep);
  return {};
}

result<void> store_impl::repair_tail(const recovery_plan& plan, const std::vector<format::all_entry>& tail) {
  // 1. Cut whatever lies after the committed end of $all.
  const std::string all_path = layout::all_index(options_.directory);
  cached_file& all = *plan.files.at(all_path);
  if (plan.cut_all) {
    const std::uint64_t cut_at = format::file_header_size + plan.committed * format::all_entry_size;
    if (auto ec = all.file->truncate(cut_at)) return error(ec, all_path);
    if (auto ec = all.file->sync()) return error(ec, all_path);
    all.allocated = cut_at;
  }

  // 2. Rewrite the stream index entries of the verified tail: a flush writes
  //    them last, so they are the part of a committed append most likely lost.
  // The files written or synced below: held since planning (the cache may have
  // closed them since; reopening would read after writing), or created here.
  std::map<std::string, std::shared_ptr<cached_file>> files = plan.files;
  for (std::uint32_t id : plan.create_index) {
    stream_state& s = *registry_.by_id(id);
    auto f = files_.create(s.index_path);
    if (!f) return error(f.error(), s.index_path);
    files[s.index_path] = *f;
    std::array<std::byte, format::file_header_size> header{};
    format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, s.id, s.name},
                               header);
    if (auto ec = (*f)->file->write_at(0, header)) return error(ec, s.index_path);
    (*f)->note_written(header.size());
  }
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const format::all_entry& e = tail[i];
    const stream_state& s = *registry_.by_id(e.stream_id);
    cached_file& f = *files.at(s.index_path);
    std::array<std::byte, format::stream_entry_size> entry{};
    format::encode_stream_entry({e.offset, plan.checkpoint_count + i, e.size}, entry);
    const std::uint64_t entry_at = format::file_header_size + e.version * format::stream_entry_size;
    if (auto ec = f.file->write_at(entry_at, entry)) return error(ec, s.index_path);
    f.note_written(entry_at + entry.size());
  }

  // 3. Cut partitions and indexes of streams the lost tail touched back to their
  //    committed ends, so no stale record outlives recovery there; the streams
  //    of the tail are loaded from it.
  for (const auto& [id, end] : plan.ends) {
    stream_state& s = *registry_.by_id(id);
    const auto [committed_end, count] = end;
    if (plan.dirty.count(id)) {
      for (const auto& [path, size] :
           {std::pair{s.partition_path, committed_end},
            std::pair{s.index_path, format::file_header_size + count * format::stream_entry_size}}) {
        auto it = files.find(path);
        if (it == files.end()) continue;  // never created
        if (it->second->allocated > size) {
          if (auto ec = it->second->file->truncate(size)) return error(ec, path);
          it->second->allocated = size;
        }
      }
    }
    if (!s.loaded.load(std::memory_order_acquire)) {
      s.committed_end = committed_end;
      s.committed_count.store(count, std::memory_order_release);
      s.loaded.store(true, std::memory_order_release);
    }
  }

  // 4. Make all of it durable, the directory entries of files the interrupted
  //    flush created included, before a checkpoint promises it.
  if (plan.committed == plan.checkpoint_count && plan.dirty.empty()) return {};
  std::set<std::string> dirs = {options_.directory, layout::streams_dir(options_.directory),
                                layout::index_dir(options_.directory)};
  for (const auto& [path, f] : files) {
    if (auto ec = f->file->sync()) return error(ec, "syncing the repaired " + relative(path));
    for (std::string d = layout::parent(path); d.size() > options_.directory.size(); d = layout::parent(d)) {
      dirs.insert(d);
    }
  }
  for (const std::string& d : dirs) {
    if (auto ec = fs_->sync_directory(d)) return error(ec, "syncing the repaired tail: " + d);
  }
  if (auto ec = write_checkpoint(plan.committed, journal_end_)) {
    return error(ec, layout::checkpoint(options_.directory));
  }
  return {};
}

}  // namespace evstore::detail
