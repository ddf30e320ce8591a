// The stream index's threading contract (stream_index.hpp): one writer thread
// (adds, freezes, compactions; a follower's adds and refreshes) and reader
// threads looking up at the same time. Readers check what they see against
// the $all count published before each read: a contiguous prefix of the
// stream's versions with the right positions, never fewer than published.
// Run under ThreadSanitizer by tools/setup.sh tsan.
#include "index/stream_index.hpp"
#include "support/forwarding_file_system.hpp"
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace evstore;
using namespace evstore::detail;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

using clock_type = std::chrono::steady_clock;

// The appends both sides know in advance: event k is at position k, of stream
// stream_of[k]; positions[s] lists stream s's positions by version.
struct workload {
  std::vector<std::string> names;
  std::vector<std::uint32_t> stream_of;
  std::vector<std::uint64_t> version_of;
  std::vector<std::vector<std::uint64_t>> positions;

  workload(std::size_t streams, std::size_t events, std::uint64_t seed) : positions(streams) {
    for (std::size_t s = 0; s < streams; ++s) names.push_back("stream-" + std::to_string(s));
    std::mt19937_64 rng(seed);
    for (std::uint64_t k = 0; k < events; ++k) {
      // A few hot streams and a long tail, as aggregates are appended to.
      const auto s = static_cast<std::uint32_t>(rng() % 4 == 0 ? rng() % 4 : rng() % streams);
      stream_of.push_back(s);
      version_of.push_back(positions[s].size());
      positions[s].push_back(k);
    }
  }
  std::size_t events() const { return stream_of.size(); }
  std::uint64_t count_below(std::size_t s, std::uint64_t all_count) const {
    const auto& p = positions[s];
    return static_cast<std::uint64_t>(std::lower_bound(p.begin(), p.end(), all_count) - p.begin());
  }
  stream_index::entry entry(std::uint64_t k) const { return {names[stream_of[k]], version_of[k], k}; }
};

// Collects the first few failures of any thread.
class failures {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    if (list_.size() < 10) list_.push_back(std::move(what));
    ++count_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& f : list_) out += f + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> list_;
  std::size_t count_ = 0;
};

// One reader's checks of `index` against the workload, with the count
// published before it started (everything below it is indexed) as the cut.
void check_once(const stream_index& index, const workload& w, std::uint64_t published, std::mt19937_64& rng,
                failures& fail) {
  const std::size_t s = rng() % w.names.size();
  const std::string& name = w.names[s];
  const std::vector<std::uint64_t>& truth = w.positions[s];
  const std::uint64_t expected = w.count_below(s, published);
  const auto where = [&] { return name + " with " + std::to_string(published) + " published: "; };
  switch (rng() % 4) {
    case 0: {
      std::vector<std::uint64_t> out;
      auto n = index.lookup(name, 0, SIZE_MAX, out);
      if (!n) return fail.add(where() + n.error().message());
      if (*n != out.size() || out.size() < expected || out.size() > truth.size() ||
          !std::equal(out.begin(), out.end(), truth.begin()))
        return fail.add(where() + "lookup of all gave " + std::to_string(out.size()) +
                        " versions, not a prefix of " + std::to_string(truth.size()) + " holding " +
                        std::to_string(expected));
      break;
    }
    case 1: {
      if (expected == 0) break;
      const std::uint64_t from = rng() % expected;
      const std::size_t max = 1 + rng() % 300;
      std::vector<std::uint64_t> out;
      auto n = index.lookup(name, from, max, out);
      if (!n) return fail.add(where() + n.error().message());
      const std::size_t at_least = std::min<std::uint64_t>(max, expected - from);
      if (out.size() < at_least || out.size() > max || from + out.size() > truth.size() ||
          !std::equal(out.begin(), out.end(), truth.begin() + static_cast<std::ptrdiff_t>(from)))
        return fail.add(where() + "lookup from " + std::to_string(from) + " max " + std::to_string(max) +
                        " gave " + std::to_string(out.size()) + " wrong or too few");
      break;
    }
    case 2: {
      auto n = index.count_below(name, published);
      if (!n) return fail.add(where() + n.error().message());
      if (*n != expected)
        return fail.add(where() + "count_below " + std::to_string(*n) + ", not " + std::to_string(expected));
      auto last = index.last_version(name);
      if (!last) return fail.add(where() + last.error().message());
      if (expected > 0 && (!*last || **last + 1 < expected))
        return fail.add(where() + "last_version below what was published");
      break;
    }
    default: {
      // One page of the listing from a random stream on: each listed count is exact at the cut.
      const std::string& after = w.names[rng() % w.names.size()];
      auto page = index.list(after, 8, published);
      if (!page) return fail.add(where() + page.error().message());
      for (const listed_stream& l : page->streams) {
        const auto it = std::find(w.names.begin(), w.names.end(), l.name);
        if (it == w.names.end()) return fail.add("list gave an unknown stream " + l.name);
        const std::uint64_t want = w.count_below(static_cast<std::size_t>(it - w.names.begin()), published);
        if (l.count != want)
          return fail.add(where() + "list counts " + l.name + " " + std::to_string(l.count) + ", not " +
                          std::to_string(want));
      }
      if (page->streams.size() > 8) return fail.add("list gave more than its limit");
      break;
    }
  }
}

