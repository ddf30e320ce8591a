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
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "journal/journal_reader.hpp"
#include "offline/repair_lost.hpp"
#include "offline/repair_read.hpp"
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace evstore {
namespace {

namespace format = detail::format;
namespace layout = detail::layout;
namespace repair = detail::repair;
using repair::overlay;
using repair::overlay_write;
using repair::read_window;
using repair::record_info;
using repair::source;
using repair::window;

constexpr std::string_view lost_found_dir = "lost+found";

// ---------------------------------------------------------------------------
// What the walk of one partition found.

struct partition {
  std::string path;  // absolute
  std::string rel;   // relative to the store directory
  std::string name;  // decoded from the file name
  std::uint64_t size = 0;
  std::optional<std::uint32_t> header_id;  // from a valid header naming this stream
  std::optional<std::uint32_t> id;         // the id it keeps
  bool excluded = false;                   // not part of the repaired store
  std::vector<record_info> records;        // intact records and placeholders, in version order
  std::vector<std::pair<std::uint64_t, std::uint64_t>> damaged;  // [from, to): no intact record, more follow
  std::uint64_t walk_end = format::file_header_size;             // where the walk stopped
  bool tail_damaged = false;                                     // ... on damage, not at the end of the file
  std::uint64_t framed_after = 0;                                // records counted by framing from there
  bool framed_exact = true;
  std::uint64_t keep = 0;  // records kept after the $all cut
  bool rewrite = false;    // kept records and placeholders are written to a new file
};

// ---------------------------------------------------------------------------

class repair_job {
 public:
  repair_job(std::string dir, const repair_options& o, const repair_progress& progress)
      : dir_(std::move(dir)), fs_(o.file_system ? o.file_system : posix_file_system()), progress_(progress) {
    report_.dry_run = o.dry_run;
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }

  result<repair_report> run();

 private:
  std::string rel(const std::string& path) const { return path.substr(dir_.size() + 1); }
  void damage(const std::string& path, std::uint64_t offset, std::string problem) {
    report_.damage.push_back({rel(path), offset, std::move(problem)});
  }
  bool dry() const { return report_.dry_run; }

  result<std::uint64_t> entries_an_open_would_cut();
  result<bool> opens_clean();
  void note_consumers_ahead(const store& s);
  result<void> take_lock();
  result<overlay> read_journal();
  result<void> apply_journal(const overlay& ov);
  result<void> find_partitions(const std::string& d, const overlay& ov);
  result<void> scan(partition& p, const overlay& ov);
  result<void> walk(partition& p, const source& src);
  result<void> read_catalog();
  result<void> assign_ids();
  result<std::optional<std::uint32_t>> id_from_all_index(const partition& p);
  std::uint64_t acknowledged_end() const;
  result<std::vector<repair::claim>> index_claims(const std::vector<std::uint64_t>& holes,
                                                  const std::vector<repair::stream_known>& known,
                                                  const overlay& ov);
  result<void> salvage(const overlay& ov);
  void add_placeholders(partition& p);
  void cut();
  void report_drops();
  result<void> rewrite();
  result<void> save_cut(partition& p);
  result<void> rewrite_partition(partition& p);
  result<std::string> lost_found_name(const std::string& path, std::uint64_t offset);
  result<void> copy_aside(const std::string& path, std::uint64_t offset, std::uint64_t size);
  result<void> move_aside(const std::string& path);
  result<void> write_indexes();
  result<void> write_file(const std::string& path, std::span<const std::byte> bytes);
  result<void> remove_file(const std::string& path);
  result<void> remove_derived(const std::string& d, bool links);
  result<void> sync_directories();
  result<void> write_checkpoint();
  void note_dirs(const std::string& path);

  std::string dir_;
  std::shared_ptr<file_system> fs_;
  const repair_progress& progress_;
  repair_report report_;
  std::unique_ptr<file_lock> lock_;
  std::vector<partition> parts_;
  std::map<std::string, std::uint32_t> catalog_ids_;  // from the old catalog, as far as it reads
  std::uint64_t end_ = 0;                             // the new $all count
  std::optional<std::uint64_t> checkpoint_count_;     // all_count of a valid checkpoint
  std::uint64_t fill_below_ = 0;                      // lost positions below this get placeholders
  std::uint64_t total_bytes_ = 0, scanned_bytes_ = 0;
  std::set<std::string> dirs_to_sync_;
};

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

// A failed read is no damage: repairing around it would cut what could not be
// read. A missing file is damage (repair rebuilds what it can without it).
bool is_io_error(const boost::system::error_code& ec) {
  return ec.category() != make_error_code(errc::corrupt_data).category() &&
         ec != boost::system::errc::no_such_file_or_directory;
}

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
  auto walk = detail::walk_journal(
      **f, path, cp.journal_offset, cp.all_count, [&](const format::journal_frame& frame) -> result<void> {
        for (const format::journal_op& op : frame.ops) {
          ov[layout::join(dir_, op.path)].push_back({op.offset, {op.data.begin(), op.data.end()}});
        }
        return {};
      });
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

// --- 3. Walking the partitions

// streams/ and its segment directories ("+"-suffixed), plus partitions that
// only the journal holds so far.
result<void> repair_job::find_partitions(const std::string& d, const overlay& ov) {
  auto names = fs_->list(d);
  if (!names) return error(names.error(), d);
  std::sort(names->begin(), names->end());
  const std::string top = layout::streams_dir(dir_);
  std::set<std::string> seen;
  for (const std::string& n : *names) {
    const std::string path = layout::join(d, n);
    if (n.ends_with("+")) {
      if (auto r = find_partitions(path, ov); !r) return r;
    } else if (n.ends_with(".evs")) {
      seen.insert(path);
    }
  }
  if (d == top) {
    for (const auto& [path, writes] : ov) {
      if (path.starts_with(top + "/") && path.ends_with(".evs")) seen.insert(path);
    }
  }
  for (const std::string& path : seen) {
    if (std::any_of(parts_.begin(), parts_.end(), [&](const partition& p) { return p.path == path; }))
      continue;
    const std::string encoded = path.substr(top.size() + 1, path.size() - top.size() - 1 - 4);
    auto name = detail::decode_stream_file_name(encoded);
    if (!name) {
      damage(path, 0, "not the file name of a stream: left alone");
      continue;
    }
    partition p;
    p.path = path;
    p.rel = rel(path);
    p.name = std::move(*name);
    parts_.push_back(std::move(p));
  }
  return {};
}

result<void> repair_job::scan(partition& p, const overlay& ov) {
  auto src = source::open(*fs_, p.path, ov);
  if (!src) return src.error();
  p.size = src->size();
  std::array<std::byte, format::file_header_size> header{};
  auto n = src->read(0, header);
  if (!n) return error(n.error().code, p.path);
  const auto h =
      *n == header.size() ? format::decode_file_header(header, format::file_kind::partition) : std::nullopt;
  if (h && h->name == p.name) {
    p.header_id = h->stream_id;
  } else {
    damage(p.path, 0, h ? "header names another stream: " + std::string(h->name) : "bad partition header");
  }
  return walk(p, *src);
}

// Every intact record, in order. At a bad record the walk looks for the next
// intact one: found, the bytes between are a damaged range and the walk goes
// on from there; not found, the partition ends in damage (or a torn tail).
result<void> repair_job::walk(partition& p, const source& src) {
  window w(src);
  std::uint64_t at = format::file_header_size;
  std::string problem;
  while (at < p.size) {
    auto head = w.get(at, 4);
    if (!head) return error(head.error().code, p.path);
    const std::uint32_t len = head->size() == 4 ? format::get_u32(head->data()) : 0;
    auto bytes = w.get(at, len >= format::record_overhead && len <= format::max_record_size ? len : 4);
    if (!bytes) return error(bytes.error().code, p.path);
    const record_info* last = p.records.empty() ? nullptr : &p.records.back();
    format::decoded_record r;
    const auto status = format::decode_record(*bytes, r);
    if (status == format::decode_status::end) {
      problem = "zeros after the last record";
    } else if (status == format::decode_status::truncated) {
      problem = "record cut short (torn tail)";
    } else if (status == format::decode_status::corrupt) {
      problem = "damaged record (length or checksum)";
    } else if (auto bad = check_record(r, last)) {
      problem = *bad;
    }
    if (!problem.empty()) {
      auto next = find_next_record(src, at + 1, last);
      if (!next) return error(next.error().code, p.path);
      if (!*next) break;
      damage(p.path, at, problem + "; intact records resume at offset " + std::to_string(**next));
      p.damaged.emplace_back(at, **next);
      at = **next;
      problem.clear();
      continue;
    }
    const format::record_fields& f = r.fields;
    p.records.push_back({at,
                         r.size,
                         r.stored_crc,
                         f.position,
                         f.version,
                         f.committed_at,
                         f.commit_first_position,
                         f.commit_count,
                         f.commit_end,
                         {}});
    at += r.size;
    if (progress_) progress_(scanned_bytes_ + at, total_bytes_);
  }
  scanned_bytes_ += p.size;
  p.walk_end = at;
  if (problem.empty()) return {};
  p.tail_damaged = true;
  damage(p.path, at, problem);
  auto framed = count_framed(w, at, p.size);
  if (!framed) return error(framed.error().code, p.path);
  std::tie(p.framed_after, p.framed_exact) = *framed;
  return {};
}

// The old catalog, as far as it reads: a second opinion on stream ids. As far
// as it *reads*: a failed read fails the repair (an id it would have given
// might be the only one left for a stream).
result<void> repair_job::read_catalog() {
  const std::string path = layout::catalog(dir_);
  auto f = fs_->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return {};
  if (!f) return error(f.error(), "reading " + path);
  auto bytes = detail::read_all(**f);
  if (!bytes) return error(bytes.error(), "reading " + path);
  for (std::size_t at = format::file_header_size; at < bytes->size();) {
    format::catalog_record r;
    std::uint32_t size = 0;
    if (format::decode_catalog_record(std::span(*bytes).subspan(at), r, size) != format::decode_status::ok)
      break;
    catalog_ids_.emplace(std::string(r.name), r.stream_id);
    at += size;
  }
  return {};
}

// The $all entry of a partition's first event names its stream id.
result<std::optional<std::uint32_t>> repair_job::id_from_all_index(const partition& p) {
  using id = std::optional<std::uint32_t>;
  if (p.records.empty()) return id{};
  const std::string path = layout::all_index(dir_);
  auto f = fs_->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return id{};
  if (!f) return error(f.error(), "reading " + path);
  std::array<std::byte, format::all_entry_size> buf{};
  const std::uint64_t at = format::file_header_size + p.records.front().position * format::all_entry_size;
  auto n = (*f)->read_at(at, buf);
  if (!n) return error(n.error(), "reading " + path + " at offset " + std::to_string(at));
  if (*n != buf.size()) return id{};
  const auto e = format::decode_all_entry(buf);
  if (!e || e->offset != p.records.front().offset || e->version != p.records.front().version) return id{};
  return id{e->stream_id};
}

// Ids come from the header; a damaged header is rewritten with the id the old
// catalog or $all gives. An id claimed twice goes to the stream the catalog
// names; the other claimants are left out.
result<void> repair_job::assign_ids() {
  for (partition& p : parts_) {
    p.id = p.header_id;
    if (!p.id) {
      if (auto it = catalog_ids_.find(p.name); it != catalog_ids_.end()) p.id = it->second;
    }
    if (!p.id) {
      auto from_all = id_from_all_index(p);
      if (!from_all) return from_all.error();
      p.id = *from_all;
    }
  }
  // Last resort: ids follow creation order, which is the order of first
  // positions. Taken only if no other partition has that id.
  for (partition& p : parts_) {
    if (p.id || p.records.empty() || p.records.front().version != 0) continue;
    const auto first = p.records.front().position;
    const auto rank =
        static_cast<std::uint32_t>(std::count_if(parts_.begin(), parts_.end(), [&](const partition& q) {
          return !q.records.empty() && q.records.front().position < first;
        }));
    if (std::none_of(parts_.begin(), parts_.end(), [&](const partition& q) { return q.id == rank; }))
      p.id = rank;
  }
  for (partition& p : parts_) {
    if (!p.id) {
      p.excluded = true;
      if (!p.records.empty()) damage(p.path, 0, "stream id unknown (header, catalog and $all damaged)");
    }
  }
  std::map<std::uint32_t, std::vector<partition*>> by_id;
  for (partition& p : parts_) {
    if (!p.excluded) by_id[*p.id].push_back(&p);
  }
  for (auto& [id, claimants] : by_id) {
    if (claimants.size() < 2) continue;
    for (partition* p : claimants) {
      auto it = catalog_ids_.find(p->name);
      if (it != catalog_ids_.end() && it->second == id) continue;
      p->excluded = true;
      damage(p->path, 0, "stream id " + std::to_string(id) + " is claimed by another partition too");
    }
  }
  for (const auto& entry : catalog_ids_) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
    if (std::none_of(parts_.begin(), parts_.end(), [&](const partition& p) { return p.name == name; })) {
      damage(layout::catalog(dir_), 0,
             "stream " + name + " (id " + std::to_string(entry.second) + ") has no partition");
      report_.streams_removed.push_back(name);
    }
  }
  return {};
}

// --- 3b. Salvage: lost events below the checkpoint become placeholders.

// Positions below this had been acknowledged and made durable: the
// checkpoint's count or, without a valid checkpoint, the end of the last
// complete append any partition holds. What is missing above it may be a
// torn write, which (as at open) ends $all.
std::uint64_t repair_job::acknowledged_end() const {
  if (checkpoint_count_) return *checkpoint_count_;
  std::uint64_t end = 0;
  for (const partition& p : parts_) {
    if (p.excluded) continue;
    for (const record_info& r : p.records) {
      if (r.commit_end) end = std::max(end, r.position + 1);
    }
  }
  return end;
}

// The $all entries at the holes and, if they leave some unexplained, the
// stream index entries of the versions the damaged streams are missing. Both
// are mere claims: assign_lost keeps only those that fit.
result<std::vector<repair::claim>> repair_job::index_claims(const std::vector<std::uint64_t>& holes,
                                                            const std::vector<repair::stream_known>& known,
                                                            const overlay& ov) {
  std::vector<repair::claim> claims;
  std::map<std::uint32_t, std::size_t> by_id;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (!parts_[i].excluded) by_id.emplace(*parts_[i].id, i);
  }
  if (auto all = source::open(*fs_, layout::all_index(dir_), ov)) {
    std::array<std::byte, format::all_entry_size> buf{};
    for (std::uint64_t q : holes) {
      auto n = all->read(format::file_header_size + q * format::all_entry_size, buf);
      if (!n) return error(n.error().code, layout::all_index(dir_));
      const auto e = *n == buf.size() ? format::decode_all_entry(buf) : std::nullopt;
      if (auto it = e ? by_id.find(e->stream_id) : by_id.end(); it != by_id.end()) {
        claims.push_back({it->second, e->version, q});
      }
    }
  }
  if (claims.size() >= holes.size()) return claims;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    const partition& p = parts_[i];
    const bool gaps =
        !known[i].positions.empty() && known[i].positions.back().first + 1 != known[i].positions.size();
    if (p.excluded || !(gaps || known[i].tail_damaged || known[i].positions.empty())) continue;
    const std::string path = layout::stream_index(dir_, detail::encode_stream_file_name(p.name));
    auto index = source::open(*fs_, path, ov);
    if (!index) continue;  // missing: no evidence
    std::vector<std::byte> bytes(static_cast<std::size_t>(index->size()));
    auto n = index->read(0, bytes);
    if (!n) return error(n.error().code, path);
    const auto h = format::decode_file_header(bytes, format::file_kind::stream_index);
    if (!h || h->name != p.name) continue;
    auto intact = known[i].positions.begin();
    for (std::uint64_t v = 0; format::file_header_size + (v + 1) * format::stream_entry_size <= *n; ++v) {
      while (intact != known[i].positions.end() && intact->first < v) ++intact;
      if (intact != known[i].positions.end() && intact->first == v) continue;
      const auto e = format::decode_stream_entry(std::span(bytes).subspan(
          format::file_header_size + v * format::stream_entry_size, format::stream_entry_size));
      if (e) claims.push_back({i, v, e->position});
    }
  }
  return claims;
}

