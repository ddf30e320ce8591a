// Repair, step 3 (repair.cpp): walking each partition log in full, segment by
// segment, keeping every intact record and noting the bytes that hold none.
//
// A record is intact when its framing (length, checksum, trailing length)
// holds and it decodes as an event with a stream name (or as the erased form
// of one, which keeps its name: its $all entry is rewritten erased). After a bad record the
// walk resynchronises at the next byte offset of the segment where an intact
// record starts (as scan_partition_tail's damage search does); with none, the
// segment's damage runs to its last non-zero byte. Zeros end a segment's
// records. A segment missing between present ones, or with a bad header, is
// damage too (the records of the latter are still walked: repair writes the
// header anew).
#include "format/layout.hpp"
#include "io/io_util.hpp"
#include "log/segment_file.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>

namespace evstore::detail::repair {
namespace {

// An intact event record (or a scavenged event's erased record) at the start of `in`.
bool intact(format::bytes in, format::decoded_record& r) {
  return format::decode_record(in, r, format::record_names::required) == format::decode_status::ok &&
         (r.kind == format::record_kind_event || r.kind == format::record_kind_erased);
}

}  // namespace

result<void> repair_job::walk(std::uint16_t p) {
  auto segments = list_segments(*fs_, dir_, p);
  if (!segments) return error(segments.error(), log_directory(dir_));
  parts_[p].segments = *segments;
  for (std::uint64_t s : *segments) {
    auto f = fs_->open(segment_path(dir_, p, s), open_mode::read_only);
    if (!f) return error(f.error(), segment_path(dir_, p, s));
    auto size = (*f)->size();
    if (size) total_bytes_ += *size;
  }
  std::uint64_t expected = 0;
  for (std::uint64_t s : *segments) {
    for (; expected < s; ++expected) {
      damage(segment_relative_path(p, expected), 0, "segment missing");
      damaged_.push_back({p, expected, 0, 0});
    }
    if (auto r = walk_segment(p, s); !r) return r;
    expected = s + 1;
  }
  // Segments the checkpoint says hold records, past the last present one.
  if (checkpoint_ && p < checkpoint_->ends.size()) {
    const std::uint64_t e = geometry_.normalize(checkpoint_->ends[p]);
    const std::uint64_t needed = geometry_.in_segment(e) > format::segment_records_start
                                     ? geometry_.segment_of(e) + 1
                                     : geometry_.segment_of(e);
    for (; expected < needed; ++expected) {
      damage(segment_relative_path(p, expected), 0, "segment missing");
      damaged_.push_back({p, expected, 0, 0});
    }
  }
  return {};
}

result<void> repair_job::walk_segment(std::uint16_t p, std::uint64_t s) {
  const std::string rel = segment_relative_path(p, s);
  auto opened = open_segment(*fs_, dir_, p, s, geometry_, open_mode::read_only);
  if (!opened) return opened.error();
  auto bytes = read_all(*opened->handle);
  if (!bytes) return error(bytes.error(), segment_path(dir_, p, s));
  const format::bytes in(*bytes);
  if (opened->what == opened_segment::state::bad_header) {
    damage(rel, 0, "damaged segment header");
    damaged_.push_back({p, s, 0, std::min<std::uint64_t>(in.size(), format::segment_records_start)});
  }
  const std::uint64_t base = s * geometry_.segment_size;
  std::uint64_t at = format::segment_records_start;
  while (at + 4 <= in.size()) {
    format::decoded_record r;
    if (intact(in.subspan(at), r)) {
      log_record rec;
      rec.partition = p;
      rec.offset = base + at;
      rec.size = r.size;
      rec.position = r.fields.position;
      rec.version = r.fields.version;
      rec.stream = stream_id(r.fields.stream);
      rec.commit_end = r.fields.commit_end;
      rec.erased = r.kind == format::record_kind_erased;
      rec.committed_at = r.fields.committed_at;
      rec.new_offset = rec.offset;
      records_.push_back(std::move(rec));
      at += r.size;
      continue;
    }
    const auto rest = in.subspan(at);
    const auto last = std::find_if(rest.rbegin(), rest.rend(), [](std::byte b) { return b != std::byte{0}; });
    if (last == rest.rend()) break;  // zeros to the end: the segment's records end here
    // Damage: resynchronise at the next intact record, if any.
    std::uint64_t next = at + 1;
    for (; next + format::record_overhead <= in.size(); ++next) {
      if (intact(in.subspan(next), r)) break;
    }
    if (next + format::record_overhead > in.size()) {
      next = at + static_cast<std::uint64_t>(rest.rend() - last);  // past the last non-zero byte
      damage(rel, at, "damaged record; no intact record follows in the segment");
    } else {
      damage(rel, at, "damaged record; the walk resumes at offset " + std::to_string(next));
    }
    damaged_.push_back({p, s, at, next});
    at = next;
  }
  scanned_bytes_ += in.size();
  if (progress_) progress_(scanned_bytes_, std::max(total_bytes_, scanned_bytes_));
  return {};
}

}  // namespace evstore::detail::repair
