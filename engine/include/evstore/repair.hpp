// Offline repair: salvages what damage left intact, rebuilds what derives
// from the partition logs.
//
// For a store (format 2) that fails to open, or that verify_store reports as
// damaged. The partition logs are the truth: every segment is walked record
// by record (framing, checksum, an event with its stream's name); a damaged
// record is skipped, the walk resuming at the next intact one. Every intact
// event is kept at its stream, version and position (records carry all
// three). An event lost below the acknowledged end (the checkpoint's count,
// or what the stream index's runs cover) keeps its place as a placeholder
// event of type "$lost" (data null, metadata {"lost":{"file":...,"offset":...}})
// appended to a log, so $all stays dense and no stream loses what follows;
// its stream and version come from the stream index's runs or elimination.
// Only past the acknowledged end does the first position no record holds end
// $all (an append cut in part goes whole), as an open does. Nothing is
// renumbered. Damaged and cut bytes are first copied to
// <dir>/lost+found/log/<segment>@<offset>; the logs that change are written
// anew under <dir>/repair.new and installed (a crash in between is finished
// by the next repair); then index/all.idx, the stream index, the checkpoint
// and the head are rewritten from the kept records and the links reset so the
// next open rebuilds them. docs/format.md, "Repair", has the details.
//
// Repair first opens the store normally (which cuts a torn tail past the
// checkpoint as any open does); if that works and verify_store is clean,
// nothing else is changed. It holds the writer lock while it works and
// refuses (errc::store_locked) while a writer has the store open.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace evstore {

struct repair_options {
  // Report what would be done, change nothing.
  bool dry_run = false;
  // Where the files live; default: the real file system.
  std::shared_ptr<evstore::file_system> file_system;
};

// Events of one stream that the repair drops (past the checkpoint, or after a
// lost event nothing could attribute): versions from_version onwards.
struct repair_drop {
  std::string stream;
  std::uint64_t from_version = 0;
  std::uint64_t count = 0;
  // false: damaged framing hid how many records follow; count is a lower bound.
  bool count_exact = true;
};

// An event whose record was damaged beyond reading, below the checkpoint (so
// it had been acknowledged): its place is kept by a placeholder event of type
// "$lost" (docs/format.md, "Repair"), at the same version and position.
struct repair_lost {
  std::string stream;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
};

struct repair_damage {
  std::string file;  // relative to the store directory
  std::uint64_t offset = 0;
  std::string problem;
};

// Bytes [offset, offset + size) of `from` now live in `to` (both relative).
struct repair_move {
  std::string from;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::string to;
  bool whole_file = false;  // renamed rather than copied
};

// A consumer of a write stream (or $all) whose stored position lies past the
// stream's end after the repair: new events would take the numbers it would
// skip. Repair leaves its checkpoint alone (its state still reflects the
// dropped events); the application decides where it resumes.
struct repair_consumer_ahead {
  std::string stream;
  std::string name;
  std::uint64_t position = 0;    // its stored position
  std::uint64_t stream_end = 0;  // events the stream now has
};

struct repair_report {
  bool dry_run = false;
  // false: the store opened and verified clean; nothing was changed.
  bool needed = false;
  // Why repair was needed: the open error, or what verify found.
  std::vector<std::string> reasons;
  // Intact events kept (placeholders not counted).
  std::uint64_t events_kept = 0;
  std::uint64_t events_dropped = 0;  // sum of dropped[].count
  std::uint64_t streams_kept = 0;
  // Streams left without events (every event of theirs was past the cut).
  std::vector<std::string> streams_removed;
  std::vector<repair_drop> dropped;
  // Damaged events replaced by "$lost" placeholders, in $all order.
  std::vector<repair_lost> lost;
  std::vector<repair_damage> damage;
  std::vector<repair_move> moved;
  // Files rewritten: log segments (with placeholders, or without damaged or
  // cut bytes), index/all.idx, index/manifest (and its one run), index/checkpoint.
  std::vector<std::string> rebuilt;
  // Files deleted: old segments past a rewritten log's end, runs, links and
  // their progress (the next open rebuilds the links).
  std::vector<std::string> removed;
  // After a real repair: the store opened again and verify_store found it clean.
  bool verified = false;
  std::vector<repair_consumer_ahead> consumers_ahead;
};

// progress(done, total): log segment bytes scanned.
using repair_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Errors: store_locked (a writer has the store open), invalid_argument (no
// store in `directory`), format_mismatch, I/O errors. Damage is not an error:
// it is what the report describes.
[[nodiscard]] result<repair_report> repair_store(const std::string& directory,
                                                 const repair_options& options = {},
                                                 const repair_progress& progress = {});

}  // namespace evstore
