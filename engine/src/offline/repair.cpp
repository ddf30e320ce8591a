// Offline repair (repair.hpp) of a store of format 2: the partition logs are
// the truth; $all, the stream index, the checkpoint and derived state are
// rebuilt from them.
//
// Steps:
//   1. Open the store normally (a dry run: read-only) and verify it: clean
//      means nothing to repair. A writer's open cuts a torn tail past the
//      checkpoint as any open does.
//   2. Take the writer lock; read store.json and the checkpoint. Lost
//      positions below the acknowledged end (the checkpoint's count, or what
//      the stream index's manifest covers if more) get placeholders.
//   3. Walk every partition log in full, segment by segment. A damaged record
//      is skipped: the walk resumes at the next intact frame (any byte offset
//      where a record's framing, checksum and decoding agree).
//   4. Salvage (repair_lost.hpp): every position below the acknowledged end
//      that no intact record holds gets a "$lost" placeholder, its stream and
//      version from the stream index's runs or elimination. $all then ends at
//      the first position still held by nothing, at a stream's version gap,
//      and (past the acknowledged end) before an append it would cut in part.
//   5. Copy damaged and dropped bytes to lost+found; write each log that
//      changes anew into repair.new/log/ and, once all are synced, the plan
//      (repair.new/plan); install them (renames over the old segments); then
//      rewrite index/all.idx, the stream index (one run), the checkpoint and
//      the head, and reset the links. A crash before the plan leaves the store
//      as it was; after it, the next repair installs the staged logs first and
//      rebuilds everything else from them.
//   6. Release the lock, open and verify again.
//
// The job's state and its steps' files: repair_job.hpp.

#include "format/format.hpp"
#include "format/layout.hpp"
#include "index/index_manifest.hpp"
#include "io/io_util.hpp"
#include "offline/repair_job.hpp"
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

std::string repair_job::path(const std::string& rel) const { return layout::join(dir_, rel); }
std::string repair_job::staging() const { return layout::join(dir_, staging_dir); }

std::uint32_t repair_job::stream_id(std::string_view name) {
  auto [it, added] = name_ids_.try_emplace(std::string(name), static_cast<std::uint32_t>(names_.size()));
  if (added) names_.emplace_back(name);
  return it->second;
}

result<void> repair_job::read_meta() {
  const std::string p = layout::store_json(dir_);
  auto f = fs_->open(p, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory)
    return error(errc::invalid_argument, "no evstore store in " + dir_);
  if (!f) return error(f.error(), p);
  auto text = read_all(**f);
  if (!text) return error(text.error(), p);
  auto meta = parse_store_json(to_string_view(*text), "store.json");
  if (!meta) return meta.error();
  if (meta->version != static_cast<std::uint32_t>(store_format_version)) {
    return error(errc::format_mismatch, dir_ + " holds a store of format " + std::to_string(meta->version) +
                                            ": convert it with `evstore migrate` first");
  }
  meta_ = *meta;
  geometry_.segment_size = meta_.segment_size;
  parts_.resize(meta_.partitions);
  return {};
}

// --- 1. Does a normal open give a clean store?

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
  // System streams off: their links are removed and re-derived by the next
  // open after a repair, and an indexer reading in the background here would
  // only race the checks below (and make their reads' order vary).
  auto s = store::open(io.get_executor(), {.directory = dir_,
                                           .read_only = dry(),
                                           .file_system = fs_,
                                           .consumer_directory = layout::join(dir_, "consumers"),
                                           .follow = false,
                                           .system_streams = false});
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

// --- 2. What was acknowledged

result<void> repair_job::read_checkpoint() {
  const std::string p = layout::checkpoint(dir_);
  auto f = fs_->open(p, open_mode::read_only);
  if (f) {
    auto bytes = read_all(**f);
    if (!bytes) return error(bytes.error(), p);
    checkpoint_ = format::decode_checkpoint2_file(*bytes, meta_.partitions);
  } else if (f.error() != boost::system::errc::no_such_file_or_directory) {
    return error(f.error(), p);
  }
  if (checkpoint_) {
    fill_below_ = std::max(fill_below_, checkpoint_->all_count);
  } else {
    damage("index/checkpoint", 0, "no valid checkpoint slot");
  }
  // Runs are written only once the events they index are durable.
  auto manifest = index_manifest::read(*fs_, layout::index_dir(dir_));
  if (manifest && *manifest) {
    for (const manifest_run& r : (*manifest)->runs) fill_below_ = std::max(fill_below_, r.end_position);
  } else if (!manifest) {
    if (is_io_error(manifest.error().code)) return manifest.error();
    damage("index/manifest", 0, manifest.error().detail);
  }
  return {};
}

// --- The whole job

result<repair_report> repair_job::run() {
  if (auto r = read_meta(); !r) return r.error();
  if (dry()) {
    if (auto r = take_lock(); !r) return r.error();  // held while the store is read
  }
  const bool interrupted = fs_->exists(layout::join(staging(), plan_name));
  if (interrupted) {
    report_.reasons.push_back("an interrupted repair left its rewritten logs in " + std::string(staging_dir) +
                              " to install");
  } else if (auto clean = opens_clean(); !clean) {
    return clean.error();
  } else if (*clean) {
    return report_;
  }
  report_.needed = true;
  report_.events_kept = 0;
  report_.streams_kept = 0;
  if (!dry()) {
    if (auto r = take_lock(); !r) return r.error();
  }
  if (interrupted) {
    if (dry()) return report_;  // what the interrupted repair decided is in the staged logs
    auto end = read_plan();
    if (!end) return end.error();
    if (auto r = install(); !r) return r.error();
    // The installed logs hold every event below the cut that repair chose.
    if (*end) fill_below_ = **end;
    resumed_ = true;
  } else {
    if (auto r = remove_staging(); !r) return r.error();  // an interrupted staging: start over
    if (auto r = read_checkpoint(); !r) return r.error();
  }
  for (std::uint32_t p = 0; p < meta_.partitions; ++p) {
    if (auto r = walk(static_cast<std::uint16_t>(p)); !r) return r.error();
  }
  if (progress_) progress_(total_bytes_, total_bytes_);
  if (auto r = salvage(); !r) return r.error();
  cut();
  report_drops();
  if (auto r = save_aside(); !r) return r.error();
  if (auto r = stage(); !r) return r.error();
  if (dry()) return report_;
  if (auto r = install(); !r) return r.error();
  if (auto r = rebuild(); !r) return r.error();
  if (auto r = remove_staging(); !r) return r.error();
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
