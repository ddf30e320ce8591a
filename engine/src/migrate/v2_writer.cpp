#include "migrate/v2_writer.hpp"

#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/store_json.hpp"
#include "format/stream_name.hpp"
#include "index/index_manifest.hpp"
#include "index/stream_index.hpp"
#include "io/file_error.hpp"
#include "log/log_layout.hpp"
#include "log/partition_writer.hpp"
#include "log/partitioner.hpp"

#include <utility>

namespace evstore::detail::migrate {
namespace {

// The runs compaction lets accumulate while writing (the store's own bound,
// stream_index::options::max_runs); finish() leaves one.
constexpr std::size_t max_runs_while_writing = 8;

std::string at_position(std::uint64_t position) {
  return "event at position " + std::to_string(position) + ": ";
}

}  // namespace

v2_writer::v2_writer(std::shared_ptr<file_system> fs, std::string dir, v2_writer_options options)
    : fs_(std::move(fs)), dir_(std::move(dir)), options_(options) {}

v2_writer::~v2_writer() = default;

result<std::unique_ptr<v2_writer>> v2_writer::create(std::shared_ptr<file_system> fs, std::string dir,
                                                     v2_writer_options options) {
  if (options.partitions < 1 || options.partitions > max_partitions) {
    return error(errc::invalid_argument, "partitions " + std::to_string(options.partitions) +
                                             " is not in [1, " + std::to_string(max_partitions) + "]");
  }
  if (auto ok = check_geometry(log_geometry{options.segment_size}); !ok) return ok.error();
  if (options.memtable_bytes == 0 || options.write_buffer_bytes == 0)
    return error(errc::invalid_argument, "a memtable or write buffer bound of 0 bytes");
  if (fs->exists(dir)) {
    auto names = fs->list(dir);
    if (!names) return io_error_at(names.error(), "listing", dir, 0);
    if (!names->empty()) return error(errc::invalid_argument, dir + " is not empty");
  }
  std::unique_ptr<v2_writer> w(new v2_writer(std::move(fs), std::move(dir), options));
  if (auto ok = w->open(); !ok) return ok.error();
  return w;
}

result<void> v2_writer::open() {
  if (auto ec = fs_->create_directories(dir_)) return io_error_at(ec, "creating the directory", dir_, 0);
  const log_geometry g{options_.segment_size};
  for (std::uint32_t p = 0; p < options_.partitions; ++p) {
    auto log =
        partition_writer::open({fs_, dir_, static_cast<std::uint16_t>(p), g, default_unsynced_window, 0}, 0);
    if (!log) return log.error();
    logs_.push_back(std::move(*log));
  }
  // max_runs 1: compact() merges every run into one (finish() leaves one run).
  auto index = stream_index::open(fs_, layout::index_dir(dir_), {.max_runs = 1, .read_only = false});
  if (!index) return index.error();
  index_ = std::move(*index);
  const std::string all_path = layout::all_entries(dir_);
  auto all = fs_->open(all_path, open_mode::read_write_create);
  if (!all) return io_error_at(all.error(), "creating", "index/all.idx", 0);
  all_ = std::move(*all);
  return {};
}

error v2_writer::fail(error e) {
  failed_ = e;
  return e;
}

result<void> v2_writer::add(const v2_event& e) {
  if (failed_) return *failed_;
  if (finished_) return error(errc::invalid_argument, "the store is finished");
  const std::uint64_t position = count_ + pending_.size();
  if (validate_stream_name(e.stream, name_use::read)) {
    return fail(error(errc::invalid_argument,
                      at_position(position) + "invalid stream name \"" + std::string(e.stream) + "\""));
  }
  pending_.push_back({std::string(e.stream), e.version, e.committed_at, e.id, std::string(e.type),
                      std::string(e.data), std::string(e.metadata)});
  if (!e.commit_end) return {};
  return write_commit();
}

// The append in progress, now complete: each record goes to its partition's
// buffer, its entry to all.idx's, its position to the stream index.
result<void> v2_writer::write_commit() {
  const std::uint64_t first = count_;
  const auto n = static_cast<std::uint32_t>(pending_.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    const pending_event& e = pending_[i];
    const std::uint64_t position = first + i;
    auto last = index_->last_version(e.stream);
    if (!last) return fail(last.error());
    const std::uint64_t expected = *last ? **last + 1 : 0;
    if (e.version != expected) {
      return fail(error(errc::invalid_argument, at_position(position) + "stream \"" + e.stream +
                                                    "\" version " + std::to_string(e.version) +
                                                    ", expected " + std::to_string(expected)));
    }
    format::record_fields f;
    f.stream = e.stream;
    f.position = position;
    f.version = e.version;
    f.committed_at = e.committed_at;
    f.commit_first_position = first;
    f.commit_count = n;
    f.commit_end = i + 1 == n;
    f.id = e.id;
    f.type = e.type;
    f.data = e.data;
    f.metadata = e.metadata;
    const std::size_t size = format::record_size(f);
    if (size > format::max_record_size) {
      return fail(error(errc::invalid_argument,
                        at_position(position) + "record of " + std::to_string(size) + " bytes is too large"));
    }
    record_.resize(size);
    format::encode_record(f, record_);
    const std::uint16_t partition = default_partition(e.stream, options_.partitions);
    auto at = logs_[partition]->append(record_);
    if (!at) return fail(error(at.error().code, at_position(position) + at.error().detail));
    std::array<std::byte, format::all_entry2_size> entry{};
    format::encode_all_entry2({partition, at->offset, static_cast<std::uint32_t>(size), f.commit_end}, entry);
    all_buffer_.insert(all_buffer_.end(), entry.begin(), entry.end());
    index_->add(e.stream, e.version, position);
    if (e.version == 0) ++streams_;
    buffered_ += size;
  }
  count_ = first + n;
  pending_.clear();
  if (buffered_ >= options_.write_buffer_bytes) {
    if (auto ok = write_buffered(false); !ok) return ok;
  }
  if (index_->sizes().live_bytes >= options_.memtable_bytes) return write_index_run();
  return {};
}

// The records buffered in the partition writers, then their all.idx entries.
result<void> v2_writer::write_buffered(bool sync) {
  for (auto& log : logs_) {
    if (auto ok = log->flush(sync); !ok) return fail(ok.error());
  }
  if (!all_buffer_.empty()) {
    const std::uint64_t offset = all_written_ * format::all_entry2_size;
    if (auto ec = all_->write_at(offset, all_buffer_))
      return fail(io_error_at(ec, "writing", "index/all.idx", offset));
    all_written_ += all_buffer_.size() / format::all_entry2_size;
    all_buffer_.clear();
  }
  if (sync) {
    if (auto ec = all_->sync()) return fail(io_error_at(ec, "syncing", "index/all.idx", 0));
  }
  buffered_ = 0;
  return {};
}

result<void> v2_writer::write_index_run() {
  if (auto ok = index_->freeze_and_write_run(); !ok) return fail(ok.error());
  if (index_->runs().size() > max_runs_while_writing) {
    if (auto ok = index_->compact(); !ok) return fail(ok.error());
  }
  return {};
}

// A new file of a few bytes, synced (its name is made durable by the
// directory sync that follows).
result<void> v2_writer::write_small_file(const std::string& path, std::span<const std::byte> bytes) {
  const std::string name = path.substr(dir_.size() + 1);
  auto f = fs_->open(path, open_mode::read_write_create);
  if (!f) return fail(io_error_at(f.error(), "creating", name, 0));
  if (auto ec = (*f)->write_at(0, bytes)) return fail(io_error_at(ec, "writing", name, 0));
  if (auto ec = (*f)->sync()) return fail(io_error_at(ec, "syncing", name, 0));
  return {};
}

result<v2_written> v2_writer::finish() {
  if (failed_) return *failed_;
  if (finished_) return error(errc::invalid_argument, "the store is finished");
  if (!pending_.empty()) {
    return fail(error(errc::invalid_argument, at_position(count_ + pending_.size() - 1) +
                                                  "the last event added does not end its append"));
  }
  if (auto ok = write_buffered(true); !ok) return ok.error();
  // The stream index: the last run, then one run covering all of $all.
  if (auto ok = index_->freeze_and_write_run(); !ok) return fail(ok.error());
  if (auto ok = index_->compact(); !ok) return fail(ok.error());
  const std::string index_dir = layout::index_dir(dir_);
  if (index_->runs().empty()) {  // no event: an empty manifest still says "a new index"
    if (auto ok = index_manifest{}.write(*fs_, index_dir); !ok) return fail(ok.error());
  }
  v2_written written{count_, streams_, {}};
  for (const auto& log : logs_) written.ends.push_back(log->synced_end());

  // Sequence 1 in slot 1 (slot = sequence % 2, as the store alternates), so the
  // store's first checkpoint (sequence 2, slot 0) never overwrites this one.
  const std::size_t slot = format::checkpoint2_slot_size(options_.partitions);
  std::vector<std::byte> checkpoint(format::checkpoint2_file_size(options_.partitions));
  format::encode_checkpoint2({1, count_, streams_, written.ends}, std::span(checkpoint).subspan(slot));
  if (auto ok = write_small_file(layout::checkpoint(dir_), checkpoint); !ok) return ok.error();
  std::array<std::byte, format::head_size> head{};
  format::encode_head(count_, head);
  if (auto ok = write_small_file(layout::head(dir_), head); !ok) return ok.error();
  if (auto ec = fs_->sync_directory(index_dir))
    return fail(io_error_at(ec, "syncing the directory", "index", 0));
  if (auto ec = fs_->sync_directory(dir_)) return fail(io_error_at(ec, "syncing the directory", dir_, 0));
  logs_.clear();
  all_.reset();
  index_.reset();
  if (auto ok = write_store_json(*fs_, dir_, {2, options_.partitions, options_.segment_size}); !ok)
    return fail(ok.error());
  const std::string parent = layout::parent_directory(dir_);
  if (auto ec = fs_->sync_directory(parent)) return fail(io_error_at(ec, "syncing the directory", parent, 0));
  finished_ = true;
  return written;
}

}  // namespace evstore::detail::migrate
