// The stream index of format v2 (engine/src/index/): memtable, run files,
// merge and the facade, against a std::map model on the in-memory file system.
#include "index/stream_index.hpp"

#include "index/block_cache.hpp"
#include "index/bloom_filter.hpp"
#include "index/index_run_reader.hpp"
#include "index/index_run_writer.hpp"
#include "index/merge_runs.hpp"
#include "index/stream_memtable.hpp"
#include "support/forwarding_file_system.hpp"
#include "support/stream_index_model.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

using namespace evstore;
using namespace evstore::detail;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

std::unique_ptr<stream_index> open_index(const std::shared_ptr<file_system>& fs, std::size_t max_runs = 8,
                                         std::shared_ptr<block_cache> cache = nullptr) {
  auto index = stream_index::open(fs, "/idx", {.max_runs = max_runs, .cache = std::move(cache)});
  EXPECT_TRUE(index) << index.error().message();
  return index ? std::move(*index) : nullptr;
}

// Writes `memtable` as run `seq` at `path` and opens it (with `cache`, if any).
std::shared_ptr<const index_run_reader> write_run(file_system& fs, const std::string& path, std::uint64_t seq,
                                                  const stream_memtable& memtable,
                                                  std::shared_ptr<block_cache> cache = nullptr) {
  auto summary = merge_runs(fs, path, seq, {}, &memtable);
  EXPECT_TRUE(summary) << summary.error().message();
  auto reader = index_run_reader::open(fs, path, std::move(cache));
  EXPECT_TRUE(reader) << reader.error().message();
  return reader ? *reader : nullptr;
}

// `streams` streams s-0.. with versions 0, 1, 2 each, added round by round:
// version r of s-i is at position r * streams + i.
stream_memtable three_versions_each(std::uint64_t streams) {
  stream_memtable m;
  for (std::uint64_t round = 0; round < 3; ++round)
    for (std::uint64_t i = 0; i < streams; ++i) m.add("s-" + std::to_string(i), round, round * streams + i);
  return m;
}

}  // namespace

TEST(stream_index_memtable, answers_lookups_and_last_versions_of_the_versions_it_holds) {
  stream_memtable m;
  m.add("a", 0, 10);
  m.add("b", 5, 11);  // new in the memtable: its earlier versions are in runs
  m.add("a", 1, 12);
  m.add("b", 6, 13);
  std::vector<std::uint64_t> out;
  EXPECT_EQ(m.lookup(stream_hash("a"), "a", 0, 10, out), 2u);
  EXPECT_EQ(out, (std::vector<std::uint64_t>{10, 12}));
  out.clear();
  EXPECT_EQ(m.lookup(stream_hash("b"), "b", 4, 10, out), 0u);
  EXPECT_EQ(m.lookup(stream_hash("b"), "b", 6, 10, out), 1u);
  EXPECT_EQ(out, (std::vector<std::uint64_t>{13}));
  EXPECT_EQ(m.last_version(stream_hash("b"), "b"), 6u);
  EXPECT_FALSE(m.last_version(stream_hash("c"), "c"));
  EXPECT_EQ(m.first_position(), 10u);
  EXPECT_EQ(m.end_position(), 14u);
  EXPECT_EQ(m.event_count(), 4u);
  EXPECT_GT(m.byte_size(), 0u);
  // sorted() gives the key order: (xxh3(name), name).
  const auto sorted = m.sorted();
  ASSERT_EQ(sorted.size(), 2u);
  EXPECT_LT(sorted[0]->first.hash, sorted[1]->first.hash);
}

