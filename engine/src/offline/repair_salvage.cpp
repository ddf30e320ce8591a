// Repair, step 4 (repair.cpp): placeholders for lost events, and where $all ends.
//
// Records carry their position, stream and version, so the walk alone puts
// every intact event back in place. A position below the acknowledged end
// that no intact record holds was an acknowledged event: its stream and
// version come from the stream index's runs (which map (name, version) to
// position; each run is walked once, group by group) or from elimination
// (repair_lost.hpp), and a "$lost" placeholder keeps its place, in the log of
// its stream's other records. Then $all ends at the first position still held
// by nothing, before the first record that does not continue its stream's
// versions, and, past the acknowledged end, after the last complete append.
#include "format/layout.hpp"
#include "index/group_cursor.hpp"
#include "index/index_manifest.hpp"
#include "index/index_run_reader.hpp"
#include "log/partitioner.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>
#include <unordered_set>

namespace evstore::detail::repair {
namespace {

bool by_position(const log_record& a, const log_record& b) {
  if (a.position != b.position) return a.position < b.position;
  if (a.partition != b.partition) return a.partition < b.partition;
  return a.offset < b.offset;
}

// A failed read is no damage: repairing around it would cut what could not be read.
bool is_read_failure(const error& e) {
  return e.code.category() != make_error_code(errc::corrupt_data).category() &&
         e.code != boost::system::errc::no_such_file_or_directory;
}

}  // namespace

result<std::vector<claim>> repair_job::index_claims(const std::vector<std::uint64_t>& holes) {
  std::vector<claim> claims;
  const std::string index_dir = layout::index_dir(dir_);
  auto manifest = index_manifest::read(*fs_, index_dir);
  if (!manifest && is_read_failure(manifest.error())) return manifest.error();
  if (!manifest || !*manifest) return claims;  // damage reported by read_checkpoint
  const std::unordered_set<std::uint64_t> wanted(holes.begin(), holes.end());
  // Newest run first: compaction's merged run is the one most trusted.
  for (auto it = (*manifest)->runs.rbegin(); it != (*manifest)->runs.rend(); ++it) {
    const std::string run_path = layout::join(index_dir, run_file_name(it->seq));
    const std::string rel = "index/" + run_file_name(it->seq);
    auto run = index_run_reader::open(*fs_, run_path);
    if (!run && is_read_failure(run.error())) return run.error();
    if (!run) {
      damage(rel, 0, run.error().detail);
      continue;
    }
    run_cursor cursor(*run);
    for (;;) {
      auto more = cursor.advance();
      if (!more && is_read_failure(more.error())) return more.error();
      if (!more) {
        damage(rel, 0, more.error().detail);  // claims read before the damage stay
        break;
      }
      if (!*more) break;
      const group_ref g = cursor.current();
      for (std::size_t i = 0; i < g.positions.size(); ++i) {
        if (wanted.count(g.positions[i]))
          claims.push_back({stream_id(g.key.name), g.key.first_version + i, g.positions[i]});
      }
    }
  }
  return claims;
}

// The damage a placeholder of partition `p` most likely stands for: the first
// damaged range after the stream's previous record there, else any in `p`,
// else any at all. Named as {"file":..., "offset":...} in its metadata.
std::string repair_job::lost_where(std::uint16_t p, std::uint64_t after_offset) const {
  const damaged_range* best = nullptr;
  for (const damaged_range& d : damaged_) {
    if (d.partition != p) continue;
    if (d.segment * geometry_.segment_size + d.from >= after_offset) {
      best = &d;
      break;
    }
    if (!best) best = &d;
  }
  if (!best && !damaged_.empty()) best = &damaged_.front();
  if (!best) return lost_metadata(log_directory(""), 0);
  return lost_metadata(segment_relative_path(best->partition, best->segment), best->from);
}

result<void> repair_job::salvage() {
  std::sort(records_.begin(), records_.end(), by_position);
  // A position held twice (a copy of a record): the first kept, the other dropped.
  std::vector<log_record> unique;
  unique.reserve(records_.size());
  for (log_record& r : records_) {
    if (!unique.empty() && unique.back().position == r.position) {
      damage(segment_relative_path(r.partition, geometry_.segment_of(r.offset)),
             geometry_.in_segment(r.offset),
             "position " + std::to_string(r.position) + " held by another record too");
      dropped_.push_back(std::move(r));
      continue;
    }
    unique.push_back(std::move(r));
  }
  records_ = std::move(unique);

  std::vector<std::uint64_t> holes;
  {
    std::size_t i = 0;
    for (std::uint64_t pos = 0; pos < fill_below_; ++pos) {
      while (i < records_.size() && records_[i].position < pos) ++i;
      if (i == records_.size() || records_[i].position != pos) holes.push_back(pos);
    }
  }
  if (holes.empty()) return {};

  auto claims = index_claims(holes);
  if (!claims) return claims.error();
  std::vector<stream_known> known(names_.size());
  std::vector<const log_record*> last(names_.size(), nullptr);
  for (const log_record& r : records_) {
    known[r.stream].positions.emplace_back(r.version, r.position);
    last[r.stream] = &r;
  }
  // A stream may have lost events after its last intact record when damage
  // follows that record in its log.
  for (std::size_t s = 0; s < known.size(); ++s) {
    std::sort(known[s].positions.begin(), known[s].positions.end());
    if (!last[s]) continue;
    for (const damaged_range& d : damaged_) {
      if (d.partition == last[s]->partition && d.segment * geometry_.segment_size + d.to > last[s]->offset)
        known[s].tail_damaged = true;
    }
  }
  const auto owners = assign_lost(known, holes, *claims, fill_below_);

  // Each placeholder goes to the log of its stream's nearest record. Indexes
  // into records_ (sorted by position) per stream and per partition, so that
  // each lookup is a binary search.
  std::vector<std::vector<std::size_t>> of_stream(names_.size()), of_partition(meta_.partitions);
  for (std::size_t i = 0; i < records_.size(); ++i) {
    of_stream[records_[i].stream].push_back(i);
    of_partition[records_[i].partition].push_back(i);
  }
  // The last of `in` below `position`, else the first above it; nullptr if none.
  const auto nearest = [&](const std::vector<std::size_t>& in, std::uint64_t position,
                           bool only_below) -> const log_record* {
    const auto it = std::lower_bound(in.begin(), in.end(), position, [&](std::size_t i, std::uint64_t p) {
      return records_[i].position < p;
    });
    if (it != in.begin()) return &records_[*std::prev(it)];
    return it != in.end() && !only_below ? &records_[*it] : nullptr;
  };
  std::vector<std::size_t> everything(records_.size());
  for (std::size_t i = 0; i < everything.size(); ++i) everything[i] = i;
  std::vector<log_record> added;
  for (const auto& [position, o] : owners) {
    log_record ph;
    ph.position = position;
    ph.version = o.version;
    ph.stream = static_cast<std::uint32_t>(o.stream);
    ph.commit_end = true;
    const log_record* near =
        o.stream < of_stream.size() ? nearest(of_stream[o.stream], position, false) : nullptr;
    const log_record* before = nearest(everything, position, true);
    ph.partition = near ? near->partition : default_partition(names_[o.stream], meta_.partitions);
    ph.committed_at = before ? before->committed_at : 0;
    const log_record* previous_here = nearest(of_partition[ph.partition], position, true);
    ph.placeholder = lost_where(ph.partition, previous_here ? previous_here->offset : 0);
    format::record_fields f;
    f.stream = names_[o.stream];
    std::uint32_t crc = 0;
    ph.size = static_cast<std::uint32_t>(encode_placeholder(f, ph.placeholder, crc).size());
    added.push_back(std::move(ph));
  }
  for (log_record& ph : added) records_.push_back(std::move(ph));
  std::sort(records_.begin(), records_.end(), by_position);
  return {};
}

void repair_job::cut() {
  std::uint64_t end = 0;
  std::vector<std::uint64_t> next_version(names_.size(), 0);
  for (; end < records_.size(); ++end) {
    const log_record& r = records_[end];
    if (r.position != end || r.version != next_version[r.stream]) break;
    ++next_version[r.stream];
  }
  // Past the acknowledged end an append that would be cut in part goes whole.
  while (end > 0 && records_[end - 1].position >= fill_below_ && !records_[end - 1].commit_end) --end;
  for (std::size_t i = end; i < records_.size(); ++i) {
    if (records_[i].placeholder.empty()) dropped_.push_back(std::move(records_[i]));
  }
  records_.resize(end);
  end_ = end;
}

void repair_job::report_drops() {
  report_.lost.clear();
  report_.dropped.clear();
  report_.streams_removed.clear();
  report_.events_dropped = 0;
  std::vector<bool> kept(names_.size(), false);
  for (const log_record& r : records_) {
    kept[r.stream] = true;
    if (!r.placeholder.empty()) report_.lost.push_back({names_[r.stream], r.version, r.position});
  }
  // Intact events past the cut, per stream (a record holding a position twice is no event of its own).
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> drops;  // stream: first version, count
  std::set<std::uint64_t> kept_positions;
  for (const log_record& r : dropped_) {
    if (r.position < end_) continue;
    if (!kept_positions.insert(r.position).second) continue;
    auto [it, added] = drops.try_emplace(r.stream, r.version, 0);
    it->second.first = std::min(it->second.first, r.version);
    ++it->second.second;
  }
  for (const auto& [stream, d] : drops) {
    report_.dropped.push_back({names_[stream], d.first, d.second, true});
    report_.events_dropped += d.second;
    if (!kept[stream]) report_.streams_removed.push_back(names_[stream]);
  }
  std::sort(report_.dropped.begin(), report_.dropped.end(),
            [](const repair_drop& a, const repair_drop& b) { return a.stream < b.stream; });
  std::sort(report_.streams_removed.begin(), report_.streams_removed.end());
  report_.events_kept = end_ - report_.lost.size();
  report_.streams_kept = static_cast<std::uint64_t>(std::count(kept.begin(), kept.end(), true));
}

}  // namespace evstore::detail::repair
