#include "log/partition_scan.hpp"

#include "io/file_error.hpp"
#include "log/segment_file.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace evstore::detail {
namespace {

using format::decode_status;

// Bytes of one segment from in-segment offset `base` (zeros past the end of
// a short file), and the state of its header.
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
// The walk reads the current segment in pieces of this size (more for a longer
// record), into one buffer reused across segments: an open touches a bounded
// amount of memory whatever the segment size.
constexpr std::uint64_t chunk_bytes = std::uint64_t{1} << 20;

class tail_scanner {
 public:
  tail_scanner(file_system& fs, const std::string& dir, std::uint16_t partition, const log_geometry& g,
               const log_record_visitor& visit, const scan_options& options)
      : fs_(fs), dir_(dir), partition_(partition), g_(g), visit_(visit), options_(options) {}

  result<log_scan> run(std::uint64_t from);

 private:
  result<opened_segment::state> open_current(std::uint64_t segment);
  result<format::bytes> view(std::uint64_t at, std::uint64_t n);
  result<bool> zeros_from(std::uint64_t at);
  result<std::uint64_t> walk(std::uint64_t at, decode_status& status, log_scan& scan);
  result<void> load(std::uint64_t segment, std::uint64_t base, std::uint64_t length, segment_bytes& out);
  result<void> load_head_of_next();
  next_head head_of_next(std::uint32_t& size) const;
  result<log_scan> judge(std::uint64_t x, decode_status status, log_scan scan);
  std::string name(std::uint64_t segment) const { return segment_relative_path(partition_, segment); }