TEST(stream_index_run, a_long_stream_is_cut_into_groups_of_256_and_read_across_blocks) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m;
  for (std::uint64_t v = 0; v < 5000; ++v) m.add("long", v, 100000 * v);
  for (std::uint64_t i = 0; i < 50; ++i) m.add("short-" + std::to_string(i), 0, 500000000 + i);
  auto run = write_run(*fs, "/r/run.sidx", 1, m);
  ASSERT_TRUE(run);
  EXPECT_GT(run->block_count(), 3u);
  EXPECT_EQ(run->stream_count(), 51u);
  EXPECT_EQ(run->event_count(), 5050u);
  for (const auto& [from, max] : {std::pair<std::uint64_t, std::size_t>{0, 5000},
                                  {255, 2},
                                  {256, 1},
                                  {1000, 3000},
                                  {4999, 10},
                                  {4990, 5}}) {
    std::vector<std::uint64_t> out;
    auto n = run->lookup("long", from, max, out);
    ASSERT_TRUE(n) << n.error().message();
    const std::size_t expected = std::min<std::size_t>(max, 5000 - from);
    ASSERT_EQ(*n, expected);
    for (std::size_t i = 0; i < expected; ++i) ASSERT_EQ(out[i], 100000 * (from + i));
  }
  std::vector<std::uint64_t> out;
  EXPECT_EQ(run->lookup("long", 5000, 1, out).value(), 0u);
  EXPECT_EQ(run->last_version("long").value(), 4999u);
  EXPECT_EQ(run->last_version("short-7").value(), 0u);
  EXPECT_FALSE(run->last_version("short-70").value());
  EXPECT_TRUE(run->verify()) << run->verify().error().message();
}

TEST(stream_index_run, many_threads_look_up_in_one_shared_run_at_once) {
  // The reader is immutable after open (its contract): threads share it by shared_ptr.
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  const auto run = write_run(*fs, "/r/run.sidx", 1, three_versions_each(2000));
  ASSERT_TRUE(run);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint64_t> out;
      for (std::uint64_t i = static_cast<std::uint64_t>(t); i < 2000; i += 2) {
        out.clear();
        auto n = run->lookup("s-" + std::to_string(i), 0, 10, out);
        if (!n || out != std::vector<std::uint64_t>{i, 2000 + i, 4000 + i}) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// The same, the threads sharing a cache too small for the run's blocks: finds,
// inserts and evictions race (ThreadSanitizer runs this), answers stay right.
TEST(stream_index_run, many_threads_share_one_block_cache_that_evicts_as_they_look_up) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  auto cache = std::make_shared<block_cache>(std::size_t{32} << 10);
  const auto run = write_run(*fs, "/r/run.sidx", 1, three_versions_each(6000), cache);
  ASSERT_TRUE(run);
  ASSERT_GT(run->block_count(), 16u);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint64_t> out;
      for (int pass = 0; pass < 3; ++pass) {
        for (std::uint64_t i = static_cast<std::uint64_t>(t); i < 6000; i += 7) {
          out.clear();
          auto n = run->lookup("s-" + std::to_string(i), 0, 10, out);
          auto last = run->last_version("s-" + std::to_string(i));
          if (!n || out != std::vector<std::uint64_t>{i, 6000 + i, 12000 + i} || !last || *last != 2u)
            ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(cache->hits(), 0u);
  EXPECT_GT(cache->misses(), run->block_count());  // it evicted, so it read blocks again
}

// Lookups of many streams in one run read each block once while the cache
// holds it: the second pass over every stream reads nothing.
TEST(stream_index_run, a_block_cache_reads_each_block_once_for_the_streams_it_holds) {
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<fault_injecting_file_system>(mem);
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m;
  for (std::uint64_t i = 0; i < 3000; ++i) m.add("s-" + std::to_string(i), 0, i);
  auto cache = std::make_shared<block_cache>(std::size_t{8} << 20);
  const auto run = write_run(*fs, "/r/run.sidx", 1, m, cache);
  ASSERT_TRUE(run);
  const auto reads_before = fs->read_count();
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint64_t i = 0; i < 3000; ++i) {
      auto last = run->last_version("s-" + std::to_string(i));
      ASSERT_TRUE(last && *last == 0u);
    }
  }
  EXPECT_EQ(fs->read_count() - reads_before, run->block_count());
  EXPECT_EQ(cache->misses(), run->block_count());
  EXPECT_EQ(cache->hits(), 6000u - run->block_count());
  EXPECT_GT(cache->bytes(), 0u);
}

TEST(stream_index_block_cache, keeps_at_most_its_bytes_and_drops_the_least_recently_used_first) {
  auto block_of = [](std::size_t positions) {
    auto b = std::make_shared<run_format::decoded_block>();
    b->positions.resize(positions);
    return b;
  };
  const std::size_t one = decoded_block_bytes(*block_of(1000));
  // Three keys of one shard; each shard has room for two such blocks.
  std::vector<std::uint64_t> keys;
  for (std::uint64_t b = 0; keys.size() < 3; ++b)
    if (block_cache::shard_of_key(1, b) == block_cache::shard_of_key(1, 0)) keys.push_back(b);
  block_cache cache(block_cache::shard_count * (2 * one + one / 2));
  cache.insert(1, keys[0], block_of(1000));
  cache.insert(1, keys[1], block_of(1000));
  EXPECT_TRUE(cache.find(1, keys[0]));  // now keys[1] is the least recently used
  cache.insert(1, keys[2], block_of(1000));
  EXPECT_TRUE(cache.find(1, keys[0]));
  EXPECT_TRUE(cache.find(1, keys[2]));
  EXPECT_FALSE(cache.find(1, keys[1]));
  EXPECT_EQ(cache.bytes(), 2 * one);
  cache.insert(1, keys[2], block_of(1000));  // replacing a block does not count it twice
  EXPECT_EQ(cache.bytes(), 2 * one);
  EXPECT_EQ(cache.hits(), 3u);
  EXPECT_EQ(cache.misses(), 1u);
  // A block larger than a shard's share is kept alone (the lookup that read it uses it).
  block_cache tiny(block_cache::shard_count);
  tiny.insert(2, 0, block_of(1000));
  EXPECT_TRUE(tiny.find(2, 0));
  EXPECT_EQ(tiny.bytes(), one);
}

TEST(stream_index_run, the_writer_refuses_names_out_of_key_order_and_gaps_in_versions) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  auto w = index_run_writer::create(*fs, "/r/run.sidx", {1, 0, 100});
  ASSERT_TRUE(w);
  std::string a = "a", b = "b";
  if (stream_hash(a) > stream_hash(b)) std::swap(a, b);
  const std::vector<std::uint64_t> p1{1, 2}, p2{5};
  ASSERT_TRUE(w->add(stream_hash(b), b, 0, p1));
  EXPECT_EQ(w->add(stream_hash(a), a, 0, p2).error().code, errc::invalid_argument);
  EXPECT_EQ(w->add(stream_hash(b), b, 3, p2).error().code, errc::invalid_argument);
  const std::vector<std::uint64_t> back{2};
  EXPECT_EQ(w->add(stream_hash(b), b, 2, back).error().code, errc::invalid_argument);
}