result<void> repair_job::salvage(const overlay& ov) {
  fill_below_ = acknowledged_end();
  std::vector<repair::stream_known> known(parts_.size());
  std::vector<bool> held(fill_below_);
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i].excluded) continue;
    known[i].tail_damaged = parts_[i].tail_damaged;
    known[i].positions.reserve(parts_[i].records.size());
    for (const record_info& r : parts_[i].records) {
      known[i].positions.emplace_back(r.version, r.position);
      if (r.position < fill_below_) held[r.position] = true;
    }
  }
  std::vector<std::uint64_t> holes;
  for (std::uint64_t q = 0; q < fill_below_; ++q) {
    if (!held[q]) holes.push_back(q);
  }
  if (holes.empty()) return {};
  auto claims = index_claims(holes, known, ov);
  if (!claims) return claims.error();
  const auto owners = repair::assign_lost(known, holes, *claims, fill_below_);
  std::vector<std::vector<record_info>> added(parts_.size());
  for (const auto& [position, o] : owners) {
    const partition& p = parts_[o.stream];
    // Where its bytes were: after the intact record before it in the partition.
    const auto next = std::lower_bound(p.records.begin(), p.records.end(), o.version,
                                       [](const record_info& r, std::uint64_t v) { return r.version < v; });
    record_info lost;
    lost.offset = next == p.records.begin() ? format::file_header_size
                                            : std::prev(next)->offset + std::prev(next)->size;
    lost.position = position;
    lost.version = o.version;
    lost.placeholder.resize(1);                  // encoded in add_placeholders
    added[o.stream].push_back(std::move(lost));  // in position order, so in version order
  }
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (added[i].empty()) continue;
    std::vector<record_info>& records = parts_[i].records;
    const auto middle = static_cast<std::ptrdiff_t>(records.size());
    records.insert(records.end(), std::make_move_iterator(added[i].begin()),
                   std::make_move_iterator(added[i].end()));
    std::inplace_merge(records.begin(), records.begin() + middle, records.end(),
                       [](const record_info& a, const record_info& b) { return a.version < b.version; });
    add_placeholders(parts_[i]);
  }
  for (std::uint64_t q : holes) {
    if (!owners.count(q)) {
      damage(layout::all_index(dir_), format::file_header_size + q * format::all_entry_size,
             "position " + std::to_string(q) +
                 " was lost and no index tells which stream held it: $all ends there");
      break;
    }
  }
  return {};
}

