// The journal's writer (journal_writer.hpp).
#include "journal/journal_writer.hpp"

#include "format/format.hpp"

#include <algorithm>

namespace evstore::detail {

journal_writer::journal_writer(std::shared_ptr<cached_file> file, std::uint64_t end)
    : file_(std::move(file)), end_(end) {}

boost::system::error_code journal_writer::add(std::vector<std::byte>& frame) {
  frame.resize(format::journal_align(frame.size()));  // zero padding
  const std::uint64_t end = end_ + frame.size();
  if (auto ec = ensure_allocated(end)) return ec;
  if (auto ec = file_->file->write_at(end_, frame)) return ec;
  file_->note_written(end);
  if (auto ec = file_->file->sync()) return ec;
  end_ = end;
  return {};
}

void journal_writer::restart() { end_ = format::journal_frame_alignment; }

boost::system::error_code journal_writer::ensure_allocated(std::uint64_t end) {
  // Only the journal, the one file synced per flush, is preallocated:
  // overwriting allocated blocks makes fdatasync a data-only flush, while
  // growing the file each time costs a metadata commit (~2x slower here).
  cached_file& f = *file_;
  if (end <= f.allocated) return {};
  constexpr std::uint64_t min_step = 64 * 1024;
  constexpr std::uint64_t max_step = 16 * 1024 * 1024;
  const std::uint64_t step = std::clamp<std::uint64_t>(f.allocated, min_step, max_step);
  std::uint64_t target = std::max(end, f.allocated + step);
  target = (target + min_step - 1) / min_step * min_step;
  if (auto ec = f.file->allocate(target)) return ec;
  f.allocated = target;
  return {};
}

}  // namespace evstore::detail
