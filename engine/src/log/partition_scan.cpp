#include "log/partition_scan.hpp"

#include "log/log_error.hpp"
#include "log/segment_file.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace evstore::detail {
namespace {

using format::decode_status;

// The bytes of one segment from in-segment offset `base` to its end (zeros
// past the end of a short file), and the state of its header.
struct segment_bytes {
  opened_segment::state what = opened_segment::state::missing;
  std::uint64_t base = 0;
  std::vector<std::byte> bytes;
  format::bytes from(std::uint64_t in_segment) const {
    return format::bytes(bytes).subspan(static_cast<std::size_t>(in_segment - base));
  }
};

// What the next segment's first record says about the end of the previous one.
enum class next_head : std::uint8_t { nothing, record, junk };
constexpr std::uint64_t head_probe_bytes = 4096;

class tail_scanner {
 public:
  tail_scanner(file_system& fs, const std::string& dir, std::uint16_t partition, const log_geometry& g,
               const log_record_visitor& visit, const scan_options& options)
      : fs_(fs), dir_(dir), partition_(partition), g_(g), visit_(visit), options_(options) {}

  result<log_scan> run(std::uint64_t from);

 private:
  result<void> load(std::uint64_t segment, std::uint64_t base, std::uint64_t length, segment_bytes& out);
  result<void> load_head_of_next(std::uint64_t segment);
  std::uint64_t walk(std::uint64_t segment, decode_status& status, log_scan& scan);
  next_head head_of_next(std::uint32_t& size) const;
  result<log_scan> judge(std::uint64_t segment, std::uint64_t x, decode_status status, log_scan scan);
  std::string name(std::uint64_t segment) const { return segment_relative_path(partition_, segment); }