TEST(stream_index_merge, runs_and_a_memtable_merge_into_one_run_with_each_stream_in_version_order) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m1, m2, m3;
  for (std::uint64_t v = 0; v < 300; ++v) m1.add("s", v, v);
  m1.add("only-old", 0, 300);
  for (std::uint64_t v = 300; v < 700; ++v) m2.add("s", v, v + 1);
  m3.add("s", 700, 701);
  m3.add("only-new", 0, 702);
  std::vector<std::shared_ptr<const index_run_reader>> runs{write_run(*fs, "/r/1", 1, m1),
                                                            write_run(*fs, "/r/2", 2, m2)};
  auto summary = merge_runs(*fs, "/r/3", 3, runs, &m3);
  ASSERT_TRUE(summary) << summary.error().message();
  EXPECT_EQ(summary->header.first_position, 0u);
  EXPECT_EQ(summary->header.end_position, 703u);
  auto merged = index_run_reader::open(*fs, "/r/3");
  ASSERT_TRUE(merged);
  EXPECT_EQ((*merged)->stream_count(), 3u);
  EXPECT_EQ((*merged)->event_count(), 703u);
  std::vector<std::uint64_t> out;
  ASSERT_EQ((*merged)->lookup("s", 0, 1000, out).value(), 701u);
  for (std::uint64_t v = 0; v < 701; ++v) ASSERT_EQ(out[v], v < 300 ? v : v + 1);
  EXPECT_EQ((*merged)->last_version("only-new").value(), 0u);
  EXPECT_TRUE((*merged)->verify());
}

TEST(stream_index_merge, a_gap_between_the_versions_of_two_runs_is_corrupt_data_naming_both) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m1, m2;
  m1.add("s", 0, 1);
  m1.add("s", 1, 2);
  m2.add("s", 3, 5);  // version 2 is missing
  std::vector<std::shared_ptr<const index_run_reader>> runs{write_run(*fs, "/r/run-a", 1, m1),
                                                            write_run(*fs, "/r/run-b", 2, m2)};
  auto summary = merge_runs(*fs, "/r/out", 3, runs, nullptr);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().code, errc::corrupt_data);
  EXPECT_NE(summary.error().detail.find("/r/run-a"), std::string::npos) << summary.error().detail;
  EXPECT_NE(summary.error().detail.find("/r/run-b"), std::string::npos) << summary.error().detail;
}

