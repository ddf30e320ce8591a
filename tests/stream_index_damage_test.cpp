// The stream index under damage: every flipped byte of a run file or the
// manifest is detected or harmless, read errors come back as errors with the
// file and offset, and a crash while writing a run or compacting leaves the
// previous manifest's runs complete.
#include "index/index_run_reader.hpp"
#include "index/merge_runs.hpp"
#include "index/stream_index.hpp"
#include "support/stream_index_model.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

using namespace evstore;
using namespace evstore::detail;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

const boost::system::error_code eio = boost::system::errc::make_error_code(boost::system::errc::io_error);

// One stream long enough for several groups, and `names` short ones.
stream_index_model small_workload(stream_index& index, int events, int names) {
  stream_index_model model;
  for (int i = 0; i < events; ++i)
    model.add(index, i % 2 == 0 ? std::string("long") : "s-" + std::to_string(i / 2 % names));
  return model;
}

// True if the index answers exactly as the model, false if some answer was
// corrupt_data; anything else (a wrong answer, another error) fails the test.
// Asks for every `stride`-th stream (each block holds many: one lookup reads a whole block).
bool answers_or_detects(const stream_index& index, const stream_index_model& model, std::size_t stride) {
  bool detected = false;
  std::size_t i = 0;
  for (const auto& [name, positions] : model.streams) {
    if (i++ % stride != 0 && name != "long") continue;
    std::vector<std::uint64_t> got;
    auto n = index.lookup(name, 0, SIZE_MAX, got);
    if (!n) {
      EXPECT_EQ(n.error().code, errc::corrupt_data) << n.error().message();
      detected = true;
    } else {
      EXPECT_EQ(got, positions) << name;
    }
    auto last = index.last_version(name);
    if (!last) {
      EXPECT_EQ(last.error().code, errc::corrupt_data) << last.error().message();
      detected = true;
    } else {
      EXPECT_EQ(*last, positions.size() - 1) << name;
    }
  }
  std::vector<std::uint64_t> got;
  auto n = index.lookup("absent", 0, 5, got);
  if (n) {
    EXPECT_EQ(*n, 0u);
  }
  return !detected;
}

std::string flipped(std::string bytes, std::size_t at) {
  bytes[at] = static_cast<char>(bytes[at] ^ 0x41);
  return bytes;
}

}  // namespace

TEST(stream_index_damage, every_flipped_byte_of_a_run_file_is_detected_never_a_wrong_answer) {
  auto fs = std::make_shared<memory_file_system>();
  auto index = stream_index::open(fs, "/idx", {});
  ASSERT_TRUE(index);
  const auto model = small_workload(**index, 1400, 200);
  ASSERT_TRUE((*index)->freeze_and_write_run());
  const std::string path = (*index)->runs().at(0)->path();
  ASSERT_GT((*index)->runs().at(0)->block_count(), 1u);
  const std::string good = fs->contents(path);
  for (std::size_t at = 0; at < good.size(); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at));
    fs->set_contents(path, flipped(good, at));
    auto reopened = stream_index::open(fs, "/idx", {});
    if (!reopened) {
      ASSERT_EQ(reopened.error().code, errc::corrupt_data) << reopened.error().message();
      ASSERT_NE(reopened.error().detail.find(path), std::string::npos) << reopened.error().detail;
      continue;
    }
    answers_or_detects(**reopened, model, 10);
    // No byte of a run is padding: a full check finds every flip.
    auto verified = (*reopened)->runs().at(0)->verify();
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().code, errc::corrupt_data);
  }
}

