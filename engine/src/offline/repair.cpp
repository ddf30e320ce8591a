// Offline repair (repair.hpp): the partitions are the truth, the catalog,
// $all and the stream indexes are rebuilt from them, derived state is reset.
//
// Steps:
//   1. Open the store read-only and count the valid $all entries past the end
//      it recovers: a writer's open would cut them as a torn tail, so if there
//      are any, go to step 2. Else open the store normally (or, for a dry
//      run, read-only) and verify it: clean means nothing to repair. A
//      writer's open also replays the journal.
//   2. Take the writer lock. A real repair replays the journal frames after the
//      checkpoint once more (idempotent: in case the open failed before doing
//      so); a dry run lays them over the files it reads instead.
//   3. Walk every partition's records. A damaged record is skipped: the walk
//      resumes at the next intact record, found by its framing and checksum.
//   3b. Salvage (repair_lost.hpp): every position below the checkpoint that no
//      intact record holds was an acknowledged event; the one it belonged to
//      gets a "$lost" placeholder at its version and position.
//   3c. Cut $all at the first position still held by nothing (past the
//      checkpoint: a torn tail), and back to the start of an append that would
//      be cut in part there.
//   4. Copy damaged and cut bytes to lost+found; rewrite the partitions that
//      gained placeholders or lost damaged bytes, truncate the others; rewrite
//      indexes and catalog, remove checkpoint, head, journal and links, sync,
//      write a checkpoint.
//   5. Release the lock, open and verify again.
//
// The job's state and its steps' files: repair_job.hpp.

#include "format/format.hpp"
#include "format/layout.hpp"
#include "io/io_util.hpp"
#include "journal/journal_reader.hpp"
#include "offline/repair_job.hpp"
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/io_context.hpp>

#include <string>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

// --- 1. Does a normal open give a clean store?

// A writer's open takes everything from the first $all entry past the
// checkpoint that does not match its record for a torn write and cuts it, in
// every stream. Damage there is no torn write (and without a checkpoint all
// of $all is past it): counted first, read-only, so that the walk keeps the
// intact events after the damage rather than the open cutting them.
result<std::uint64_t> repair_job::entries_an_open_would_cut() {
  std::uint64_t end = 0;
  {
    boost::asio::io_context io;
    auto s = store::open(io.get_executor(), {.directory = dir_,
                                             .read_only = true,
                                             .file_system = fs_,
                                             .consumer_directory = layout::join(dir_, "consumers"),
                                             .follow = false});
    if (!s) return 0;  // opens_clean() says why
    end = s->event_count();
  }
  auto all = source::open(*fs_, layout::all_index(dir_), {});
  if (!all) return 0;
  std::uint64_t count = 0;
  std::vector<std::byte> buf(read_window / format::all_entry_size * format::all_entry_size);
  for (std::uint64_t at = format::file_header_size + end * format::all_entry_size; at < all->size();
       at += buf.size()) {
    auto n = all->read(at, buf);
    if (!n) return error(n.error().code, layout::all_index(dir_));
    for (std::size_t i = 0; i + format::all_entry_size <= *n; i += format::all_entry_size) {
      count += format::decode_all_entry(std::span(buf).subspan(i, format::all_entry_size)).has_value();
    }
  }
  return count;
}

namespace {

// A failed read is no damage: repairing around it would cut what could not be
// read. A missing file is damage (repair rebuilds what it can without it).
bool is_io_error(const boost::system::error_code& ec) {
  return ec.category() != make_error_code(errc::corrupt_data).category() &&
         ec != boost::system::errc::no_such_file_or_directory;
}

}  // namespace

result<bool> repair_job::opens_clean() {
  boost::asio::io_context io;
  auto s = store::open(io.get_executor(), {.directory = dir_,
                                           .read_only = dry(),
                                           .file_system = fs_,
                                           .consumer_directory = layout::join(dir_, "consumers"),
                                           .follow = false});
  if (!s) {
    if (s.error().code == errc::store_locked)
      return error(errc::store_locked, "a writer has " + dir_ + " open");
    if (s.error().code == errc::format_mismatch) return s.error();
    if (is_io_error(s.error().code)) return s.error();
    report_.reasons.push_back("open: " + s.error().message());
    return false;
  }
  const verify_report v = verify_store(*s);
  for (const error& e : v.damage) {
    if (is_io_error(e.code)) return e;
    report_.reasons.push_back("verify: " + e.message());
  }
  report_.events_kept = s->event_count();
  report_.streams_kept = s->stream_count();
  note_consumers_ahead(*s);
  return v.clean();
}

void repair_job::note_consumers_ahead(const store& s) {
  report_.consumers_ahead.clear();
  auto consumers = s.list_consumers();
  if (!consumers) return;
  for (const consumer_info& c : *consumers) {
    std::uint64_t end = 0;
    if (c.stream == "$all") {
      end = s.event_count();
    } else if (auto v = s.stream_version(c.stream); v && !c.stream.starts_with('$')) {
      end = *v ? **v + 1 : 0;
    } else {
      continue;  // read and system streams are re-linked from $all after the repair
    }
    if (c.position > end) report_.consumers_ahead.push_back({c.stream, c.name, c.position, end});
  }
}