// Encodes the placeholders of `p`, with the commit fields of the append a
// neighbour shows it was part of (else an append of its own) and the commit
// time of the intact event before it in its stream (after it, if none).
void repair_job::add_placeholders(partition& p) {
  const std::size_t none = p.records.size();
  std::vector<std::size_t> next_intact(p.records.size() + 1, none);
  for (std::size_t i = p.records.size(); i-- > 0;)
    next_intact[i] = p.records[i].placeholder.empty() ? i : next_intact[i + 1];
  for (std::size_t i = 0; i < p.records.size(); ++i) {
    record_info& r = p.records[i];
    if (r.placeholder.empty()) continue;
    format::record_fields f;
    f.position = r.position;
    f.version = r.version;
    f.commit_first_position = r.position;
    f.commit_count = 1;
    const record_info* prev = i > 0 ? &p.records[i - 1] : nullptr;  // encoded already, if a placeholder
    const record_info* next = next_intact[i] == none ? nullptr : &p.records[next_intact[i]];
    if (prev != nullptr && !prev->commit_end && prev->version + 1 == r.version &&
        prev->position + 1 == r.position && r.position - prev->commit_first < prev->commit_count) {
      f.commit_first_position = prev->commit_first;
      f.commit_count = prev->commit_count;
    } else if (next != nullptr && next->commit_first <= r.position &&
               next->position - r.position == next->version - r.version) {
      f.commit_first_position = next->commit_first;
      f.commit_count = next->commit_count;
    }
    f.commit_end = r.position - f.commit_first_position + 1 == f.commit_count;
    if (const record_info* t = prev != nullptr ? prev : next) f.committed_at = t->committed_at;
    r.placeholder = repair::encode_placeholder(f, repair::lost_metadata(p.rel, r.offset), r.crc);
    r.size = static_cast<std::uint32_t>(r.placeholder.size());
    r.committed_at = f.committed_at;
    r.commit_first = f.commit_first_position;
    r.commit_count = f.commit_count;
    r.commit_end = f.commit_end;
  }
}

