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

// A flush stopped before its sync while a checkpoint is due: a power loss
// then keeps the checkpoint's promise (every event below its count), and the
// events of the unsynced flush are either all there or all gone.
TEST(checkpoint, never_promises_what_a_flush_has_not_synced) {
  auto mem = std::make_shared<memory_file_system>();
  auto gated = std::make_shared<gated_file_system>(mem);
  io_thread io;
  auto s = store::open(
      io.executor(),
      {.directory = "/s", .fsync_on_flush = true, .file_system = gated, .checkpoint_interval = 1});
  ASSERT_TRUE(s) << s.error().message();
  const gate_opener open_gate_on_exit{*gated};
  ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
  ASSERT_FALSE(append_wait(*s, "b", make_events(2)).ec);
  // The next flush stops before its sync ...
  gated->close_gate();
  std::atomic<int> done{0};
  auto count = [&](boost::system::error_code ec, append_result) { done += ec ? 100 : 1; };
  s->append("c", make_events(3), expect::any, count);
  ASSERT_TRUE(gated->wait_until_waiting());
  auto crashed = power_loss_snapshot(*mem);
  gated->open_gate();
  ASSERT_TRUE(wait_until([&] { return done == 1; }));

  auto again = store::open(io.executor(), {.directory = "/s", .file_system = crashed});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->read("a")->events.size(), 1u);
  EXPECT_EQ(again->read("b")->events.size(), 2u);
  auto c = again->read("c");
  EXPECT_TRUE(!c || c->events.size() == 3u) << "part of an append survived";
  EXPECT_EQ(again->event_count(), c ? 6u : 3u);
}

// The work of opening is bounded by the checkpoint, not by the store's age:
// the stream index stays within its run bound across many checkpoints, and
// a store that closed cleanly has nothing past its checkpoint to scan.
TEST(checkpoint, runs_stay_bounded_and_a_clean_close_leaves_nothing_to_scan) {
  auto mem = std::make_shared<memory_file_system>();
  io_thread io;
  for (int session = 0; session < 20; ++session) {
    auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem, .checkpoint_interval = 8});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 20; ++i)
      ASSERT_FALSE(append_wait(*s, "a" + std::to_string(i % 5), make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  std::size_t runs = 0;
  for (const std::string& path : mem->files()) runs += path.ends_with(".sidx") ? 1 : 0;
  EXPECT_LE(runs, 9u);
  // A damaged byte past the last record would be cut by a scan: a clean
  // close leaves the scan nothing (the checkpoint's end is the log's end).
  const std::string log = "/s/log/p000-00000000.evs";
  const std::string bytes = mem->contents(log);
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(mem->contents(log), bytes);
  std::uint64_t total = 0;
  for (int k = 0; k < 5; ++k) total += s->read("a" + std::to_string(k))->events.size();
  EXPECT_EQ(total, 400u);
  EXPECT_EQ(s->stream_count(), 5u);
}