struct reader_threads {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> checks{0};
  std::vector<std::thread> threads;

  void start(int n, const stream_index& index, const workload& w, const std::atomic<std::uint64_t>& published,
             failures& fail) {
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(100 + static_cast<std::uint64_t>(t));
        while (!stop.load(std::memory_order_relaxed)) {
          // The published count first, then the read: all below it must be seen.
          check_once(index, w, published.load(std::memory_order_acquire), rng, fail);
          checks.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  }
  void join() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

// The writer's loop: batches of adds, each then published; a run every
// `run_every` events, then a compaction when there are more than max_runs.
// Bounded in events and in time (ThreadSanitizer slows it down ~10x).
struct writer_stats {
  std::size_t events = 0, runs = 0, compactions = 0;
};
writer_stats write_all(stream_index& index, const workload& w, std::atomic<std::uint64_t>& published,
                       std::uint64_t run_every, failures& fail, clock_type::duration budget) {
  const auto deadline = clock_type::now() + budget;
  std::mt19937_64 rng(9);
  writer_stats st;
  std::vector<stream_index::entry> batch;
  std::uint64_t next_run = run_every;
  for (std::uint64_t k = 0; k < w.events() && clock_type::now() < deadline;) {
    batch.clear();
    const std::uint64_t end = std::min<std::uint64_t>(w.events(), k + 1 + rng() % 40);
    for (; k < end; ++k) batch.push_back(w.entry(k));
    if (batch.size() == 1) {
      index.add(batch[0].name, batch[0].version, batch[0].position);
    } else {
      index.add_batch(batch);
    }
    published.store(k, std::memory_order_release);
    st.events = k;
    // A flush's pace rather than a tight loop: the other threads run between batches.
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    if (k >= next_run) {
      next_run += run_every;
      if (auto r = index.freeze_and_write_run(); !r) fail.add("freeze: " + r.error().message());
      ++st.runs;
      auto c = index.compact();
      if (!c) fail.add("compact: " + c.error().message());
      if (c && *c) ++st.compactions;
    }
  }
  return st;
}

}  // namespace

TEST(stream_index_threads, readers_see_every_published_version_while_the_writer_adds_freezes_and_compacts) {
  const workload w(64, 40000, 1);
  auto fs = std::make_shared<memory_file_system>();
  auto index = stream_index::open(fs, "/idx", {.max_runs = 2});
  ASSERT_TRUE(index) << index.error().message();
  std::atomic<std::uint64_t> published{0};
  failures fail;
  reader_threads readers;
  readers.start(3, **index, w, published, fail);
  const writer_stats st = write_all(**index, w, published, 1500, fail, std::chrono::seconds(20));
  // The readers go on a little over the final state.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  readers.join();
  EXPECT_EQ(fail.count(), 0u) << fail.text();
  EXPECT_GE(st.events, 6000u) << "the writer did too little to test anything";
  EXPECT_GE(st.runs, 4u);
  EXPECT_GE(st.compactions, 1u);
  EXPECT_GT(readers.checks.load(), 1000u);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) check_once(**index, w, published.load(), rng, fail);
  EXPECT_EQ(fail.count(), 0u) << fail.text();
}