// --- 3c. The cut: $all stays dense, appends past the checkpoint stay whole,
//     ids stay dense.

// Records of `p` below position `end` that follow each other from version 0.
std::uint64_t kept_below(const partition& p, std::uint64_t end) {
  std::uint64_t keep = 0;
  while (keep < p.records.size() && p.records[keep].version == keep && p.records[keep].position < end) ++keep;
  return keep;
}

void repair_job::cut() {
  std::uint64_t n = 0;
  for (const partition& p : parts_) n += p.excluded ? 0 : p.records.size();
  // Holder of each position; n records can only make [0, n) dense.
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max(), twice = none - 1;
  std::vector<std::size_t> holder(n, none);
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i].excluded) continue;
    for (const record_info& r : parts_[i].records) {
      if (r.position < n) holder[r.position] = holder[r.position] == none ? i : twice;
    }
  }
  std::uint64_t end = static_cast<std::uint64_t>(
      std::find_if(holder.begin(), holder.end(), [](std::size_t h) { return h >= twice; }) - holder.begin());
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> kept_ids;  // id, first position
    for (partition& p : parts_) {
      if (p.excluded) continue;
      std::uint64_t keep = kept_below(p, end);
      // Past the acknowledged end an append that would be cut in part goes whole.
      while (keep > 0 && !p.records[keep - 1].commit_end && p.records[keep - 1].position >= fill_below_)
        --keep;
      if (keep < p.records.size() && p.records[keep].position < end) {
        end = p.records[keep].position;
        changed = true;
      }
      if (keep > 0) kept_ids.emplace_back(*p.id, p.records.front().position);
    }
    std::sort(kept_ids.begin(), kept_ids.end());
    for (std::size_t k = 0; k < kept_ids.size(); ++k) {
      if (kept_ids[k].first != k) {  // a stream id with no kept stream before it
        end = std::min(end, kept_ids[k].second);
        changed = true;
        break;
      }
    }
  }
  end_ = end;
  for (partition& p : parts_) p.keep = p.excluded ? 0 : kept_below(p, end);
}

