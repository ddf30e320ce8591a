// Opening a writer: store.json, then recovery. Cost: the checkpoint, the logs
// written after it (bounded by checkpoint_interval and the memtable's bound),
// the stream index's manifest and run footers — never the number of streams
// or of events.
//
// Recovery policy (docs/architecture.md, "Recovery"):
//   * The partition logs are the commit log. Below the checkpoint everything
//     is durable. Past each log's checkpointed end, scan_partition_tail walks
//     the records a crash may have left and tells a torn tail (cut) from
//     damage to acknowledged records (corrupt_data).
//   * Records carry their $all position: the records of all partitions past
//     the checkpoint are put in position order and accepted while the
//     positions follow each other; the end then moves back to the last record
//     that ends a commit, so an append is all or nothing.
//   * A writer then cuts every log after its last accepted record, syncs the
//     accepted records (a process crash leaves them in the page cache, not on
//     the disk), rewrites $all's entries from the checkpoint on and cuts
//     $all there, and re-adds the stream index entries the index's runs do
//     not cover to its memtable.
//   * Everything is read before anything is written, so that a failed read
//     (an I/O error, corruption) fails the open and leaves the store as it was.
//   * Damage before the checkpoint is not a torn write: it is reported as
//     corrupt_data (file and offset) when read, and by `evstore verify`.
#include "format/layout.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "log/partition_scan.hpp"
#include "log/partition_truncate.hpp"
#include "log/segment_file.hpp"
#include "store/store_impl.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <span>