TEST(stream_index_damage, every_flipped_byte_of_the_manifest_is_detected) {
  auto fs = std::make_shared<memory_file_system>();
  auto index = stream_index::open(fs, "/idx", {});
  ASSERT_TRUE(index);
  stream_index_model model;
  for (int run = 0; run < 3; ++run) {
    for (int i = 0; i < 10; ++i) model.add(**index, "s-" + std::to_string(i));
    ASSERT_TRUE((*index)->freeze_and_write_run());
  }
  const std::string path = "/idx/manifest";
  const std::string good = fs->contents(path);
  ASSERT_EQ(good.size(), 36u + 3 * 24);
  for (std::size_t at = 0; at < good.size(); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at));
    fs->set_contents(path, flipped(good, at));
    auto reopened = stream_index::open(fs, "/idx", {});
    ASSERT_FALSE(reopened);
    EXPECT_EQ(reopened.error().code, errc::corrupt_data) << reopened.error().message();
    EXPECT_NE(reopened.error().detail.find(path), std::string::npos) << reopened.error().detail;
  }
  fs->set_contents(path, good.substr(0, good.size() - 1));
  EXPECT_EQ(stream_index::open(fs, "/idx", {}).error().code, errc::corrupt_data);
}

TEST(stream_index_damage, a_failed_read_is_an_error_with_file_and_offset_never_not_found) {
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<fault_injecting_file_system>(mem);
  stream_index_model model;
  {
    auto index = stream_index::open(fs, "/idx", {});
    ASSERT_TRUE(index);
    model = small_workload(**index, 600, 40);
    ASSERT_TRUE((*index)->freeze_and_write_run());
    for (int i = 0; i < 200; ++i)
      model.add(**index, i % 3 == 0 ? std::string("long") : "t-" + std::to_string(i % 11));
    ASSERT_TRUE((*index)->freeze_and_write_run());
  }
  int failures = 0;
  for (std::uint64_t k = 1;; ++k) {
    SCOPED_TRACE("read " + std::to_string(k));
    fs->clear_faults();
    fs->fail_read(k, eio, false);
    const std::uint64_t reads = fs->read_count();
    auto index = stream_index::open(fs, "/idx", {});
    bool failed = !index;
    if (index) {
      for (const auto& [name, positions] : model.streams) {
        std::vector<std::uint64_t> got;
        auto n = (*index)->lookup(name, 0, SIZE_MAX, got);
        auto last = (*index)->last_version(name);
        std::vector<error> errors;
        if (n) {
          EXPECT_EQ(got, positions) << name;
        } else {
          errors.push_back(n.error());
        }
        if (last) {
          EXPECT_EQ(*last, positions.size() - 1) << name;
        } else {
          errors.push_back(last.error());
        }
        for (const error& e : errors) {
          failed = true;
          EXPECT_EQ(e.code, eio) << e.message();
          EXPECT_NE(e.detail.find("/idx/"), std::string::npos) << e.detail;
          EXPECT_NE(e.detail.find("at offset"), std::string::npos) << e.detail;
        }
      }
    } else {
      EXPECT_EQ(index.error().code, eio) << index.error().message();
      EXPECT_NE(index.error().detail.find("/idx"), std::string::npos) << index.error().detail;
    }
    if (!failed) {
      // The k-th read was never reached: every read has had its failure.
      EXPECT_LT(fs->read_count() - reads, k);
      break;
    }
    ++failures;
  }
  EXPECT_GT(failures, 10);
}