// A follower process: it opens the index read-only, indexes the writer's
// published entries itself (in memory) and refreshes from the writer's
// manifest, while its own readers look up against what it has indexed.
TEST(stream_index_threads, a_followers_readers_see_every_version_it_indexed_across_its_refreshes) {
  const workload w(48, 30000, 2);
  auto fs = std::make_shared<memory_file_system>();
  auto writer = stream_index::open(fs, "/idx", {.max_runs = 2});
  ASSERT_TRUE(writer) << writer.error().message();
  auto follower = stream_index::open(fs, "/idx", {.read_only = true});
  ASSERT_TRUE(follower) << follower.error().message();
  std::atomic<std::uint64_t> published{0};           // the writer's $all count
  std::atomic<std::uint64_t> follower_published{0};  // what the follower has indexed
  std::atomic<bool> writer_done{false};
  failures fail;
  reader_threads readers;
  readers.start(2, **follower, w, follower_published, fail);
  std::size_t refreshes = 0;
  std::thread follower_thread([&] {
    std::uint64_t next = 0;  // the follower's next $all position to index
    std::mt19937_64 rng(5);
    while (true) {
      const bool last_round = writer_done.load(std::memory_order_acquire);
      const std::uint64_t upto = published.load(std::memory_order_acquire);
      // Index a part of what the writer published (a follower lags), or all of it at the end.
      const std::uint64_t stop_at = last_round ? upto : std::min<std::uint64_t>(upto, next + rng() % 200);
      for (; next < stop_at; ++next) {
        const auto e = w.entry(next);
        (*follower)->add(e.name, e.version, e.position);
      }
      follower_published.store(next, std::memory_order_release);
      if (rng() % 4 == 0 || last_round) {
        auto end = (*follower)->refresh();
        if (!end) {
          fail.add("refresh: " + end.error().message());
          break;
        }
        ++refreshes;
        // The runs may cover more than the follower indexed: it goes on after them.
        if (*end > next) {
          next = *end;
          follower_published.store(next, std::memory_order_release);
        }
      }
      if (last_round) break;
      std::this_thread::yield();
    }
  });
  const writer_stats st = write_all(**writer, w, published, 1000, fail, std::chrono::seconds(20));
  writer_done.store(true, std::memory_order_release);
  follower_thread.join();
  readers.join();
  EXPECT_EQ(fail.count(), 0u) << fail.text();
  EXPECT_GE(st.runs, 4u);
  EXPECT_GE(st.compactions, 1u);
  EXPECT_GT(refreshes, 5u);
  EXPECT_GT(readers.checks.load(), 500u);
  EXPECT_EQ(follower_published.load(), published.load());
  EXPECT_EQ((*follower)->durable_end(), (*writer)->durable_end());
  std::mt19937_64 rng(2);
  for (int i = 0; i < 200; ++i) check_once(**follower, w, published.load(), rng, fail);
  EXPECT_EQ(fail.count(), 0u) << fail.text();
}

namespace {

// Runs a hook (once) when the index renames its new manifest into place: the
// writer is then between its run (or compaction) write and its install.
class rename_hook_file_system final : public forwarding_file_system {
 public:
  using forwarding_file_system::forwarding_file_system;
  std::function<void()> hook;
  error_code rename(const std::string& from, const std::string& to) override {
    if (hook) std::exchange(hook, nullptr)();
    return base_->rename(from, to);
  }
};

}  // namespace

// Deterministic: a reader that starts while the writer syncs its run (or its
// compaction) must finish without waiting for it and see every version: from
// the frozen memtable, or from the runs being replaced.
TEST(stream_index_threads, a_reader_during_a_run_write_or_a_compaction_neither_waits_nor_misses_versions) {
  const workload w(16, 600, 3);
  auto fs = std::make_shared<rename_hook_file_system>(std::make_shared<memory_file_system>());
  auto index = stream_index::open(fs, "/idx", {.max_runs = 1});
  ASSERT_TRUE(index) << index.error().message();
  std::uint64_t k = 0;
  auto add_up_to = [&](std::uint64_t end) {
    for (; k < end; ++k) {
      const auto e = w.entry(k);
      (*index)->add(e.name, e.version, e.position);
    }
  };
  // A reader thread started from inside the writer's file I/O (the hook runs on
  // the writer's thread, holding nothing): it must be done within 10 s.
  failures fail;
  std::future<void> reader;
  auto read_during = [&](const char* what, bool frozen) {
    reader = std::async(std::launch::async, [&, what, frozen] {
      if (frozen && (*index)->sizes().frozen_events == 0)
        fail.add(std::string(what) + ": no frozen memtable");
      std::mt19937_64 rng(7);
      for (int i = 0; i < 400; ++i) check_once(**index, w, k, rng, fail);
    });
    EXPECT_EQ(reader.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << what << ": a reader waited for the writer's file I/O";
  };
  add_up_to(200);
  fs->hook = [&] { read_during("first run", true); };
  ASSERT_TRUE((*index)->freeze_and_write_run());
  reader.wait();
  add_up_to(400);
  fs->hook = [&] { read_during("second run", true); };
  ASSERT_TRUE((*index)->freeze_and_write_run());
  reader.wait();
  add_up_to(600);
  fs->hook = [&] { read_during("compaction", false); };
  auto compacted = (*index)->compact();
  ASSERT_TRUE(compacted && *compacted);
  reader.wait();
  EXPECT_EQ(fail.count(), 0u) << fail.text();
  EXPECT_EQ((*index)->sizes().frozen_events, 0u);
}