  file_system& fs_;
  const std::string& dir_;
  std::uint16_t partition_;
  const log_geometry& g_;
  const log_record_visitor& visit_;
  const scan_options& options_;
  // The segment being walked, and a window of its bytes [window_base_, + size).
  std::uint64_t segment_ = 0;
  std::unique_ptr<file> current_;
  // Where the current segment's bytes end: its file's size, at most the
  // segment size. Past it every byte reads as zero, so the checks for zeros
  // stop there (a segment is written, or allocated, only as far as needed).
  std::uint64_t stored_ = 0;
  std::uint64_t window_base_ = 0;
  std::vector<std::byte> window_;
  segment_bytes next_;  // the head of segment_ + 1
};

result<opened_segment::state> tail_scanner::open_current(std::uint64_t segment) {
  segment_ = segment;
  window_.clear();
  window_base_ = 0;
  current_.reset();
  stored_ = 0;
  if (segment >= max_segments) return opened_segment::state::missing;
  auto opened = open_segment(fs_, dir_, partition_, segment, g_, open_mode::read_only);
  if (!opened) return opened.error();
  current_ = std::move(opened->handle);
  if (current_) {
    auto size = current_->size();
    if (!size) return io_error_at(size.error(), "sizing", name(segment), 0);
    stored_ = std::min(*size, g_.segment_size);
  }
  return opened->what;
}

// Bytes [at, at + n) of the current segment (fewer at the segment's end),
// read into the window if it does not hold them yet.
result<format::bytes> tail_scanner::view(std::uint64_t at, std::uint64_t n) {
  n = std::min(n, g_.segment_size - at);
  if (at < window_base_ || at + n > window_base_ + window_.size()) {
    const std::uint64_t len = std::max(n, std::min(chunk_bytes, g_.segment_size - at));
    window_.assign(static_cast<std::size_t>(len), std::byte{0});
    window_base_ = at;
    if (current_) {
      auto got = current_->read_at(at, window_);
      if (!got) return io_error_at(got.error(), "reading", name(segment_), at);
    }
  }
  return format::bytes(window_).subspan(static_cast<std::size_t>(at - window_base_),
                                        static_cast<std::size_t>(n));
}

result<bool> tail_scanner::zeros_from(std::uint64_t at) {
  while (at < stored_) {
    auto piece = view(at, chunk_bytes);
    if (!piece) return piece.error();
    if (!format::all_zero(*piece)) return false;
    at += piece->size();
  }
  return true;
}

// Visits the records of the current segment from `at`; returns the in-segment
// offset where they end and, in `status`, what is there.
result<std::uint64_t> tail_scanner::walk(std::uint64_t at, decode_status& status, log_scan& scan) {
  status = decode_status::end;
  while (at < g_.segment_size) {
    auto head = view(at, 4);
    if (!head) return head.error();
    std::uint64_t want = head->size();
    if (head->size() == 4) {
      const std::uint32_t len = format::get_u32(head->data());
      if (len >= format::record_overhead && len <= g_.segment_size - at) want = len;
    }
    auto here = view(at, want);
    if (!here) return here.error();
    std::uint32_t size = 0;
    status = format::check_record_framing(*here, size);
    if (status != decode_status::ok) break;
    visit_(log_locator{partition_, segment_ * g_.segment_size + at}, here->first(size));
    ++scan.records;
    at += size;
  }
  return at;
}

// Reads `length` bytes of `segment` from in-segment offset `base`.
result<void> tail_scanner::load(std::uint64_t segment, std::uint64_t base, std::uint64_t length,
                                segment_bytes& out) {
  out.what = opened_segment::state::missing;
  out.base = base;
  out.bytes.assign(static_cast<std::size_t>(length), std::byte{0});
  if (segment >= max_segments) return {};  // past the last name the layout has: no such segment
  auto opened = open_segment(fs_, dir_, partition_, segment, g_, open_mode::read_only);
  if (!opened) return opened.error();
  out.what = opened->what;
  if (out.what == opened_segment::state::missing) return {};
  auto n = opened->handle->read_at(base, out.bytes);
  if (!n) return io_error_at(n.error(), "reading", name(segment), base);
  return {};
}

// The start of the segment after the current one into next_: the first
// head_probe_bytes after its header, or its whole first record if longer. Only
// its first record matters (the writer starts every segment at offset 256), so
// a prepared segment costs a small read, not a segment of zeros.
result<void> tail_scanner::load_head_of_next() {
  const std::uint64_t room = g_.max_record();
  const std::uint64_t probe = std::min<std::uint64_t>(head_probe_bytes, room);
  if (auto ok = load(segment_ + 1, format::segment_records_start, probe, next_); !ok) return ok;
  const std::uint32_t len = format::get_u32(next_.bytes.data());
  if (next_.what != opened_segment::state::ok || len <= probe || len > room) return {};
  return load(segment_ + 1, format::segment_records_start, len, next_);
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
  auto state = open_current(g_.segment_of(start));
  if (!state) return state.error();
  if (*state != opened_segment::state::ok) {
    const bool known_records = start != g_.records_start(segment_);
    auto empty = zeros_from(format::segment_records_start);
    if (!empty) return empty.error();
    if (known_records || (*state == opened_segment::state::bad_header && !*empty)) {
      return corruption_at(
          *state == opened_segment::state::missing ? "segment missing" : "bad segment header", name(segment_),
          0);
    }
    scan.end = start;
    return scan;
  }
  std::uint64_t at = g_.in_segment(start);
  for (;;) {
    decode_status status = decode_status::end;
    auto x = walk(at, status, scan);
    if (!x) return x.error();
    // Zeros, or fewer than 4 bytes of zeros (no room for a length): the records end here.
    auto zeros_to_end = zeros_from(*x);
    if (!zeros_to_end) return zeros_to_end.error();
    if (auto ok = load_head_of_next(); !ok) return ok.error();
    std::uint32_t head_size = 0;
    const next_head head = head_of_next(head_size);
    if (*zeros_to_end) {
      // A roll-over: the next segment starts with a record that did not fit here.
      if (head == next_head::record && head_size > g_.segment_size - *x) {
        auto next_state = open_current(segment_ + 1);
        if (!next_state) return next_state.error();
        at = format::segment_records_start;
        continue;
      }
      if (head == next_head::nothing) {
        scan.end = segment_ * g_.segment_size + *x;
        return scan;
      }
    }
    return judge(*x, status, std::move(scan));
  }
}

// The log ends at in-segment offset x of the current segment with something
// other than a clean end: a torn tail, or damage if a valid record ends beyond
// the window. The search reads the rest of the segment's file at once (rare: only
// after a crash or damage).
result<log_scan> tail_scanner::judge(std::uint64_t x, decode_status status, log_scan scan) {
  const std::uint64_t end = segment_ * g_.segment_size + x;
  scan.end = end;
  scan.how = log_end_kind::torn;
  const char* what = status == decode_status::corrupt     ? "torn record"
                     : status == decode_status::truncated ? "record past the segment's end"
                                                          : "zeros before more data";
  scan.detail = std::string(what) + " in " + name(segment_) + " at offset " + std::to_string(x);
  if (options_.unsynced_window == unlimited_window) return scan;
  const std::uint64_t limit = end + options_.unsynced_window;
  const auto damage = [&] { return corruption_at("damaged record before valid records", name(segment_), x); };
  segment_bytes rest;
  const std::uint64_t stored = std::max(stored_, x);
  if (auto ok = load(segment_, x, stored - x, rest); !ok) return ok.error();
  for (std::uint64_t j = x + 1; j + format::record_overhead <= stored; ++j) {
    const format::bytes here = rest.from(j);
    const std::uint32_t len = format::get_u32(here.data());
    // Cheap tests first: most offsets fail on the length words alone.
    if (len < format::record_overhead || len > here.size() || format::get_u32(here.data() + len - 4) != len)
      continue;
    std::uint32_t size = 0;
    if (format::check_record_framing(here, size) == decode_status::ok &&
        segment_ * g_.segment_size + j + size > limit)
      return damage();
  }
  std::uint32_t head_size = 0;
  if (head_of_next(head_size) == next_head::record && g_.records_start(segment_ + 1) + head_size > limit) {
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
