// Folding $lifecycle into the lifecycle table: at open, everything; in a
// follower's refresh, the events the writer published since (lifecycle.hpp).
// The writer itself sets its changes as it publishes them (flush.cpp).
#include "store/store_impl.hpp"

namespace evstore::detail {

result<void> store_impl::fold_lifecycle(std::uint64_t all_count) {
  auto count = index_->count_below(lifecycle_stream, all_count);
  if (!count) return count.error();
  constexpr std::uint64_t chunk = 1024;
  for (std::uint64_t from = lifecycle_.folded(); from < *count;) {
    const std::uint64_t n = std::min(chunk, *count - from);
    page_storage storage;
    auto records = read_stream_records(lifecycle_stream, from, n, all_count, storage);
    if (!records) return records.error();
    for (const format::decoded_record& r : records->records) {
      if (r.fields.type != lifecycle_event_type) continue;
      if (auto change = parse_lifecycle_event(r.fields.data)) lifecycle_.set(change->first, change->second);
    }
    from += n;
    lifecycle_.set_folded(from);
  }
  return {};
}

}  // namespace evstore::detail
