#include "log/partition_writer.hpp"

#include "io/file_error.hpp"
#include "log/segment_file.hpp"
#include "require.hpp"

#include <algorithm>
#include <utility>

namespace evstore::detail {
namespace {

// The length of a framed record; 0 if it would run past `in`.
std::uint64_t framed_length(format::bytes in) {
  if (in.size() < 4) return 0;
  const std::uint32_t n = format::get_u32(in.data());
  return n <= in.size() ? n : 0;
}

// How many bytes from the start of `in` (whole records, at least one) fit in
// `window`: where a flush longer than the window is cut between two syncs.
std::size_t piece_length(format::bytes in, std::uint64_t window) {
  std::size_t n = 0;
  while (n < in.size()) {
    const std::uint64_t len = framed_length(in.subspan(n));
    if (len == 0 || (n > 0 && n + len > window)) break;
    n += static_cast<std::size_t>(len);
  }
  return n == 0 ? in.size() : n;
}

}  // namespace

partition_writer::partition_writer(partition_writer_options options) : options_(std::move(options)) {}

partition_writer::~partition_writer() = default;

result<std::unique_ptr<partition_writer>> partition_writer::open(partition_writer_options options,
                                                                 std::uint64_t end) {
  auto w = attach(std::move(options), end);
  if (!w) return w.error();
  if (auto ok = (*w)->ready(); !ok) return ok.error();
  return w;
}

result<std::unique_ptr<partition_writer>> partition_writer::attach(partition_writer_options options,
                                                                   std::uint64_t end) {
  if (auto ok = check_geometry(options.geometry); !ok) return ok.error();
  if (options.partition >= max_partitions) {
    return error{errc::invalid_argument, "partition " + std::to_string(options.partition) + " >= 1000"};
  }
  if (options.unsynced_window == 0) return error{errc::invalid_argument, "unsynced window of 0 bytes"};
  std::unique_ptr<partition_writer> w(new partition_writer(std::move(options)));
  end = w->options_.geometry.normalize(end);
  if (auto ok = w->attach_segment_at(end); !ok) return ok.error();
  w->end_ = w->written_ = w->synced_ = end;
  return w;
}

// The segment that holds `end`: it must exist with a good header unless no
// record precedes `end` in it (then ready() creates it). Reads only.
result<void> partition_writer::attach_segment_at(std::uint64_t end) {
  const log_geometry& g = options_.geometry;
  segment_ = g.segment_of(end);
  if (segment_ >= max_segments) return error{errc::invalid_argument, "log offset beyond the last segment"};
  auto opened =
      open_segment(*options_.fs, options_.directory, options_.partition, segment_, g, open_mode::read_write);
  if (!opened) return opened.error();
  if (opened->what != opened_segment::state::ok) {
    if (end != g.records_start(segment_)) {
      return corruption_at(
          opened->what == opened_segment::state::missing ? "segment missing" : "bad segment header",
          current_name(), 0);
    }
    return {};  // current_ stays empty: ready() creates the segment
  }
  current_ = std::move(opened->handle);
  auto size = current_->size();
  if (!size) return io_error_at(size.error(), "sizing", current_name(), 0);
  allocated_ = *size;
  return {};
}

// Creates the segment attach() found missing, and allocates it ahead of the
// end in case a crash cut its creation short.
result<void> partition_writer::ready() {
  if (failed_) return *failed_;
  const log_geometry& g = options_.geometry;
  const std::uint64_t target = allocation_target(g.in_segment(end_));
  if (!current_) {
    auto created = create_segment(*options_.fs, options_.directory, options_.partition, segment_, g, target);
    if (!created) return created.error();
    current_ = std::move(*created);
    allocated_ = std::max<std::uint64_t>(target, format::file_header_size);
    return {};
  }
  if (allocated_ < target) {
    if (auto ec = current_->allocate(target))
      return io_error_at(ec, "allocating", current_name(), allocated_);
    if (auto ec = current_->sync()) return io_error_at(ec, "syncing", current_name(), 0);
    allocated_ = target;
  }
  return {};
}

// The allocated size wanted with records up to in-segment offset `to`: 0
// (nothing) without allocate_ahead.
std::uint64_t partition_writer::allocation_target(std::uint64_t to) const {
  const std::uint64_t ahead = options_.allocate_ahead;
  if (ahead == 0) return 0;
  const std::uint64_t size = options_.geometry.segment_size;
  return ahead >= size - std::min(to, size) ? size : to + ahead;
}

result<void> partition_writer::allocate_to(std::uint64_t to) {
  const std::uint64_t target = allocation_target(to);
  if (target <= allocated_) return {};
  if (auto ec = current_->allocate(target))
    return fail(io_error_at(ec, "allocating", current_name(), allocated_));
  if (auto ok = sync_current(); !ok) return ok;
  allocated_ = target;
  return {};
}

bool partition_writer::should_extend() const {
  if (failed_ || options_.allocate_ahead == 0) return false;
  const log_geometry& g = options_.geometry;
  if (g.segment_of(end_) != segment_) return false;
  const std::uint64_t at = g.in_segment(end_);
  return allocated_ < g.segment_size && allocated_ - std::min(allocated_, at) < options_.allocate_ahead / 2;
}

result<void> partition_writer::extend() {
  if (failed_) return *failed_;
  if (options_.geometry.segment_of(end_) != segment_) return {};
  return allocate_to(options_.geometry.in_segment(end_));
}

result<log_locator> partition_writer::append(format::bytes record) {
  if (failed_) return *failed_;
  const log_geometry& g = options_.geometry;
  const std::uint64_t n = record.size();
  // A record that fails framing would end the log at the next scan and cut every
  // record after it as a torn tail: refuse it here (a checksum of the record).
  std::uint32_t framed = 0;
  if (format::check_record_framing(record, framed) != format::decode_status::ok || framed != n) {
    return error{errc::invalid_argument, "not one framed record"};
  }
  if (n > g.max_record()) {
    return error{errc::invalid_argument,
                 "record of " + std::to_string(n) + " bytes does not fit in a segment"};
  }
  std::uint64_t at = g.normalize(end_);
  // Records never span segments: one that does not fit starts the next.
  if (g.in_segment(at) + n > g.segment_size) at = g.records_start(g.segment_of(at) + 1);
  if (at + n > max_log_offset || g.segment_of(at) >= max_segments) {
    return error{errc::invalid_argument, "partition log full"};
  }
  const std::uint64_t segment = g.segment_of(at);
  if (runs_used_ == 0 || runs_[runs_used_ - 1].segment != segment) {
    if (runs_used_ == runs_.size()) runs_.emplace_back();
    run& r = runs_[runs_used_++];
    r.segment = segment;
    r.start = at;
    r.bytes.clear();
  }
  std::vector<std::byte>& buffer = runs_[runs_used_ - 1].bytes;
  buffer.insert(buffer.end(), record.begin(), record.end());
  end_ = at + n;
  return log_locator{options_.partition, at};
}

result<void> partition_writer::flush(bool sync) {
  if (failed_) return *failed_;
  EVSTORE_REQUIRE(current_ || runs_used_ == 0);  // attach() without ready()
  for (std::size_t i = 0; i < runs_used_; ++i) {
    const run& r = runs_[i];
    if (r.segment != segment_) {
      if (auto ok = roll_to(r.segment); !ok) return ok;
    }
    const std::uint64_t run_end = options_.geometry.in_segment(r.start) + r.bytes.size();
    if (options_.allocate_ahead != 0 && run_end > allocated_) {
      if (auto ok = allocate_to(run_end); !ok) return ok;
    }
    if (auto ok = write_run(r, sync); !ok) return ok;
    written_ = r.start + r.bytes.size();
    if (sync) synced_ = written_;
  }
  runs_used_ = 0;
  // A burst's buffers go back (steady flushes reuse theirs).
  for (run& r : runs_) {
    if (r.bytes.capacity() > (std::size_t{1} << 20)) r.bytes = {};
  }
  if (sync && synced_ < written_) {  // bytes of earlier flushes without sync
    if (auto ok = sync_current(); !ok) return ok;
    synced_ = written_;
  }
  return {};
}

// Leaves segment_ for `segment` (segment_ + 1 or later): syncs the old one
// first, so an unsynced region never spans two segments, then takes the
// prepared next segment or creates it here.
result<void> partition_writer::roll_to(std::uint64_t segment) {
  if (synced_ < written_) {
    if (auto ok = sync_current(); !ok) return ok;
  }
  synced_ = written_ = options_.geometry.records_start(segment);
  const std::uint64_t target = allocation_target(format::file_header_size);
  if (next_ && segment == segment_ + 1) {
    current_ = std::move(next_);
  } else {
    next_.reset();
    auto created = create_segment(*options_.fs, options_.directory, options_.partition, segment,
                                  options_.geometry, target);
    if (!created) return fail(created.error());
    current_ = std::move(*created);
  }
  allocated_ = std::max<std::uint64_t>(target, format::file_header_size);
  segment_ = segment;
  return {};
}

result<void> partition_writer::write_run(const run& r, bool sync) {
  const std::uint64_t at = options_.geometry.in_segment(r.start);
  const format::bytes all(r.bytes);
  if (!sync) return write_piece(at, all, false);
  for (std::size_t done = 0; done < all.size();) {
    const std::size_t n = piece_length(all.subspan(done), options_.unsynced_window);
    if (auto ok = write_piece(at + done, all.subspan(done, n), true); !ok) return ok;
    done += n;
  }
  return {};
}

result<void> partition_writer::write_piece(std::uint64_t offset, format::bytes piece, bool sync) {
  if (auto ec = current_->write_at(offset, piece))
    return fail(io_error_at(ec, "writing", current_name(), offset));
  return sync ? sync_current() : result<void>{};
}

result<void> partition_writer::sync_current() {
  if (auto ec = current_->sync()) return fail(io_error_at(ec, "syncing", current_name(), 0));
  return {};
}

bool partition_writer::should_prepare_next() const {
  if (failed_ || next_) return false;
  const log_geometry& g = options_.geometry;
  return g.segment_of(end_) > segment_ || g.in_segment(end_) > g.segment_size / 2;
}

result<void> partition_writer::prepare_next() {
  if (failed_) return *failed_;
  if (next_) return {};
  if (segment_ + 1 >= max_segments) return {};  // the log is full: appends will say so
  auto created = create_segment(*options_.fs, options_.directory, options_.partition, segment_ + 1,
                                options_.geometry, allocation_target(format::file_header_size));
  if (!created) return fail(created.error());
  next_ = std::move(*created);
  return {};
}

result<void> partition_writer::fail(error e) {
  failed_ = e;
  return e;
}

std::string partition_writer::current_name() const {
  return segment_relative_path(options_.partition, segment_);
}

}  // namespace evstore::detail
