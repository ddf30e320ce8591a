// A checkpoint never promises more than is durable, even while appends that
// create streams wait for the flush that writes it.
#include "support/gated_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

// Power fails now: a copy of what is durable (the store keeps running on the original).
std::shared_ptr<memory_file_system> power_loss_snapshot(memory_file_system& from) {
  from.power_loss(power_loss_mode::synced_only, 1);
  auto copy = std::make_shared<memory_file_system>();
  for (const std::string& path : from.files()) copy->set_contents(path, from.contents(path));
  return copy;
}

}  // namespace

TEST(checkpoint, stream_count_covers_only_flushed_catalog_records) {
  auto mem = std::make_shared<memory_file_system>();
  auto gated = std::make_shared<gated_file_system>(mem);
  io_thread io;
  auto s = store::open(
      io.executor(),
      {.directory = "/s", .fsync_on_flush = true, .file_system = gated, .checkpoint_interval = 1});
  ASSERT_TRUE(s) << s.error().message();
  const gate_opener open_gate_on_exit{*gated};
  ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
  // Flush 2 (new stream "b") stops before its journal sync ...
  gated->close_gate();
  std::atomic<int> done{0};
  auto count = [&](boost::system::error_code ec, append_result) { done += ec ? 100 : 1; };
  s->append("b", make_events(1), expect::any, count);
  ASSERT_TRUE(gated->wait_until_waiting());
  // ... while "c" is registered for the next batch.
  s->append("c", make_events(1), expect::any, count);
  ASSERT_TRUE(wait_until([&] { return s->stream_count() == 3; }));
  // Flush 2 completes, checkpoint included (interval 1); flush 3 stops before
  // its journal sync, so c's catalog record is not written yet.
  gated->permit_one();
  ASSERT_TRUE(wait_until([&] { return done >= 1; }));
  ASSERT_TRUE(gated->wait_until_waiting());
  auto crashed = power_loss_snapshot(*mem);
  gated->open_gate();
  ASSERT_TRUE(wait_until([&] { return done == 2; }));

  // The checkpoint written by flush 2 may promise a and b, never c.
  auto again = store::open(io.executor(), {.directory = "/s", .file_system = crashed});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->read("a")->events.size(), 1u);
  EXPECT_EQ(again->read("b")->events.size(), 1u);
}

// Opening reads the frames written since the last checkpoint, never the whole
// journal: the journal starts over at every checkpoint, so its size (and the
// work of opening) is bounded by the checkpoint interval, not by the store's age.
TEST(checkpoint, journal_starts_over_at_each_checkpoint) {
  auto mem = std::make_shared<memory_file_system>();
  io_thread io;
  for (int session = 0; session < 20; ++session) {
    auto s = store::open(
        io.executor(),
        {.directory = "/s", .fsync_on_flush = true, .file_system = mem, .checkpoint_interval = 8});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  // 400 flushes of one 4 KiB frame each; at most 8 frames (plus preallocation) between checkpoints.
  EXPECT_LE(mem->contents("/s/journal.wal").size(), 256u * 1024u);
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->read("a")->events.size(), 400u);
}
