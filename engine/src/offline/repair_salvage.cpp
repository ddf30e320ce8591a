// Repair, steps 3b and 3c (repair.cpp lists the steps): lost events below the
// checkpoint become placeholders, then $all is cut where it stops being dense.

#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <vector>

namespace evstore::detail::repair {

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

namespace {

// Records of `p` below position `end` that follow each other from version 0.
std::uint64_t kept_below(const partition& p, std::uint64_t end) {
  std::uint64_t keep = 0;
  while (keep < p.records.size() && p.records[keep].version == keep && p.records[keep].position < end) ++keep;
  return keep;
}

}  // namespace

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

}  // namespace evstore::detail::repair