namespace evstore::detail {
namespace {

// A record found past a log's checkpointed end.
struct tail_record {
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::uint16_t partition = 0;
  std::uint64_t offset = 0;
  std::uint32_t size = 0;
  bool commit_end = false;
  std::string name;
};

}  // namespace

result<void> store_impl::prepare_directory() {
  const std::string& dir = options_.directory;
  if (dir.empty()) return error(errc::invalid_argument, "store_options::directory is empty");
  if (options_.read_only) {
    if (!fs_->exists(layout::store_json(dir)))
      return error(errc::invalid_argument, "no evstore store in " + dir);
  } else {
    if (auto ec = fs_->create_directories(dir)) return error(ec, "cannot create " + dir);
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
  // taking an existing store for a new one would empty it.
  auto f = fs_->open(meta_path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) {
    if (options_.read_only) return error(errc::invalid_argument, "no evstore store in " + dir);
    return create_store();
  }
  if (!f) return read_error(f.error(), meta_path, 0);
  auto text = read_all(**f);
  if (!text) return read_error(text.error(), meta_path, 0);
  auto meta = parse_store_json(to_string_view(*text), relative(meta_path));
  if (!meta) return meta.error();
  if (meta->version == 1) {
    return error(errc::format_mismatch, dir + " holds a store of format 1; this evstore reads format " +
                                            std::to_string(store_format_version) +
                                            ": convert it once with `evstore migrate " + dir + "`");
  }
  partitions_count_ = static_cast<std::uint16_t>(meta->partitions);
  geometry_.segment_size = meta->segment_size;
  // What the store has, not what was asked for (store::options() reports it).
  options_.partitions = partitions_count_;
  options_.segment_size = geometry_.segment_size;
  return {};
}

// A new store: the log and index directories, an empty $all and a first
// checkpoint, then store.json last, so that a store.json always means a
// complete skeleton.
result<void> store_impl::create_store() {
  const std::string& dir = options_.directory;
  if (options_.partitions == 0 || options_.partitions > max_partitions) {
    return error(errc::invalid_argument,
                 "store_options::partitions must be 1.." + std::to_string(max_partitions));
  }
  partitions_count_ = options_.partitions;
  geometry_.segment_size = options_.segment_size;
  if (auto ok = check_geometry(geometry_); !ok) {
    return error(errc::invalid_argument, "store_options::segment_size: " + ok.error().detail);
  }
  for (const auto& d : {log_directory(dir), layout::index_dir(dir)}) {
    if (auto ec = fs_->create_directories(d)) return error(ec, "cannot create " + d);
  }
  auto all = fs_->open(all_path(), open_mode::read_write_create);
  if (!all) return error(all.error(), "cannot create " + all_path());
  if (auto ec = (*all)->truncate(0)) return error(ec, all_path());
  if (auto ec = (*all)->sync()) return error(ec, all_path());
  format::checkpoint2 cp;
  cp.sequence = 1;
  for (std::uint16_t p = 0; p < partitions_count_; ++p) cp.ends.push_back(geometry_.records_start(0));
  std::vector<std::byte> slots(format::checkpoint2_file_size(partitions_count_));
  format::encode_checkpoint2(cp, std::span(slots).subspan(slots.size() / 2));
  const std::string cp_path = layout::checkpoint(dir);
  auto cpf = fs_->open(cp_path, open_mode::read_write_create);
  if (!cpf) return error(cpf.error(), "cannot create " + cp_path);
  if (auto ec = (*cpf)->truncate(0)) return error(ec, cp_path);
  if (auto ec = (*cpf)->write_at(0, slots)) return error(ec, cp_path);
  if (auto ec = (*cpf)->sync()) return error(ec, cp_path);
  if (auto ec = fs_->sync_directory(layout::index_dir(dir))) return error(ec, layout::index_dir(dir));
  if (auto ok =
          write_store_json(*fs_, dir, {store_format_version, partitions_count_, geometry_.segment_size});
      !ok)
    return ok.error();
  return {};
}

result<void> store_impl::recover() {
  const std::string& dir = options_.directory;
  auto cp = read_checkpoint();
  if (!cp) return cp.error();
  const std::uint64_t from = cp->all_count;

  // --- Reads: the logs past the checkpoint. A log shorter than its
  // checkpointed end lost acknowledged records: the scan from there would
  // find a clean end and hide it.
  for (std::uint16_t p = 0; p < partitions_count_; ++p) {
    auto size = short_log_file(p, cp->ends[p]);
    if (!size) return size.error();
    if (*size) {
      const std::uint64_t end = geometry_.normalize(cp->ends[p]);
      return corruption(
          "log shorter than the checkpoint's end (" + std::to_string(geometry_.in_segment(end)) + ")",
          segment_relative_path(p, geometry_.segment_of(end)), **size);
    }
  }
  const scan_options scan_with{options_.fsync_on_flush ? default_unsynced_window : unlimited_window};
  std::vector<tail_record> tail;
  std::vector<log_scan> scans(partitions_count_);
  // A log's records are in position order: one that is not past the one
  // before it (a misdirected or replayed write) ends that log as a torn
  // record does; what follows it there is cut.
  std::vector<std::uint64_t> log_end_at(partitions_count_, ~std::uint64_t{0});
  for (std::uint16_t p = 0; p < partitions_count_; ++p) {
    error bad;
    std::optional<std::uint64_t> previous;
    auto scan = scan_partition_tail(
        *fs_, dir, p, geometry_, cp->ends[p],
        [&](log_locator at, format::bytes bytes) {
          if (bad.code || log_end_at[p] != ~std::uint64_t{0}) return;
          format::decoded_record r;
          if (format::decode_record(bytes, r, format::record_names::required) != format::decode_status::ok ||
              r.kind != format::record_kind_event) {
            bad = corruption_at("record of an unknown kind or without a name",
                                segment_relative_path(p, geometry_.segment_of(at.offset)),
                                geometry_.in_segment(at.offset));
            return;
          }
          if (r.fields.position < from || (previous && r.fields.position <= *previous)) {
            log_end_at[p] = at.offset;
            return;
          }
          previous = r.fields.position;
          tail.push_back({r.fields.position, r.fields.version, p, at.offset, r.size, r.fields.commit_end,
                          std::string(r.fields.stream)});
        },
        scan_with);
    if (!scan) return scan.error();
    if (bad.code) return bad;
    scans[p] = *scan;
  }
  std::sort(tail.begin(), tail.end(),
            [](const tail_record& a, const tail_record& b) { return a.position < b.position; });
  // Accepted: consecutive positions from the checkpoint on, up to the last
  // record that ends a commit.
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < tail.size() && tail[i].position == from + i; ++i) {
    if (tail[i].commit_end) accepted = i + 1;
  }
  const std::uint64_t committed = from + accepted;
  std::vector<std::uint64_t> keep_end = cp->ends;
  for (std::size_t i = 0; i < accepted; ++i) {
    keep_end[tail[i].partition] = std::max(keep_end[tail[i].partition], tail[i].offset + tail[i].size);
  }

  // Logs whose file ends before their last accepted record (grown back below).
  std::vector<bool> short_log(partitions_count_, false);
  for (std::uint16_t p = 0; p < partitions_count_; ++p) {
    auto size = short_log_file(p, keep_end[p]);
    if (!size) return size.error();
    short_log[p] = size->has_value();
  }

  auto all = fs_->open(all_path(), open_mode::read_write);
  if (!all) return read_error(all.error(), all_path(), 0);
  auto all_size = (*all)->size();
  if (!all_size) return read_error(all_size.error(), all_path(), 0);
  if (*all_size < from * format::all_entry2_size) {
    return corruption("$all index shorter than the checkpoint's count (" + std::to_string(from) + ")",
                      relative(all_path()), *all_size);
  }
  auto index = stream_index::open(fs_, layout::index_dir(dir), {.keep_orphans = true, .cache = index_cache_});
  if (!index) return index.error();
  const std::uint64_t indexed = (*index)->durable_end();
  if (indexed > committed) {
    return corruption("the stream index covers $all up to " + std::to_string(indexed) +
                          " but the logs hold events up to " + std::to_string(committed),
                      "index/manifest", 0);
  }
  auto orphans = (*index)->orphans();
  if (!orphans) return orphans.error();
  // Stream index entries the runs do not cover: from the tail's records, and
  // (after a crash between a run and its checkpoint... the other way round)
  // from $all below the checkpoint.
  std::vector<tail_record> before;
  if (indexed < from) {
    std::vector<located_record> located(from - indexed);
    for (std::uint64_t i = 0; i < located.size(); ++i) located[i].position = indexed + i;
    if (auto ok = locate(located); !ok) return ok.error();
    page_storage storage;
    std::vector<format::decoded_record> records;
    if (auto ok = read_records(located, storage, records); !ok) return ok.error();
    for (const auto& r : records)
      before.push_back({r.fields.position, r.fields.version, 0, 0, 0, false, std::string(r.fields.stream)});
  }

  // What the writes below need opened, opened now: each log's cut, the
  // segments to grow or sync, the partition writers at the new ends.
  std::vector<std::optional<partition_cut>> cuts(partitions_count_);
  struct segment_to_sync {
    std::uint16_t partition;
    std::uint64_t segment;
    std::unique_ptr<file> handle;
  };
  std::vector<segment_to_sync> to_sync;  // those that hold accepted records past the checkpoint
  std::vector<std::unique_ptr<file>> to_fill(partitions_count_);
  std::vector<std::unique_ptr<partition_writer>> writers;
  const std::uint64_t allocate_ahead = options_.fsync_on_flush ? durable_allocate_ahead : 0;
  for (std::uint16_t p = 0; p < partitions_count_; ++p) {
    const bool beyond = scans[p].end > keep_end[p] || scans[p].how == log_end_kind::torn ||
                        log_end_at[p] != ~std::uint64_t{0};
    if (beyond) {
      auto cut = plan_partition_cut(*fs_, dir, p, geometry_, keep_end[p]);
      if (!cut) return cut.error();
      cuts[p] = std::move(*cut);
    }
    if (short_log[p]) {
      auto f = open_log_segment(p, geometry_.segment_of(geometry_.normalize(keep_end[p])));
      if (!f) return f.error();
      to_fill[p] = std::move(*f);
    }
    if (keep_end[p] > cp->ends[p]) {
      for (std::uint64_t s = geometry_.segment_of(cp->ends[p]); s <= geometry_.segment_of(keep_end[p] - 1);
           ++s) {
        auto f = open_log_segment(p, s);
        if (!f) return f.error();
        to_sync.push_back({p, s, std::move(*f)});
      }
    }
    auto w = partition_writer::attach({fs_, dir, p, geometry_, default_unsynced_window, allocate_ahead},
                                      keep_end[p]);
    if (!w) return w.error();
    writers.push_back(std::move(*w));
  }
  // The published head, which open() rewrites once recovery is done.
  if (auto ec = open_head_file(false)) return error(ec, layout::head(dir));

  // --- Writes.
  for (std::uint16_t p = 0; p < partitions_count_; ++p) {
    if (cuts[p]) {
      if (auto ok = apply_partition_cut(*fs_, dir, *cuts[p], files_.get()); !ok) return ok;
    }
    if (to_fill[p]) {
      const std::uint64_t end = geometry_.normalize(keep_end[p]);
      const std::string name = segment_relative_path(p, geometry_.segment_of(end));
      if (auto ec = to_fill[p]->truncate(geometry_.in_segment(end)))
        return io_error_at(ec, "growing", name, 0);
      if (auto ec = to_fill[p]->sync()) return io_error_at(ec, "syncing", name, 0);
    }
  }
  for (const segment_to_sync& s : to_sync) {
    if (auto ec = s.handle->sync())
      return io_error_at(ec, "syncing", segment_relative_path(s.partition, s.segment), 0);
  }
  std::vector<std::byte> entries(accepted * format::all_entry2_size);
  std::uint64_t new_streams = 0;
  for (std::size_t i = 0; i < accepted; ++i) {
    const tail_record& t = tail[i];
    format::encode_all_entry2({t.partition, t.offset, t.size, t.commit_end},
                              std::span(entries).subspan(i * format::all_entry2_size));
    if (t.version == 0) ++new_streams;
  }
  if (auto ec = (*all)->write_at(from * format::all_entry2_size, entries)) return error(ec, all_path());
  if (auto ec = (*all)->truncate(committed * format::all_entry2_size)) return error(ec, all_path());
  if (auto ec = (*all)->sync()) return error(ec, all_path());
  all_file_ = std::move(*all);

  index_ = std::move(*index);
  if (auto ok = index_->remove_orphans(*orphans); !ok) return ok;
  std::vector<stream_index::entry> additions;
  additions.reserve(before.size() + accepted);
  for (const tail_record& t : before) additions.push_back({t.name, t.version, t.position});
  for (std::size_t i = 0; i < accepted; ++i) {
    if (tail[i].position >= indexed) additions.push_back({tail[i].name, tail[i].version, tail[i].position});
  }
  index_->add_batch(additions);

  for (auto& w : writers) {
    if (auto ok = w->ready(); !ok) return ok;
    partitions_.push_back(std::move(w));
  }
  checkpoint_sequence_ = cp->sequence;
  checkpoint_count_ = from;
  checkpoint_streams_ = cp->stream_count;
  next_position_ = committed;
  stream_count_.store(cp->stream_count + new_streams, std::memory_order_release);
  all_count_.store(committed, std::memory_order_release);
  return {};
}

// The size of the file of the segment that holds log offset `end` when it is
// shorter than `end` in it; nullopt when it is long enough or `end` starts its
// segment. corrupt_data when that segment is missing or has a bad header.
// Reads only (recovery's read phase). Recovery asks it of each log's
// checkpointed end (shorter: acknowledged records lost) and of its last
// accepted record's end: a crash may leave the file short of that record when
// the bytes it lost were zeros (a record's trailing length ends in zero
// bytes); the scan reads missing bytes as zeros and accepts the record, so
// the file is grown back (recover's writes), or readers would find it short.
result<std::optional<std::uint64_t>> store_impl::short_log_file(std::uint16_t p, std::uint64_t end) {
  end = geometry_.normalize(end);
  const std::uint64_t segment = geometry_.segment_of(end);
  if (end == geometry_.records_start(segment)) return std::optional<std::uint64_t>{};
  auto opened = open_segment(*fs_, options_.directory, p, segment, geometry_, open_mode::read_only);
  if (!opened) return opened.error();
  const std::string name = segment_relative_path(p, segment);
  if (opened->what != opened_segment::state::ok)
    return corruption("segment missing or with a bad header below a log's end", name, 0);
  auto size = opened->handle->size();
  if (!size) return read_error(size.error(), name, 0);
  if (*size >= geometry_.in_segment(end)) return std::optional<std::uint64_t>{};
  return std::optional<std::uint64_t>{*size};
}

// The checkpoint's valid slot with the higher sequence (format.hpp).
result<format::checkpoint2> store_impl::read_checkpoint() const {
  const std::string path = layout::checkpoint(options_.directory);
  auto f = fs_->open(path, open_mode::read_only);
  if (!f) return read_error(f.error(), path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return read_error(bytes.error(), path, 0);
  auto cp = format::decode_checkpoint2_file(*bytes, partitions_count_);
  if (!cp) return corruption("no valid checkpoint slot", relative(path), 0);
  return std::move(*cp);
}

// A log segment below a log's end, opened for writing: it must be there
// with a good header.
result<std::unique_ptr<file>> store_impl::open_log_segment(std::uint16_t p, std::uint64_t segment) {
  auto opened = open_segment(*fs_, options_.directory, p, segment, geometry_, open_mode::read_write);
  if (!opened) return opened.error();
  if (opened->what != opened_segment::state::ok)
    return corruption_at("segment missing or with a bad header", segment_relative_path(p, segment), 0);
  return std::move(opened->handle);
}

}  // namespace evstore::detail