TEST(stream_index_bloom, an_absent_name_costs_no_read_unless_the_filter_errs_and_it_errs_below_1_5_percent) {
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<fault_injecting_file_system>(mem);
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m;
  for (std::uint64_t i = 0; i < 20000; ++i) m.add("present-" + std::to_string(i), 0, i);
  auto run = write_run(*fs, "/r/run.sidx", 1, m);
  ASSERT_TRUE(run);
  std::size_t false_positives = 0;
  const std::uint64_t reads_before = fs->read_count();
  constexpr int absent = 100000;
  for (int i = 0; i < absent; ++i) {
    const std::string name = "absent-" + std::to_string(i);
    if (run->may_contain(stream_hash(name))) ++false_positives;
    std::vector<std::uint64_t> out;
    ASSERT_EQ(run->lookup(name, 0, 1, out).value(), 0u);
  }
  // Each name the filter lets through costs exactly one block read; the rest none.
  EXPECT_EQ(fs->read_count() - reads_before, false_positives);
  const double rate = static_cast<double>(false_positives) / absent;
  EXPECT_LT(rate, 0.015) << "false positive rate " << rate;
  EXPECT_GT(rate, 0.002) << "10 bits per name cannot do better than ~0.8%: is the filter used at all?";
  // Bloom and fences in memory: well under 2 bytes per stream.
  EXPECT_LT(static_cast<double>(run->memory_bytes()) / 20000, 4.0);
}

// Without a block cache, with one too small for a run's blocks (every lookup
// evicts) and with one that holds them all: the answers are the model's.
TEST(stream_index_model, random_adds_runs_compactions_and_reopens_answer_as_a_model_does) {
  for (const std::size_t cache_bytes : {std::size_t{0}, std::size_t{64} << 10, std::size_t{64} << 20})
    for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + ", cache " + std::to_string(cache_bytes));
      auto cache = cache_bytes > 0 ? std::make_shared<block_cache>(cache_bytes) : nullptr;
      std::mt19937_64 rng(seed);
      auto fs = std::make_shared<memory_file_system>();
      auto index = open_index(fs, 3, cache);
      ASSERT_TRUE(index);
      stream_index_model model;
      std::uint64_t short_streams = 0;
      const int events = 20000;
      for (int step = 1; step <= events; ++step) {
        const std::uint64_t r = rng() % 100;
        std::string name;
        if (r < 15) {
          name = "long-" + std::to_string(rng() % 2);  // ~1,500 events each
        } else if (r < 60 || short_streams == 0) {
          name = "order-" + std::to_string(short_streams++);
        } else {
          name = "order-" + std::to_string(rng() % short_streams);
        }
        model.add(*index, name);
        if (step % 1500 == 0) {
          ASSERT_TRUE(index->freeze_and_write_run());
          auto compacted = index->compact();
          ASSERT_TRUE(compacted) << compacted.error().message();
          ASSERT_LE(index->runs().size(), 3u);
        }
        if (step % 4000 == 0) {
          // A new facade over the same disk: the memtable is gone, re-added from durable_end().
          index.reset();
          index = open_index(fs, 3, cache);
          ASSERT_TRUE(index);
          model.replay_after_reopen(*index);
        }
        if (step % 7000 == 0) expect_index_matches(*index, model, rng);
      }
      ASSERT_TRUE(index->freeze_and_write_run());
      index.reset();
      index = open_index(fs, 3, cache);
      ASSERT_TRUE(index);
      EXPECT_EQ(index->sizes().live_events, 0u);
      expect_index_matches(*index, model, rng);
      for (const auto& run : index->runs()) EXPECT_TRUE(run->verify()) << run->verify().error().message();
      // The index's files: the manifest and the live runs, whatever the number of streams.
      EXPECT_EQ(fs->files().size(), 1 + index->runs().size());
      if (cache) {
        EXPECT_GT(cache->hits(), 0u);
        EXPECT_LE(cache->bytes(), cache_bytes + 16 * (run_format::max_block_size * 4));
      }
    }
}

