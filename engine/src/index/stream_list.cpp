#include "index/stream_list.hpp"

#include "index/group_cursor.hpp"
#include "index/versions_below.hpp"

#include <algorithm>

namespace evstore::detail {
namespace {

bool key_before(std::uint64_t hash, std::string_view name, const listed_stream& b) noexcept {
  return hash != b.hash ? hash < b.hash : name < b.name;
}
bool key_less(const listed_stream& a, const listed_stream& b) noexcept {
  return key_before(a.hash, a.name, b);
}

// One run's streams after the cursor, each with its count in this run (0 when
// none of its positions is below all_count).
class run_streams {
 public:
  run_streams(const std::shared_ptr<const index_run_reader>& run, const list_cursor& after)
      : cursor_(run, after.from_start() ? 0 : run->block_at_or_before({after.hash, after.name, 0})),
        after_(after) {}

  // The next stream into `out`; false at the run's end.
  result<bool> next(std::uint64_t all_count, listed_stream& out) {
    while (true) {
      if (!pending_) {
        auto more = cursor_.advance();
        if (!more) return more.error();
        if (!*more) return false;
        pending_ = true;
      }
      const group_ref g = cursor_.current();
      if (past_cursor_ || after_.before(g.key.hash, g.key.name)) break;
      pending_ = false;  // at or before the cursor: skip
    }
    past_cursor_ = true;
    const group_ref first = cursor_.current();
    out.hash = first.key.hash;
    out.name = std::string(first.key.name);
    out.count = 0;
    while (true) {
      const group_ref g = cursor_.current();
      if (auto n = versions_below(g.key.first_version, g.positions, all_count))
        out.count = std::max(out.count, *n);
      auto more = cursor_.advance();
      if (!more) return more.error();
      pending_ = *more;
      if (!*more) return true;
      const group_ref next = cursor_.current();
      if (next.key.hash != out.hash || next.key.name != out.name) return true;
    }
  }

 private:
  run_cursor cursor_;
  list_cursor after_;
  bool pending_ = false;  // cursor_.current() is a group not yet taken
  bool past_cursor_ = false;
};

// A source of the merge: a memtable's candidates or a run.
struct source {
  std::vector<listed_stream> candidates;
  std::size_t next = 0;
  std::unique_ptr<run_streams> run;
  listed_stream current;
  bool live = false;

  result<void> advance(std::uint64_t all_count) {
    if (run) {
      auto more = run->next(all_count, current);
      if (!more) return more.error();
      live = *more;
      return {};
    }
    live = next < candidates.size();
    if (live) current = std::move(candidates[next++]);
    return {};
  }
};

}  // namespace

std::vector<listed_stream> memtable_candidates(const stream_memtable& m, const list_cursor& after,
                                               std::size_t limit, std::uint64_t all_count) {
  const std::size_t keep = limit == SIZE_MAX ? limit : limit + 1;
  std::vector<listed_stream> out;
  // A max-heap on the key of the `keep` least seen so far.
  for (const auto& [k, e] : m.streams()) {
    if (!after.before(k.hash, k.name)) continue;
    if (!out.empty() && out.size() == keep && !key_before(k.hash, k.name, out.front())) continue;
    const auto n = versions_below(e.first_version, e.positions, all_count);
    if (!n) continue;
    if (out.size() == keep) {
      std::pop_heap(out.begin(), out.end(), key_less);
      out.pop_back();
    }
    out.push_back({k.hash, k.name, *n});
    std::push_heap(out.begin(), out.end(), key_less);
  }
  std::sort_heap(out.begin(), out.end(), key_less);
  return out;
}

result<stream_page> merge_stream_page(std::vector<std::vector<listed_stream>> memtables,
                                      const std::vector<std::shared_ptr<const index_run_reader>>& runs,
                                      const list_cursor& after, std::size_t limit, std::uint64_t all_count) {
  std::vector<source> sources(memtables.size() + runs.size());
  for (std::size_t i = 0; i < memtables.size(); ++i) sources[i].candidates = std::move(memtables[i]);
  for (std::size_t i = 0; i < runs.size(); ++i)
    sources[memtables.size() + i].run = std::make_unique<run_streams>(runs[i], after);
  for (source& s : sources)
    if (auto r = s.advance(all_count); !r) return r.error();
  stream_page page;
  while (page.streams.size() <= limit) {
    const source* least = nullptr;
    for (const source& s : sources)
      if (s.live && (least == nullptr || key_less(s.current, least->current))) least = &s;
    if (least == nullptr) break;
    listed_stream next{least->current.hash, least->current.name, 0};
    for (source& s : sources) {
      if (!s.live || s.current.hash != next.hash || s.current.name != next.name) continue;
      next.count = std::max(next.count, s.current.count);
      if (auto r = s.advance(all_count); !r) return r.error();
    }
    if (next.count > 0) page.streams.push_back(std::move(next));
  }
  if (page.streams.size() > limit) {
    page.streams.resize(limit);
    page.more = true;
  }
  return page;
}

}  // namespace evstore::detail