  file_system& fs_;
  const std::string& dir_;
  std::uint16_t partition_;
  const log_geometry& g_;
  const log_record_visitor& visit_;
  const scan_options& options_;
  segment_bytes cur_;
  segment_bytes next_;
};

// Reads `length` bytes of `segment` from in-segment offset `base`.
result<void> tail_scanner::load(std::uint64_t segment, std::uint64_t base, std::uint64_t length,
                                segment_bytes& out) {
  if (segment >= max_segments) {  // past the last name the layout has: no such segment
    out.what = opened_segment::state::missing;
    out.bytes.assign(static_cast<std::size_t>(length), std::byte{0});
    return {};
  }
  auto opened = open_segment(fs_, dir_, partition_, segment, g_, open_mode::read_only);
  if (!opened) return opened.error();
  out.what = opened->what;
  out.base = base;
  out.bytes.assign(static_cast<std::size_t>(length), std::byte{0});
  if (out.what == opened_segment::state::missing) return {};
  auto n = opened->handle->read_at(base, out.bytes);
  if (!n) return log_io_error(n.error(), "reading", name(segment), base);
  return {};
}

// Visits the records of cur_ from its base; returns the in-segment offset
// where they end and, in `status`, what is there.
std::uint64_t tail_scanner::walk(std::uint64_t segment, decode_status& status, log_scan& scan) {
  std::uint64_t at = cur_.base;
  status = decode_status::end;
  while (at < g_.segment_size) {
    const format::bytes here = cur_.from(at);
    std::uint32_t size = 0;
    status = format::check_record_framing(here, size);
    if (status != decode_status::ok) break;
    visit_(log_locator{partition_, segment * g_.segment_size + at}, here.first(size));
    ++scan.records;
    at += size;
  }
  return at;
}

// The start of the segment after `segment` into next_: the first
// head_probe_bytes after its header, or its whole first record if longer. Only
// its first record matters (the writer starts every segment at offset 256), so
// a prepared segment costs a small read, not a segment of zeros.
result<void> tail_scanner::load_head_of_next(std::uint64_t segment) {
  const std::uint64_t room = g_.max_record();
  const std::uint64_t probe = std::min<std::uint64_t>(head_probe_bytes, room);
  if (auto ok = load(segment + 1, format::segment_records_start, probe, next_); !ok) return ok;
  const std::uint32_t len = format::get_u32(next_.bytes.data());
  if (next_.what != opened_segment::state::ok || len <= probe || len > room) return {};
  return load(segment + 1, format::segment_records_start, len, next_);
}

// The next segment (in next_): nothing (missing, or a header and zeros:
// prepared or cut short), a valid first record (its size in `size`), or junk.
next_head tail_scanner::head_of_next(std::uint32_t& size) const {
  if (next_.what == opened_segment::state::missing) return next_head::nothing;
  if (next_.what == opened_segment::state::bad_header) {
    return format::all_zero(next_.bytes) ? next_head::nothing : next_head::junk;
  }
  const decode_status head = format::check_record_framing(next_.bytes, size);
  if (head == decode_status::ok) return next_head::record;
  return format::all_zero(next_.bytes) ? next_head::nothing : next_head::junk;
}

result<log_scan> tail_scanner::run(std::uint64_t from) {
  log_scan scan;
  const std::uint64_t start = g_.normalize(from);
  std::uint64_t segment = g_.segment_of(start);
  if (auto ok = load(segment, g_.in_segment(start), g_.segment_size - g_.in_segment(start), cur_); !ok)
    return ok.error();
  if (cur_.what != opened_segment::state::ok) {
    const bool known_records = start != g_.records_start(segment);
    if (known_records || (cur_.what == opened_segment::state::bad_header && !format::all_zero(cur_.bytes))) {
      return log_corruption(
          cur_.what == opened_segment::state::missing ? "segment missing" : "bad segment header",
          name(segment), 0);
    }
    scan.end = start;
    return scan;
  }
  for (;;) {
    decode_status status = decode_status::end;
    const std::uint64_t x = walk(segment, status, scan);
    // Zeros, or fewer than 4 bytes of zeros (no room for a length): the records end here.
    const bool zeros_to_end = format::all_zero(cur_.from(x));
    if (auto ok = load_head_of_next(segment); !ok) return ok.error();
    std::uint32_t head_size = 0;
    const next_head head = head_of_next(head_size);
    if (zeros_to_end) {
      // A roll-over: the next segment starts with a record that did not fit here.
      if (head == next_head::record && head_size > g_.segment_size - x) {
        ++segment;
        const std::uint64_t base = format::segment_records_start;
        if (auto ok = load(segment, base, g_.segment_size - base, cur_); !ok) return ok.error();
        continue;
      }
      if (head == next_head::nothing) {
        scan.end = segment * g_.segment_size + x;
        return scan;
      }
    }
    return judge(segment, x, status, std::move(scan));
  }
}

// The log ends at in-segment offset x of `segment` with something other than
// a clean end: a torn tail, or damage if a valid record ends beyond the window.
result<log_scan> tail_scanner::judge(std::uint64_t segment, std::uint64_t x, decode_status status,
                                     log_scan scan) {
  const std::uint64_t end = segment * g_.segment_size + x;
  scan.end = end;
  scan.how = log_end_kind::torn;
  const char* what = status == decode_status::corrupt     ? "torn record"
                     : status == decode_status::truncated ? "record past the segment's end"
                                                          : "zeros before more data";
  scan.detail = std::string(what) + " in " + name(segment) + " at offset " + std::to_string(x);
  if (options_.unsynced_window == unlimited_window) return scan;
  const std::uint64_t limit = end + options_.unsynced_window;
  const auto damage = [&] { return log_corruption("damaged record before valid records", name(segment), x); };
  for (std::uint64_t j = x + 1; j + format::record_overhead <= g_.segment_size; ++j) {
    const format::bytes here = cur_.from(j);
    const std::uint32_t len = format::get_u32(here.data());
    // Cheap tests first: most offsets fail on the length words alone.
    if (len < format::record_overhead || len > here.size() || format::get_u32(here.data() + len - 4) != len)
      continue;
    std::uint32_t size = 0;
    if (format::check_record_framing(here, size) == decode_status::ok &&
        segment * g_.segment_size + j + size > limit)
      return damage();
  }
  std::uint32_t head_size = 0;
  if (head_of_next(head_size) == next_head::record && g_.records_start(segment + 1) + head_size > limit) {
    return damage();
  }
  return scan;
}

}  // namespace

result<log_scan> scan_partition_tail(file_system& fs, const std::string& store_dir, std::uint16_t partition,
                                     const log_geometry& g, std::uint64_t from,
                                     const log_record_visitor& visit, const scan_options& options) {
  if (auto ok = check_geometry(g); !ok) return ok.error();
  if (partition >= max_partitions || g.segment_of(g.normalize(from)) >= max_segments) {
    return error{errc::invalid_argument,
                 "no partition log position " + std::to_string(partition) + "/" + std::to_string(from)};
  }
  tail_scanner scanner(fs, store_dir, partition, g, visit, options);
  return scanner.run(from);
}

}  // namespace evstore::detail