// A follower opens the index another process writes: it must neither create
// the directory nor remove a run file no manifest names yet (that may be the
// writer's run in progress, not an orphan of a crash).
TEST(stream_index_follower, a_read_only_open_removes_nothing_and_answers_from_the_manifest_runs) {
  auto fs = std::make_shared<memory_file_system>();
  {
    auto writer = open_index(fs);
    ASSERT_TRUE(writer);
    writer->add("order-1", 0, 0);
    writer->add("order-2", 0, 1);
    writer->add("order-1", 1, 2);
    ASSERT_TRUE(writer->freeze_and_write_run());
  }
  stream_memtable in_progress;
  in_progress.add("order-3", 0, 3);
  const std::string stray = "/idx/" + run_file_name(99);
  ASSERT_TRUE(write_run(*fs, stray, 99, in_progress));

  auto follower = stream_index::open(fs, "/idx", {.read_only = true});
  ASSERT_TRUE(follower) << follower.error().message();
  std::vector<std::uint64_t> out;
  auto n = (*follower)->lookup("order-1", 0, 10, out);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(out, (std::vector<std::uint64_t>{0, 2}));
  auto absent = (*follower)->last_version("order-3");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent) << "a run the manifest does not name is not part of the index";
  EXPECT_TRUE(fs->exists(stray)) << "a read-only open removed the writer's run in progress";

  auto nothing = stream_index::open(fs, "/no-index", {.read_only = true});
  ASSERT_TRUE(nothing) << nothing.error().message();
  EXPECT_FALSE(fs->exists("/no-index")) << "a read-only open created the directory";

  // The writer's own open, after a crash, does remove it.
  ASSERT_TRUE(open_index(fs));
  EXPECT_FALSE(fs->exists(stray));
}

namespace {

// How many of the model's versions of `name` have a position below all_count.
std::uint64_t model_count(const stream_index_model& model, const std::string& name, std::uint64_t all_count) {
  auto it = model.streams.find(name);
  if (it == model.streams.end()) return 0;
  return static_cast<std::uint64_t>(std::lower_bound(it->second.begin(), it->second.end(), all_count) -
                                    it->second.begin());
}

// Every stream the model holds with a version below all_count, in key order, with its count.
std::vector<std::pair<std::string, std::uint64_t>> model_listing(const stream_index_model& model,
                                                                 std::uint64_t all_count) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [name, positions] : model.streams)
    if (const auto n = model_count(model, name, all_count); n > 0) out.emplace_back(name, n);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return stream_key_view{stream_hash(a.first), a.first, 0} <
           stream_key_view{stream_hash(b.first), b.first, 0};
  });
  return out;
}

// Pages through list() `limit` streams at a time.
std::vector<std::pair<std::string, std::uint64_t>> list_all(const stream_index& index, std::size_t limit,
                                                            std::uint64_t all_count) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::string after;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = index.list(after, limit, all_count);
    EXPECT_TRUE(page) << page.error().message();
    if (!page) break;
    EXPECT_LE(page->streams.size(), limit);
    for (const listed_stream& s : page->streams) out.emplace_back(s.name, s.count);
    if (!page->more) break;
    EXPECT_EQ(page->streams.size(), limit) << "a page that is not the last is full";
    after = page->streams.back().name;
  }
  return out;
}

// An index whose streams are spread over two runs, the frozen memtable (its
// run write failed) and the live memtable: old-* only in the runs, mid-* only
// in the frozen memtable, new-* only in the live one, and s-* in all four.
struct three_tier {
  std::shared_ptr<memory_file_system> mem = std::make_shared<memory_file_system>();
  std::shared_ptr<fault_injecting_file_system> fs = std::make_shared<fault_injecting_file_system>(mem);
  std::unique_ptr<stream_index> index;
  stream_index_model model;
  std::vector<std::uint64_t> boundaries;  // $all counts where a tier ends