void repair_job::report_drops() {
  report_.streams_kept = 0;
  report_.dropped.clear();
  report_.lost.clear();
  report_.events_dropped = 0;
  for (const partition& p : parts_) {
    if (p.keep > 0) {
      ++report_.streams_kept;
    } else {
      report_.streams_removed.push_back(p.name);
    }
    for (std::uint64_t v = 0; v < p.keep; ++v) {
      if (!p.records[v].placeholder.empty()) report_.lost.push_back({p.name, v, p.records[v].position});
    }
    // The records framing counted after a damaged tail, less those kept as placeholders.
    std::uint64_t tail_placeholders = 0;
    for (auto r = p.records.rbegin(); r != p.records.rend() && !r->placeholder.empty(); ++r)
      tail_placeholders += 1;
    const std::uint64_t count = p.records.size() - p.keep +
                                (p.framed_after > tail_placeholders ? p.framed_after - tail_placeholders : 0);
    if (count == 0 && p.framed_exact) continue;
    report_.dropped.push_back({p.name, p.keep, count, p.framed_exact});
    report_.events_dropped += count;
  }
  std::sort(report_.lost.begin(), report_.lost.end(),
            [](const repair_lost& a, const repair_lost& b) { return a.position < b.position; });
  report_.events_kept = end_ - report_.lost.size();
}

