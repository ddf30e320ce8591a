#include "index/merge_runs.hpp"

#include "index/group_cursor.hpp"

#include <algorithm>

namespace evstore::detail {
namespace {

run_format::run_header merged_header(std::uint64_t seq,
                                     const std::vector<std::shared_ptr<const index_run_reader>>& runs,
                                     const stream_memtable* frozen) {
  run_format::run_header h{seq, UINT64_MAX, 0};
  auto cover = [&](std::uint64_t first, std::uint64_t end) {
    if (first == end) return;
    h.first_position = std::min(h.first_position, first);
    h.end_position = std::max(h.end_position, end);
  };
  for (const auto& run : runs) cover(run->header().first_position, run->header().end_position);
  if (frozen != nullptr && !frozen->empty()) cover(frozen->first_position(), frozen->end_position());
  if (h.first_position > h.end_position) h.first_position = 0;
  return h;
}

}  // namespace

result<run_summary> merge_runs(file_system& fs, const std::string& path, std::uint64_t seq,
                               const std::vector<std::shared_ptr<const index_run_reader>>& runs,
                               const stream_memtable* frozen) {
  std::vector<std::unique_ptr<group_cursor>> inputs;
  inputs.reserve(runs.size() + 1);
  for (const auto& run : runs) inputs.push_back(std::make_unique<run_cursor>(run));
  if (frozen != nullptr) inputs.push_back(std::make_unique<memtable_cursor>(*frozen));
  std::vector<group_cursor*> live;
  for (auto& in : inputs) {
    auto more = in->advance();
    if (!more) return more.error();
    if (*more) live.push_back(in.get());
  }
  auto writer = index_run_writer::create(fs, path, merged_header(seq, runs, frozen));
  if (!writer) return writer.error();
  continuity_check check;
  while (!live.empty()) {
    // A handful of inputs (the compaction bound): a linear scan beats a heap.
    auto least = std::min_element(live.begin(), live.end(), [](group_cursor* a, group_cursor* b) {
      return a->current().key < b->current().key;
    });
    group_cursor* in = *least;
    const group_ref g = in->current();
    if (auto r = check.next(g, in->source()); !r) return r.error();
    if (auto r = writer->add(g.key.hash, g.key.name, g.key.first_version, g.positions); !r) return r.error();
    auto more = in->advance();
    if (!more) return more.error();
    if (!*more) live.erase(least);
  }
  return writer->finish();
}

}  // namespace evstore::detail