  three_tier() {
    auto opened = stream_index::open(fs, "/idx", {});
    EXPECT_TRUE(opened);
    index = std::move(*opened);
    auto round = [&](const std::string& only, int only_count) {
      for (int i = 0; i < 12; ++i) model.add(*index, "s-" + std::to_string(i));
      for (int i = 0; i < only_count; ++i) model.add(*index, only + std::to_string(i));
      for (int i = 0; i < 12; i += 3) model.add(*index, "s-" + std::to_string(i));
      boundaries.push_back(model.next_position);
    };
    round("old-", 20);
    EXPECT_TRUE(index->freeze_and_write_run());
    round("old-", 20);
    EXPECT_TRUE(index->freeze_and_write_run());
    round("mid-", 15);
    fs->fail_operation(1, make_error_code(boost::system::errc::io_error), false);
    EXPECT_FALSE(index->freeze_and_write_run()) << "the run write was to fail";
    round("new-", 15);
    EXPECT_EQ(index->runs().size(), 2u);
    EXPECT_GT(index->sizes().frozen_events, 0u);
    EXPECT_GT(index->sizes().live_events, 0u);
  }
};

}  // namespace

TEST(stream_index_count_below, counts_the_versions_below_each_cut_across_runs_frozen_and_live_memtables) {
  three_tier t;
  ASSERT_TRUE(t.index);
  std::vector<std::uint64_t> cuts{0, 1, UINT64_MAX};
  for (const std::uint64_t b : t.boundaries) cuts.insert(cuts.end(), {b - 1, b, b + 1, b / 2 + 3});
  for (const std::uint64_t cut : cuts) {
    for (const auto& [name, positions] : t.model.streams) {
      auto n = t.index->count_below(name, cut);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_EQ(*n, model_count(t.model, name, cut)) << name << " below " << cut;
    }
    auto absent = t.index->count_below("absent", cut);
    ASSERT_TRUE(absent);
    EXPECT_EQ(*absent, 0u);
  }
  // The live memtable answers without I/O; a run with one block read, as last_version.
  const std::uint64_t reads = t.fs->read_count();
  EXPECT_EQ(t.index->count_below("new-3", UINT64_MAX).value(), 1u);
  EXPECT_EQ(t.index->count_below("s-1", UINT64_MAX).value(), t.model.streams["s-1"].size());
  EXPECT_EQ(t.fs->read_count(), reads);
  EXPECT_EQ(t.index->count_below("old-3", UINT64_MAX).value(), 2u);
  EXPECT_LE(t.fs->read_count() - reads, 1u);
}

TEST(stream_index_count_below, a_run_walks_back_over_groups_and_blocks_to_the_cut) {
  auto fs = std::make_shared<memory_file_system>();
  ASSERT_FALSE(fs->create_directories("/r"));
  stream_memtable m;
  constexpr std::uint64_t step = 100000;  // 3-byte deltas: the 3,000 positions span blocks
  for (std::uint64_t v = 0; v < 3000; ++v) m.add("long", v, step * v + 5);
  const auto run = write_run(*fs, "/r/run.sidx", 1, m);
  ASSERT_TRUE(run);
  ASSERT_GT(run->block_count(), 2u);
  const std::uint64_t h = stream_hash("long");
  for (const std::uint64_t cut :
       std::initializer_list<std::uint64_t>{0, 5, 6, step + 5, step + 6, 256 * step + 5, 256 * step + 6,
                                            1000 * step, 2999 * step + 5, 2999 * step + 6, 5000 * step}) {
    auto n = run->count_below(h, "long", cut);
    ASSERT_TRUE(n) << n.error().message();
    const std::uint64_t expected = cut <= 5 ? 0 : std::min<std::uint64_t>(3000, (cut - 5 + step - 1) / step);
    // Below the first position the run still answers 0: no version of the name precedes it.
    ASSERT_TRUE(n->has_value()) << cut;
    EXPECT_EQ(**n, expected) << "cut " << cut;
  }
  EXPECT_FALSE(run->count_below(stream_hash("other"), "other", 100).value());
}