// --- 4. Rewriting

void repair_job::note_dirs(const std::string& path) {
  for (std::string d = layout::parent(path); d.size() >= dir_.size(); d = layout::parent(d)) {
    dirs_to_sync_.insert(d);
    if (d == dir_) break;
  }
}

// lost+found/<path relative to the store>@<offset>, made unique with ".N".
result<std::string> repair_job::lost_found_name(const std::string& path, std::uint64_t offset) {
  const std::string base =
      layout::join(dir_, std::string(lost_found_dir) + "/" + rel(path) + "@" + std::to_string(offset));
  std::string name = base;
  for (int i = 1; fs_->exists(name); ++i) name = base + "." + std::to_string(i);
  if (!dry()) {
    if (auto ec = fs_->create_directories(layout::parent(name))) return error(ec, layout::parent(name));
    note_dirs(name);
  }
  return name;
}

result<void> repair_job::copy_aside(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  auto to = lost_found_name(path, offset);
  if (!to) return to.error();
  report_.moved.push_back({rel(path), offset, size, rel(*to), false});
  if (dry()) return {};
  auto from = fs_->open(path, open_mode::read_only);
  if (!from) return error(from.error(), path);
  auto out = fs_->open(*to, open_mode::read_write_create);
  if (!out) return error(out.error(), *to);
  std::vector<std::byte> buf;
  for (std::uint64_t done = 0; done < size;) {
    buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(read_window, size - done)));
    auto n = (*from)->read_at(offset + done, buf);
    if (!n) return error(n.error(), path);
    if (*n == 0) break;
    if (auto ec = (*out)->write_at(done, std::span(buf).first(*n))) return error(ec, *to);
    done += *n;
  }
  if (auto ec = (*out)->sync()) return error(ec, *to);
  return {};
}

result<void> repair_job::move_aside(const std::string& path) {
  auto to = lost_found_name(path, 0);
  if (!to) return to.error();
  std::uint64_t size = 0;
  for (const partition& p : parts_) {
    if (p.path == path) size = p.size;
  }
  report_.moved.push_back({rel(path), 0, size, rel(*to), true});
  if (dry()) return {};
  if (auto ec = fs_->rename(path, *to)) return error(ec, path);
  note_dirs(path);
  return {};
}