namespace {

// The disk of an index with two runs of `model` and a memtable of more events
// (not yet in a run), all made through `fs`.
std::unique_ptr<stream_index> build_two_runs_and_a_memtable(const std::shared_ptr<file_system>& fs,
                                                            stream_index_model& model) {
  auto index = stream_index::open(fs, "/idx", {.max_runs = 1});
  EXPECT_TRUE(index);
  for (int run = 0; run < 2; ++run) {
    for (int i = 0; i < 400; ++i)
      model.add(**index, i % 2 ? std::string("long") : "p-" + std::to_string(i % 23));
    EXPECT_TRUE((*index)->freeze_and_write_run());
  }
  for (int i = 0; i < 300; ++i)
    model.add(**index, i % 2 ? std::string("long") : "p-" + std::to_string(i % 29));
  return std::move(*index);
}

// Crashes the run write (or the compaction) after k mutating operations, loses
// power, reopens: the index answers as the old manifest or the new one, whole.
// Returns the number of crash points tried.
std::uint64_t crash_and_check(bool compaction, power_loss_mode mode) {
  for (std::uint64_t k = 0;; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k) + " operations");
    auto mem = std::make_shared<memory_file_system>();
    auto fs = std::make_shared<fault_injecting_file_system>(mem);
    stream_index_model model;
    auto index = build_two_runs_and_a_memtable(fs, model);
    EXPECT_TRUE(index);
    if (!index) return k;
    if (compaction) {
      EXPECT_TRUE(index->freeze_and_write_run());
      EXPECT_EQ(index->runs().size(), 3u);  // more than max_runs (1): compact() merges
    }
    const std::uint64_t old_end = index->durable_end();
    const std::uint64_t new_end = model.next_position;
    fs->crash_after(k);
    const bool done = compaction ? index->compact().has_value() : index->freeze_and_write_run().has_value();
    index.reset();
    mem->power_loss(mode, k);
    fs->clear_faults();
    auto reopened = stream_index::open(mem, "/idx", {.max_runs = 1});
    EXPECT_TRUE(reopened) << reopened.error().message();
    if (!reopened) return k;
    const std::uint64_t end = (*reopened)->durable_end();
    if (done) {
      EXPECT_EQ(end, new_end);
    } else {
      EXPECT_TRUE(end == old_end || end == new_end) << end;
    }
    std::mt19937_64 rng(k);
    expect_index_matches(**reopened, model, rng, end);
    // Nothing is left behind but the manifest and its runs.
    EXPECT_EQ(mem->files().size(), 1 + (*reopened)->runs().size());
    // And the index goes on: the lost memtable is re-added and written.
    model.replay_after_reopen(**reopened);
    EXPECT_TRUE((*reopened)->freeze_and_write_run());
    expect_index_matches(**reopened, model, rng);
    if (done || ::testing::Test::HasFailure()) return k;
  }
}

}  // namespace

TEST(stream_index_power_loss, a_crash_while_writing_a_run_leaves_the_previous_runs_complete) {
  for (const auto mode :
       {power_loss_mode::synced_only, power_loss_mode::torn_bytes, power_loss_mode::garbage}) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    // Create, header, blocks, footer, sync; then the manifest's create, write, sync, rename, directory sync.
    EXPECT_GE(crash_and_check(false, mode), 10u);
  }
}

TEST(stream_index_power_loss, a_crash_while_compacting_leaves_the_previous_runs_complete) {
  for (const auto mode :
       {power_loss_mode::synced_only, power_loss_mode::torn_bytes, power_loss_mode::garbage}) {
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    EXPECT_GE(crash_and_check(true, mode), 10u);
  }
}

TEST(stream_index_power_loss,
     a_retried_run_write_never_rewrites_a_run_number_a_failed_manifest_write_may_have_named) {
  // A failed directory sync after the manifest's rename leaves the disk holding
  // the old manifest or the new one: the retry must not truncate a run that the
  // new one names, so it takes a new number.
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<fault_injecting_file_system>(mem);
  auto index = stream_index::open(fs, "/idx", {});
  ASSERT_TRUE(index);
  stream_index_model model;
  for (int i = 0; i < 50; ++i) model.add(**index, "s-" + std::to_string(i % 7));
  // Every mutating operation of a run write; the last is the manifest's directory sync.
  std::uint64_t ops = 0;
  {
    auto probe_mem = std::make_shared<memory_file_system>();
    auto probe_fs = std::make_shared<fault_injecting_file_system>(probe_mem);
    auto probe = stream_index::open(probe_fs, "/idx", {});
    ASSERT_TRUE(probe);
    for (const auto& e : model.log) (*probe)->add(e.name, e.version, e.position);
    const std::uint64_t before = probe_fs->operation_count();
    ASSERT_TRUE((*probe)->freeze_and_write_run());
    ops = probe_fs->operation_count() - before;
  }
  fs->fail_operation(ops, eio, false);
  ASSERT_FALSE((*index)->freeze_and_write_run());
  ASSERT_TRUE(mem->contents("/idx/" + run_file_name(1)).size() > 0);
  fs->clear_faults();
  ASSERT_TRUE((*index)->freeze_and_write_run());
  EXPECT_EQ((*index)->runs().back()->header().seq, 2u);
  std::mt19937_64 rng(1);
  expect_index_matches(**index, model, rng);
}