TEST(stream_index_list, pages_in_key_order_across_runs_frozen_and_live_memtables_with_the_cut) {
  three_tier t;
  ASSERT_TRUE(t.index);
  std::vector<std::uint64_t> cuts{0, UINT64_MAX};
  for (const std::uint64_t b : t.boundaries) cuts.insert(cuts.end(), {b - 1, b, b + 7});
  for (const std::uint64_t cut : cuts) {
    const auto expected = model_listing(t.model, cut);
    for (const std::size_t limit : {std::size_t{1}, std::size_t{4}, std::size_t{7}, std::size_t{1000}}) {
      SCOPED_TRACE("cut " + std::to_string(cut) + " limit " + std::to_string(limit));
      EXPECT_EQ(list_all(*t.index, limit, cut), expected);
    }
  }
  // A cursor that names no stream resumes at the next key.
  const auto all = model_listing(t.model, UINT64_MAX);
  auto page = t.index->list("zz-not-a-stream", 1000, UINT64_MAX);
  ASSERT_TRUE(page);
  const list_cursor cursor("zz-not-a-stream");
  std::size_t after = 0;
  for (const auto& [name, count] : all) after += cursor.before(stream_hash(name), name) ? 1 : 0;
  EXPECT_EQ(page->streams.size(), after);
  EXPECT_FALSE(page->more);
  // And the listing is the same once everything is in runs.
  ASSERT_TRUE(t.index->freeze_and_write_run());
  EXPECT_EQ(t.index->sizes().frozen_events + t.index->sizes().live_events, 0u);
  EXPECT_EQ(list_all(*t.index, 5, UINT64_MAX), all);
}

TEST(stream_index_add_batch, a_batch_indexes_as_the_same_adds_one_by_one) {
  auto fs = std::make_shared<memory_file_system>();
  auto one = open_index(fs);
  auto batched = stream_index::open(fs, "/other", {});
  ASSERT_TRUE(one && batched);
  stream_index_model model;
  std::vector<std::string> names;
  std::vector<stream_index::entry> batch;
  std::mt19937_64 rng(5);
  names.reserve(500);
  for (int i = 0; i < 500; ++i) names.push_back("s-" + std::to_string(rng() % 40));
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint64_t version = model.streams[names[i]].size();
    batch.push_back({names[i], version, model.next_position});
    model.add(*one, names[i]);
    if (batch.size() == 37 || i + 1 == names.size()) {
      (*batched)->add_batch(batch);
      batch.clear();
    }
    if (i == 250) {
      ASSERT_TRUE((*batched)->freeze_and_write_run());
    }
  }
  expect_index_matches(**batched, model, rng);
  EXPECT_EQ(list_all(**batched, 1000, UINT64_MAX), list_all(*one, 1000, UINT64_MAX));
}

namespace {

// A file system that runs a hook (once) before opening a file whose path contains `part`.
class open_hook_file_system final : public forwarding_file_system {
 public:
  using forwarding_file_system::forwarding_file_system;
  void arm(std::string part, std::function<void()> hook) {
    part_ = std::move(part);
    hook_ = std::move(hook);
  }
  boost::system::result<std::unique_ptr<file>> open(const std::string& p, open_mode mode) override {
    if (hook_ && p.find(part_) != std::string::npos) std::exchange(hook_, nullptr)();
    return base_->open(p, mode);
  }

 private:
  std::string part_;
  std::function<void()> hook_;
};

// The follower indexes the writer's $all entries itself, from `from` on.
void follow(stream_index& follower, const stream_index_model& model, std::uint64_t from, std::uint64_t to) {
  for (const index_event& e : model.log)
    if (e.position >= from && e.position < to) follower.add(e.name, e.version, e.position);
}

}  // namespace

TEST(stream_index_follower, refresh_after_the_writers_run_takes_its_runs_and_trims_the_memtable) {
  auto fs = std::make_shared<memory_file_system>();
  auto writer = open_index(fs);
  ASSERT_TRUE(writer);
  stream_index_model model;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) model.add(*writer, "s-" + std::to_string(rng() % 25));
  ASSERT_TRUE(writer->freeze_and_write_run());
  auto opened = stream_index::open(fs, "/idx", {.read_only = true});
  ASSERT_TRUE(opened) << opened.error().message();
  stream_index& follower = **opened;
  EXPECT_EQ(follower.durable_end(), 300u);
  // The writer appends more; the follower indexes them in memory, as it reads $all.
  for (int i = 0; i < 200; ++i) model.add(*writer, "s-" + std::to_string(rng() % 30));
  follow(follower, model, 300, 500);
  expect_index_matches(follower, model, rng);
  auto same = follower.refresh();
  ASSERT_TRUE(same) << same.error().message();
  EXPECT_EQ(*same, 300u) << "an unchanged manifest changes nothing";
  EXPECT_EQ(follower.sizes().live_events, 200u);
  // The writer writes a run of 300..500 and appends on; the follower is ahead of the run.
  ASSERT_TRUE(writer->freeze_and_write_run());
  for (int i = 0; i < 50; ++i) model.add(*writer, "s-" + std::to_string(rng() % 30));
  follow(follower, model, 500, 550);
  auto end = follower.refresh();
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 500u);
  EXPECT_EQ(follower.sizes().runs, 2u);
  EXPECT_EQ(follower.sizes().live_events, 50u) << "what the runs cover leaves the memtable";
  expect_index_matches(follower, model, rng);
  EXPECT_EQ(list_all(follower, 7, 550), model_listing(model, 550));
  // A follower behind the writer's run: everything of its memtable goes; it goes on from the end.
  ASSERT_TRUE(writer->freeze_and_write_run());
  for (int i = 0; i < 40; ++i) model.add(*writer, "s-" + std::to_string(rng() % 30));
  ASSERT_TRUE(writer->freeze_and_write_run());
  end = follower.refresh();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, 590u);
  EXPECT_EQ(follower.sizes().live_events, 0u);
  expect_index_matches(follower, model, rng);
}