// A partition keeps [0, cut) of its bytes; the rest and every damaged range
// before it go to lost+found first. A partition with placeholders or damaged
// ranges among what it keeps is written anew; any other is truncated.
result<void> repair_job::save_cut(partition& p) {
  if (p.keep == 0) return move_aside(p.path);
  std::uint64_t cut_at = format::file_header_size;  // after the last intact record kept
  for (std::uint64_t v = 0; v < p.keep; ++v) {
    const record_info& r = p.records[v];
    if (r.placeholder.empty()) cut_at = r.offset + r.size;
    p.rewrite = p.rewrite || !r.placeholder.empty();
  }
  const bool new_header = !p.header_id;
  if (new_header) {
    if (auto r = copy_aside(p.path, 0, format::file_header_size); !r) return r;
  }
  for (const auto& [from, to] : p.damaged) {
    if (to > cut_at) break;
    if (auto r = copy_aside(p.path, from, to - from); !r) return r;
    p.rewrite = true;
  }
  if (cut_at < p.size) {
    if (auto r = copy_aside(p.path, cut_at, p.size - cut_at); !r) return r;
  }
  if (p.rewrite) report_.rebuilt.push_back(p.rel);
  if (dry()) return {};
  if (p.rewrite) return rewrite_partition(p);
  if (!new_header && cut_at >= p.size) return {};
  auto f = fs_->open(p.path, open_mode::read_write);
  if (!f) return error(f.error(), p.path);
  if (new_header) {
    std::array<std::byte, format::file_header_size> header{};
    format::encode_file_header({format::file_kind::partition, 0, *p.id, p.name}, header);
    if (auto ec = (*f)->write_at(0, header)) return error(ec, p.path);
  }
  if (cut_at < p.size) {
    if (auto ec = (*f)->truncate(cut_at)) return error(ec, p.path);
  }
  if (auto ec = (*f)->sync()) return error(ec, p.path);
  return {};
}

// The header, the kept intact records (bytes unchanged) and the placeholders,
// in version order, into <partition>.repair, synced, then renamed over the
// partition. Records get their offsets in the new file.
result<void> repair_job::rewrite_partition(partition& p) {
  const std::string temp = p.path + ".repair";
  auto from = fs_->open(p.path, open_mode::read_only);
  if (!from) return error(from.error(), p.path);
  auto out = fs_->open(temp, open_mode::read_write_create);
  if (!out) return error(out.error(), temp);
  if (auto ec = (*out)->truncate(0)) return error(ec, temp);
  std::vector<std::byte> buf(format::file_header_size);
  format::encode_file_header({format::file_kind::partition, 0, *p.id, p.name}, buf);
  std::uint64_t written = 0;
  auto flush = [&]() -> result<void> {
    if (auto ec = (*out)->write_at(written, buf)) return error(ec, temp);
    written += buf.size();
    buf.clear();
    return {};
  };
  for (std::uint64_t v = 0; v < p.keep; ++v) {
    record_info& r = p.records[v];
    const std::uint64_t at = written + buf.size();
    if (r.placeholder.empty()) {
      const std::size_t old = buf.size();
      buf.resize(old + r.size);
      auto n = (*from)->read_at(r.offset, std::span(buf).subspan(old));
      if (!n) return error(n.error(), p.path);
      if (*n != r.size) return error(errc::corrupt_data, p.path + " shrank during the repair");
    } else {
      buf.insert(buf.end(), r.placeholder.begin(), r.placeholder.end());
    }
    r.offset = at;
    if (buf.size() >= read_window) {
      if (auto w = flush(); !w) return w;
    }
  }
  if (auto w = flush(); !w) return w;
  if (auto ec = (*out)->sync()) return error(ec, temp);
  out->reset();
  from->reset();
  if (auto ec = fs_->rename(temp, p.path)) return error(ec, p.path);
  note_dirs(p.path);
  return {};
}

result<void> repair_job::write_file(const std::string& path, std::span<const std::byte> bytes) {
  report_.rebuilt.push_back(rel(path));
  if (dry()) return {};
  if (auto ec = fs_->create_directories(layout::parent(path))) return error(ec, layout::parent(path));
  if (auto ec = detail::write_file_atomically(*fs_, path, bytes)) return error(ec, path);
  note_dirs(path);
  return {};
}

result<void> repair_job::remove_file(const std::string& path) {
  if (!fs_->exists(path)) return {};
  report_.removed.push_back(rel(path));
  if (dry()) return {};
  if (auto ec = fs_->remove(path)) return error(ec, path);
  note_dirs(path);
  return {};
}

