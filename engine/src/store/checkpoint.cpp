// Checkpoints (format.hpp, "Checkpoint of format 2"): what bounds the work of
// the next open. A checkpoint at $all count N syncs every partition log and
// $all's entries below N, writes the stream index's memtable as a run (the
// index's manifest then covers $all below N) and compacts the runs, and only
// then records N, the stream count and each log's end in index/checkpoint.
// Recovery trusts everything below the checkpoint and scans the logs from
// their recorded ends.
//
// Due every checkpoint_interval events, when the memtable passes its byte
// bound (it costs ~136 bytes per stream touched since the last run), and at
// close. Runs within the flush that makes it due (flush.cpp, on the flush's
// thread), at close on the I/O thread as the flush in flight, or in the
// destructor when nothing else runs.
#include "format/layout.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

namespace evstore::detail {
namespace {

// The memtable is written as a run past this size even between intervals.
constexpr std::size_t memtable_bound_bytes = std::size_t{64} << 20;

}  // namespace

bool store_impl::checkpoint_due(std::uint64_t count) const {
  if (count == checkpoint_count_) return false;
  return count - checkpoint_count_ >= options_.checkpoint_interval ||
         index_->sizes().live_bytes >= memtable_bound_bytes;
}

boost::system::error_code store_impl::write_checkpoint(std::uint64_t count, std::uint64_t streams) {
  format::checkpoint2 cp;
  cp.all_count = count;
  cp.stream_count = streams;
  for (auto& p : partitions_) {
    if (auto ok = p->flush(true); !ok) return ok.error().code;
    cp.ends.push_back(p->written_end());
  }
  stat_fsyncs_.fetch_add(partitions_.size(), std::memory_order_relaxed);
  if (auto ec = all_file_->sync()) return ec;
  EVSTORE_KILL_POINT("checkpoint_synced");
  if (auto ok = index_->freeze_and_write_run(); !ok) return ok.error().code;
  if (auto ok = index_->compact(); !ok) return ok.error().code;
  EVSTORE_KILL_POINT("checkpoint_indexed");
  cp.sequence = ++checkpoint_sequence_;
  std::vector<std::byte> slot(format::checkpoint2_slot_size(partitions_.size()));
  format::encode_checkpoint2(cp, slot);
  const std::string path = layout::checkpoint(options_.directory);
  auto f = files_->get(path);
  if (!f) f = files_->create(path);
  if (!f) return f.error();
  if (auto ec = (*f)->file->write_at((cp.sequence % 2) * slot.size(), slot)) return ec;
  if (auto ec = (*f)->file->sync()) return ec;
  stat_fsyncs_.fetch_add(2, std::memory_order_relaxed);
  checkpoint_count_ = count;
  checkpoint_streams_ = cp.stream_count;
  return {};
}

boost::system::error_code store_impl::prepare_logs() {
  for (auto& p : partitions_) {
    if (p->should_prepare_next()) {
      if (auto ok = p->prepare_next(); !ok) return ok.error().code;
    }
    if (p->should_extend()) {
      if (auto ok = p->extend(); !ok) return ok.error().code;
    }
  }
  return {};
}

}  // namespace evstore::detail
