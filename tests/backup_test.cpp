// Online backup (backup.hpp): a consistent copy while the writer appends.
#include "support/store_fixture.hpp"
#include <evstore/backup.hpp>
#include <evstore/event_json.hpp>
#include <evstore/store.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace evstore;
using namespace evstore::test;

namespace {

// Every event of $all as NDJSON lines, committedAt included.
std::vector<std::string> all_events(const store& s) {
  std::vector<std::string> out;
  for (const recorded_event& e : s.events("$all")) {
    std::string line;
    append_event_json(line, e);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace

TEST(backup, copies_events_read_stream_definitions_and_consumer_positions) {
  temp_dir dir;
  io_thread io;
  {
    auto s = store::open(io.executor(), {.directory = dir.sub("src")});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 20; ++i) {
      ASSERT_FALSE(
          append_wait(*s, "order-" + std::to_string(i % 4), {make_event(i % 2 ? "Paid" : "Placed")}).ec);
    }
    ASSERT_NO_THROW(
        s->create_read_stream("paid", filter::event_types({"Paid"}), boost::asio::use_future).get());
    auto c = s->consumer("order-1", "mailer");
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_NO_THROW(c->commit(3, R"({"sent":3})", boost::asio::use_future).get());
    ASSERT_FALSE(close_wait(*s));
  }
  auto report = backup_store(dir.sub("src"), dir.sub("copy"));
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->events, 20u);
  EXPECT_EQ(report->streams, 4u);

  auto src = store::open(io.executor(), {.directory = dir.sub("src"), .read_only = true});
  auto copy = store::open(io.executor(), {.directory = dir.sub("copy")});
  ASSERT_TRUE(src && copy);
  EXPECT_EQ(all_events(*copy), all_events(*src));
  // The read stream's links are rebuilt from $all when the copy opens.
  ASSERT_TRUE(wait_until([&] {
    auto p = copy->read("paid");
    return p && p->events.size() == 10;
  }));
  auto state = copy->consumer_state("order-1", "mailer");
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(state->position, 3u);
  EXPECT_EQ(state->state, R"({"sent":3})");
  EXPECT_TRUE(verify_store(*copy).clean());
  EXPECT_FALSE(close_wait(*copy));
}

class backup_modes : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(modes, backup_modes, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "durable" : "buffered"; });

namespace {

// Appends of 3 events each, on `streams` streams, run while `rounds` backups
// of the store in `o.directory` are taken once it holds `before` events. Each
// copy opens, holds a prefix of the source's $all made of whole appends, and
// verifies clean.
void expect_backups_while_appending_are_whole_prefixes(const temp_dir& dir, store_options o, int streams,
                                                       std::uint64_t before, int rounds) {
  io_thread io;
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      if (append_wait(*s, "s-" + std::to_string(i % streams), make_events(3)).ec) return;
    }
  });
  const bool filled = wait_until([&] { return s->event_count() > before; }, std::chrono::seconds(60));
  std::vector<std::uint64_t> counts;
  for (int round = 0; filled && round < rounds; ++round) {
    auto report = backup_store(o.directory, dir.sub("copy-" + std::to_string(round)));
    EXPECT_TRUE(report) << report.error().message();
    counts.push_back(report ? report->events : 0);
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(filled);
  const auto source = all_events(*s);
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(round);
    auto copy = store::open(io.executor(), {.directory = dir.sub("copy-" + std::to_string(round)),
                                            .read_only = true,
                                            .system_streams = o.system_streams});
    ASSERT_TRUE(copy) << copy.error().message();
    const auto events = all_events(*copy);
    ASSERT_EQ(events.size(), counts[round]);
    EXPECT_GT(events.size(), before);
    EXPECT_EQ(events.size() % 3, 0u) << "appends are whole";
    ASSERT_LE(events.size(), source.size());
    EXPECT_TRUE(std::equal(events.begin(), events.end(), source.begin())) << "a prefix of the source's $all";
    for (const stream_info& info : copy->list_streams()) EXPECT_EQ(info.event_count % 3, 0u) << info.name;
    const verify_report v = verify_store(*copy);
    EXPECT_TRUE(v.clean()) << v.damage.front().message();
    ASSERT_FALSE(close_wait(*copy));
  }
  ASSERT_FALSE(close_wait(*s));
}

}  // namespace

TEST_P(backup_modes, taken_while_appending_is_a_whole_prefix_of_the_source) {
  temp_dir dir;
  expect_backups_while_appending_are_whole_prefixes(
      dir, {.directory = dir.sub("src"), .fsync_on_flush = GetParam()}, 16, 3000, 4);
}

// Streams created while the copy runs (one after each file copied), each
// checkpointed at once: the copy holds every stream its checkpoint and $all
// name, opens, and verifies clean.
TEST(backup, taken_while_streams_are_created_holds_every_stream_its_log_names) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(),
                       {.directory = dir.sub("src"), .system_streams = false, .checkpoint_interval = 1});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "first", make_events(2)).ec);
  int created = 0;
  auto report = backup_store(dir.sub("src"), dir.sub("copy"), [&](std::uint64_t, std::uint64_t) {
    ASSERT_FALSE(append_wait(*s, "new-" + std::to_string(created++), make_events(2)).ec);
  });
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_GT(created, 3);
  EXPECT_GE(report->events, 4u) << "the stream created after store.json was copied is in the checkpoint";

  auto copy = store::open(io.executor(), {.directory = dir.sub("copy"), .system_streams = false});
  ASSERT_TRUE(copy) << copy.error().message();
  EXPECT_EQ(copy->event_count(), report->events);
  const auto source = all_events(*s);
  const auto events = all_events(*copy);
  ASSERT_LE(events.size(), source.size());
  EXPECT_TRUE(std::equal(events.begin(), events.end(), source.begin())) << "a prefix of the source's $all";
  for (const stream_info& info : copy->list_streams()) EXPECT_EQ(info.event_count, 2u) << info.name;
  EXPECT_EQ(copy->list_streams().size(), copy->stream_count());
  EXPECT_TRUE(verify_store(*copy).clean());
  ASSERT_FALSE(close_wait(*copy));
  ASSERT_FALSE(close_wait(*s));
}

TEST(backup, refuses_a_non_empty_destination_or_a_source_that_is_no_store) {
  temp_dir dir;
  io_thread io;
  {
    auto s = store::open(io.executor(), {.directory = dir.sub("src")});
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  std::filesystem::create_directories(dir.sub("full"));
  std::ofstream(dir.sub("full/keep.txt")) << "mine";
  auto busy = backup_store(dir.sub("src"), dir.sub("full"));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, errc::invalid_argument);
  EXPECT_NE(busy.error().message().find("not empty"), std::string::npos) << busy.error().message();
  EXPECT_TRUE(std::filesystem::exists(dir.sub("full/keep.txt")));
  auto nothing = backup_store(dir.sub("nowhere"), dir.sub("copy"));
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir.sub("copy")));
}

// Four partition logs of 8 KiB segments that roll over during the copy, and
// a checkpoint (a new run, often a compaction that removes runs) every 30
// events while the copy runs: each copy opens, holds a prefix of the source's
// $all of whole appends, and verifies clean.
TEST(backup, taken_while_segments_roll_and_runs_are_compacted_is_a_whole_prefix) {
  temp_dir dir;
  expect_backups_while_appending_are_whole_prefixes(dir,
                                                    {.directory = dir.sub("src"),
                                                     .system_streams = false,
                                                     .checkpoint_interval = 30,
                                                     .partitions = 4,
                                                     .segment_size = 8192},
                                                    13, 600, 3);
}