TEST(stream_index_follower, refresh_after_a_compaction_and_the_old_runs_stay_readable_until_then) {
  auto fs = std::make_shared<memory_file_system>();
  auto writer = open_index(fs, 1);
  ASSERT_TRUE(writer);
  stream_index_model model;
  std::mt19937_64 rng(4);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 150; ++i) model.add(*writer, "s-" + std::to_string(rng() % 20));
    ASSERT_TRUE(writer->freeze_and_write_run());
  }
  auto opened = stream_index::open(fs, "/idx", {.read_only = true});
  ASSERT_TRUE(opened);
  stream_index& follower = **opened;
  ASSERT_EQ(follower.sizes().runs, 2u);
  auto compacted = writer->compact();
  ASSERT_TRUE(compacted && *compacted);
  ASSERT_EQ(fs->files().size(), 2u) << "the writer removed the compacted runs";
  // The follower still reads the removed runs through its open files.
  expect_index_matches(follower, model, rng);
  auto end = follower.refresh();
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 300u);
  EXPECT_EQ(follower.sizes().runs, 1u);
  EXPECT_EQ(follower.runs().at(0)->header(), writer->runs().at(0)->header());
  expect_index_matches(follower, model, rng);
}

TEST(stream_index_follower,
     a_run_that_vanishes_between_the_manifest_read_and_its_open_makes_refresh_read_again) {
  auto mem = std::make_shared<memory_file_system>();
  auto writer = open_index(mem, 2);
  ASSERT_TRUE(writer);
  stream_index_model model;
  std::mt19937_64 rng(6);
  auto append_and_freeze = [&] {
    for (int i = 0; i < 100; ++i) model.add(*writer, "s-" + std::to_string(rng() % 20));
    ASSERT_TRUE(writer->freeze_and_write_run());
  };
  append_and_freeze();
  append_and_freeze();
  auto hooked = std::make_shared<open_hook_file_system>(mem);
  auto opened = stream_index::open(hooked, "/idx", {.read_only = true});
  ASSERT_TRUE(opened);
  stream_index& follower = **opened;
  append_and_freeze();  // three runs: the manifest names run 3, which the follower has not opened
  // Right before the follower opens run 3, the writer compacts runs 1-3 into run 4 and removes them.
  bool compacted = false;
  hooked->arm(run_file_name(3), [&] { compacted = writer->compact().value(); });
  auto end = follower.refresh();
  ASSERT_TRUE(compacted);
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_EQ(*end, 300u);
  ASSERT_EQ(follower.runs().size(), 1u);
  EXPECT_EQ(follower.runs().at(0)->header().seq, 4u);
  expect_index_matches(follower, model, rng);

  // A run that stays missing is not a race: refresh gives up, with the file's error.
  append_and_freeze();
  ASSERT_FALSE(mem->remove("/idx/" + run_file_name(5)));
  auto missing = follower.refresh();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, boost::system::errc::no_such_file_or_directory);
  EXPECT_NE(missing.error().detail.find(run_file_name(5)), std::string::npos) << missing.error().detail;
  EXPECT_EQ(follower.durable_end(), 300u) << "a failed refresh keeps what the follower had";
  expect_index_matches(follower, model, rng, 300);
}