result<void> repair_job::write_indexes() {
  std::vector<partition*> kept;
  for (partition& p : parts_) {
    if (p.keep > 0) kept.push_back(&p);
  }
  std::sort(kept.begin(), kept.end(), [](const partition* a, const partition* b) { return *a->id < *b->id; });
  std::vector<std::byte> all(format::file_header_size + end_ * format::all_entry_size);
  format::encode_file_header({format::file_kind::all_index, format::all_entry_size, 0, {}}, all);
  std::vector<std::byte> catalog(format::file_header_size);
  format::encode_file_header({format::file_kind::catalog, 0, 0, {}}, catalog);
  for (const partition* p : kept) {
    const std::string index_path = layout::stream_index(dir_, detail::encode_stream_file_name(p->name));
    std::vector<std::byte> index(format::file_header_size + p->keep * format::stream_entry_size);
    format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, *p->id, p->name},
                               index);
    for (std::uint64_t v = 0; v < p->keep; ++v) {
      const record_info& r = p->records[v];
      format::encode_stream_entry(
          {r.offset, r.position, r.size},
          std::span(index).subspan(format::file_header_size + v * format::stream_entry_size,
                                   format::stream_entry_size));
      format::encode_all_entry(
          {r.offset, *p->id, r.size, r.commit_end, v, r.crc},
          std::span(all).subspan(format::file_header_size + r.position * format::all_entry_size,
                                 format::all_entry_size));
    }
    if (auto w = write_file(index_path, index); !w) return w;
    const std::size_t at = catalog.size();
    catalog.resize(at + format::catalog_record_size(p->name.size()));
    format::encode_catalog_record(
        {*p->id, format::catalog_kind_write_stream, p->records.front().position, p->name},
        std::span(catalog).subspan(at));
  }
  if (auto w = write_file(layout::all_index(dir_), all); !w) return w;
  return write_file(layout::catalog(dir_), catalog);
}

// Stream indexes of streams no longer kept (index/), or every link file and
// the indexer's progress (links/): the indexer rebuilds them from $all.
result<void> repair_job::remove_derived(const std::string& d, bool links) {
  if (!fs_->exists(d)) return {};
  auto names = fs_->list(d);
  if (!names) return error(names.error(), d);
  std::sort(names->begin(), names->end());
  std::set<std::string> kept_indexes;
  for (const partition& p : parts_) {
    if (p.keep > 0) kept_indexes.insert(layout::stream_index(dir_, detail::encode_stream_file_name(p.name)));
  }
  for (const std::string& n : *names) {
    const std::string path = layout::join(d, n);
    if (n.ends_with("+")) {
      if (auto r = remove_derived(path, links); !r) return r;
    } else if (links
                   ? (n.ends_with(".lnk") || (n == "progress" && d == layout::links_dir(dir_)))
                   : (n.ends_with(".idx") && path != layout::all_index(dir_) && !kept_indexes.count(path))) {
      if (auto r = remove_file(path); !r) return r;
    }
  }
  return {};
}

result<void> repair_job::sync_directories() {
  // Deepest first, so each directory's entry in its parent is durable last.
  std::vector<std::string> dirs(dirs_to_sync_.begin(), dirs_to_sync_.end());
  std::sort(dirs.begin(), dirs.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& d : dirs) {
    if (!fs_->exists(d)) continue;
    if (auto ec = fs_->sync_directory(d)) return error(ec, d);
  }
  dirs_to_sync_.clear();
  return {};
}

// Written last, once everything it promises is synced: the next open then
// scans nothing.
result<void> repair_job::write_checkpoint() {
  std::array<std::byte, format::checkpoint_file_size> bytes{};
  const format::checkpoint c{1, end_, static_cast<std::uint32_t>(report_.streams_kept), 0};
  format::encode_checkpoint(c, std::span(bytes).subspan((c.sequence % 2) * format::checkpoint_slot_size));
  if (auto w = write_file(layout::checkpoint(dir_), bytes); !w) return w;
  return sync_directories();
}

result<void> repair_job::rewrite() {
  // Derived state that promises more than the rewritten files hold goes first.
  for (const std::string& path : {layout::checkpoint(dir_), layout::head(dir_), layout::journal(dir_)}) {
    if (auto r = remove_file(path); !r) return r;
  }
  for (partition& p : parts_) {
    if (auto r = save_cut(p); !r) return r;
  }
  if (auto r = write_indexes(); !r) return r;
  if (auto r = remove_derived(layout::index_dir(dir_), false); !r) return r;
  if (auto r = remove_derived(layout::links_dir(dir_), true); !r) return r;
  if (auto r = sync_directories(); !r) return r;
  // The checkpoint is rebuilt, not removed.
  std::erase(report_.removed, rel(layout::checkpoint(dir_)));
  return write_checkpoint();
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

}  // namespace

result<repair_report> repair_store(const std::string& directory, const repair_options& options,
                                   const repair_progress& progress) {
  return repair_job(directory, options, progress).run();
}

}  // namespace evstore
