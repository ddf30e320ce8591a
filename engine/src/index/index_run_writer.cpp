#include "index/index_run_writer.hpp"

#include "index/bloom_filter.hpp"
#include "io/file_error.hpp"

#include <array>

namespace evstore::detail {
namespace {

constexpr std::size_t write_buffer_size = std::size_t{1} << 20;

}  // namespace

index_run_writer::index_run_writer(std::unique_ptr<file> f, std::string path, run_format::run_header header)
    : file_(std::move(f)), path_(std::move(path)), header_(header), out_offset_(run_format::header_size) {}

result<index_run_writer> index_run_writer::create(file_system& fs, std::string path,
                                                  run_format::run_header header) {
  auto f = fs.open(path, open_mode::read_write_create);
  if (!f) return io_error_at(f.error(), "creating", path, 0);
  if (auto ec = (*f)->truncate(0)) return io_error_at(ec, "truncating", path, 0);
  std::array<std::byte, run_format::header_size> h{};
  run_format::encode_header(header, h);
  if (auto ec = (*f)->write_at(0, h)) return io_error_at(ec, "writing", path, 0);
  return index_run_writer(std::move(*f), std::move(path), header);
}

result<void> index_run_writer::add(std::uint64_t hash, std::string_view name, std::uint64_t first_version,
                                   std::span<const std::uint64_t> positions) {
  if (positions.empty()) return {};
  if (name.empty() || name.size() > run_format::max_name_size)
    return error(errc::invalid_argument, "stream index: bad stream name length");
  const bool same = has_pending_ && hash == pending_hash_ && name == pending_name_;
  if (same) {
    if (first_version != pending_first_ + pending_.size())
      return error(errc::invalid_argument,
                   "stream index: versions of " + std::string(name) + " not contiguous");
  } else {
    if (has_pending_ && !(stream_key_view{pending_hash_, pending_name_, 0} < stream_key_view{hash, name, 0}))
      return error(errc::invalid_argument, "stream index: " + std::string(name) + " out of key order");
    if (has_pending_ && !pending_.empty())
      if (auto r = emit_group(pending_.size()); !r) return r;
    pending_hash_ = hash;
    pending_name_ = std::string(name);
    pending_first_ = first_version;
    pending_.clear();
    has_pending_ = true;
    hashes_.push_back(hash);
  }
  bool follows = same;  // a name's positions strictly increase; names are in key order, not position order
  for (const std::uint64_t p : positions) {
    if (follows && p <= last_position_)
      return error(errc::invalid_argument,
                   "stream index: positions of " + std::string(name) + " not increasing");
    if (p < header_.first_position || p >= header_.end_position)
      return error(errc::invalid_argument, "stream index: position outside the run's range");
    pending_.push_back(p);
    last_position_ = p;
    follows = true;
    ++events_;
    if (pending_.size() == run_format::max_group_positions)
      if (auto r = emit_group(pending_.size()); !r) return r;
  }
  return {};
}

// Encodes the pending group into the current block (closing the block first when
// the group would take it past the target size) and starts the name's next group.
result<void> index_run_writer::emit_group(std::size_t count) {
  const std::span<const std::uint64_t> positions(pending_.data(), count);
  const std::size_t size = run_format::group_size(pending_name_, pending_first_, positions);
  if (!block_.empty() && block_.size() + size + run_format::crc_size > run_format::block_target_size)
    if (auto r = close_block(); !r) return r;
  if (block_.empty())
    block_fence_ = {out_offset_ + out_.size(), 0, pending_hash_, pending_name_, pending_first_};
  run_format::encode_group(block_, {pending_hash_, pending_name_, pending_first_}, positions);
  pending_first_ += count;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  return {};
}

result<void> index_run_writer::close_block() {
  run_format::append_block_crc(block_);
  block_fence_.length = static_cast<std::uint32_t>(block_.size());
  fences_.push_back(std::move(block_fence_));
  out_.insert(out_.end(), block_.begin(), block_.end());
  block_.clear();
  if (out_.size() >= write_buffer_size) return write_out();
  return {};
}

result<void> index_run_writer::write_out() {
  if (out_.empty()) return {};
  if (auto ec = file_->write_at(out_offset_, out_)) return io_error_at(ec, "writing", path_, out_offset_);
  out_offset_ += out_.size();
  out_.clear();
  return {};
}

result<run_summary> index_run_writer::finish() {
  if (has_pending_ && !pending_.empty())
    if (auto r = emit_group(pending_.size()); !r) return r.error();
  if (!block_.empty())
    if (auto r = close_block(); !r) return r.error();
  run_format::run_footer footer;
  footer.header = header_;
  footer.stream_count = hashes_.size();
  footer.event_count = events_;
  bloom_filter bloom(hashes_.size());
  for (const std::uint64_t h : hashes_) bloom.add(h);
  footer.bloom.assign(bloom.bytes().begin(), bloom.bytes().end());
  footer.fences = std::move(fences_);
  const std::uint64_t footer_offset = out_offset_ + out_.size();
  const std::vector<std::byte> encoded = run_format::encode_footer(footer);
  out_.insert(out_.end(), encoded.begin(), encoded.end());
  std::array<std::byte, run_format::trailer_size> trailer{};
  run_format::encode_trailer({footer_offset, encoded.size()}, trailer);
  out_.insert(out_.end(), trailer.begin(), trailer.end());
  const std::uint64_t file_bytes = out_offset_ + out_.size();
  if (auto r = write_out(); !r) return r.error();
  if (auto ec = file_->sync()) return io_error_at(ec, "syncing", path_, 0);
  return run_summary{header_, footer.stream_count, events_, file_bytes, encoded.size()};
}

}  // namespace evstore::detail
