// The stream index of format v2 (engine/src/index/): memtable, run files,
// merge and the facade, against a std::map model on the in-memory file system.
#include "index/stream_index.hpp"

#include "index/bloom_filter.hpp"
#include "index/index_run_reader.hpp"
#include "index/index_run_writer.hpp"
#include "index/merge_runs.hpp"
#include "index/stream_memtable.hpp"
#include "support/stream_index_model.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace evstore;
using namespace evstore::detail;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

std::unique_ptr<stream_index> open_index(const std::shared_ptr<file_system>& fs, std::size_t max_runs = 8) {
  auto index = stream_index::open(fs, "/idx", {.max_runs = max_runs});
  EXPECT_TRUE(index) << index.error().message();
  return index ? std::move(*index) : nullptr;
}

// Writes `memtable` as run `seq` at `path` and opens it.
std::shared_ptr<const index_run_reader> write_run(file_system& fs, const std::string& path, std::uint64_t seq,
                                                  const stream_memtable& memtable) {
  auto summary = merge_runs(fs, path, seq, {}, &memtable);
  EXPECT_TRUE(summary) << summary.error().message();
  auto reader = index_run_reader::open(fs, path);
  EXPECT_TRUE(reader) << reader.error().message();
  return reader ? *reader : nullptr;
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
  stream_memtable m;
  for (std::uint64_t round = 0; round < 3; ++round)
    for (std::uint64_t i = 0; i < 2000; ++i) m.add("s-" + std::to_string(i), round, round * 2000 + i);
  const auto run = write_run(*fs, "/r/run.sidx", 1, m);
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

TEST(stream_index_model, random_adds_runs_compactions_and_reopens_answer_as_a_model_does) {
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto fs = std::make_shared<memory_file_system>();
    auto index = open_index(fs, 3);
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
        index = open_index(fs, 3);
        ASSERT_TRUE(index);
        model.replay_after_reopen(*index);
      }
      if (step % 7000 == 0) expect_index_matches(*index, model, rng);
    }
    ASSERT_TRUE(index->freeze_and_write_run());
    index.reset();
    index = open_index(fs, 3);
    ASSERT_TRUE(index);
    EXPECT_TRUE(index->memtable().empty());
    expect_index_matches(*index, model, rng);
    for (const auto& run : index->runs()) EXPECT_TRUE(run->verify()) << run->verify().error().message();
    // The index's files: the manifest and the live runs, whatever the number of streams.
    EXPECT_EQ(fs->files().size(), 1 + index->runs().size());
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