result<void> repair_job::take_lock() {
  auto lock = fs_->lock(layout::lock_file(dir_));
  if (!lock) {
    if (lock.error() == errc::store_locked)
      return error(errc::store_locked, "a writer has " + dir_ + " open");
    return error(lock.error(), layout::lock_file(dir_));
  }
  lock_ = std::move(*lock);
  return {};
}

// --- 2. The journal

result<overlay> repair_job::read_journal() {
  overlay ov;
  const std::string path = layout::journal(dir_);
  format::checkpoint cp{};
  if (fs_->exists(layout::checkpoint(dir_))) {
    auto f = fs_->open(layout::checkpoint(dir_), open_mode::read_only);
    if (!f) return error(f.error(), layout::checkpoint(dir_));
    auto bytes = detail::read_all(**f);
    if (!bytes) return error(bytes.error(), layout::checkpoint(dir_));
    if (auto decoded = format::decode_checkpoint_file(*bytes)) {
      cp = *decoded;
      checkpoint_count_ = cp.all_count;
    }
  }
  if (cp.journal_offset == 0 || !fs_->exists(path)) return ov;
  auto f = fs_->open(path, open_mode::read_only);
  if (!f) return error(f.error(), path);
  auto walk = detail::collect_journal(**f, path, dir_, cp.journal_offset, cp.all_count, ov);
  if (!walk) return walk.error();
  if (walk->damage) {
    // Offset 0 is the file header (frames start after it): then no frame is replayed.
    damage(path, walk->damage->offset,
           walk->damage->what + (walk->damage->offset == 0 ? ": its frames cannot be replayed"
                                                           : ": frames from here on are not replayed"));
  }
  return ov;
}

// Replays the frames as recovery does: same bytes at the same offsets.
result<void> repair_job::apply_journal(const overlay& ov) {
  for (const auto& [path, writes] : ov) {
    if (auto ec = fs_->create_directories(layout::parent(path))) return error(ec, layout::parent(path));
    auto f = fs_->open(path, open_mode::read_write_create);
    if (!f) return error(f.error(), path);
    for (const overlay_write& w : writes) {
      if (auto ec = (*f)->write_at(w.offset, w.data)) return error(ec, path);
    }
    if (auto ec = (*f)->sync()) return error(ec, path);
    note_dirs(path);
  }
  return sync_directories();
}

// --- The whole job

result<repair_report> repair_job::run() {
  if (!fs_->exists(layout::store_json(dir_)))
    return error(errc::invalid_argument, "no evstore store in " + dir_);
  if (dry()) {
    if (auto r = take_lock(); !r) return r.error();  // held while the store is read
  }
  auto would_cut = entries_an_open_would_cut();
  if (!would_cut) return would_cut.error();
  if (*would_cut > 0) {
    report_.reasons.push_back(
        "open: $all holds " + std::to_string(*would_cut) +
        " valid entries past the end an open recovers, which it would cut as a torn tail");
  } else if (auto clean = opens_clean(); !clean) {
    return clean.error();
  } else if (*clean) {
    return report_;
  }
  report_.needed = true;
  if (!dry()) {
    if (auto r = take_lock(); !r) return r.error();
  }
  auto ov = read_journal();
  if (!ov) return ov.error();
  if (!dry() && !ov->empty()) {
    if (auto r = apply_journal(*ov); !r) return r.error();
    ov->clear();
  }
  if (fs_->exists(layout::streams_dir(dir_))) {
    if (auto r = find_partitions(layout::streams_dir(dir_), *ov); !r) return r.error();
  }
  for (const partition& p : parts_) {
    auto src = source::open(*fs_, p.path, *ov);
    if (src) total_bytes_ += src->size();
  }
  for (partition& p : parts_) {
    if (auto r = scan(p, *ov); !r) return r.error();
  }
  if (progress_) progress_(total_bytes_, total_bytes_);
  if (auto r = read_catalog(); !r) return r.error();
  if (auto r = assign_ids(); !r) return r.error();
  if (auto r = salvage(*ov); !r) return r.error();
  cut();
  report_drops();
  if (auto r = rewrite(); !r) return r.error();
  if (dry()) return report_;
  lock_.reset();
  repair_report out = report_;
  auto after = opens_clean();
  if (!after) return after.error();
  out.verified = *after;
  out.consumers_ahead = report_.consumers_ahead;
  for (std::size_t i = out.reasons.size(); i < report_.reasons.size(); ++i) {
    out.reasons.push_back("after repair, " + report_.reasons[i]);
  }
  return out;
}

}  // namespace evstore::detail::repair

namespace evstore {

[[nodiscard]] result<repair_report> repair_store(const std::string& directory, const repair_options& options,
                                                 const repair_progress& progress) {
  return detail::repair::repair_job(directory, options, progress).run();
}

}  // namespace evstore
