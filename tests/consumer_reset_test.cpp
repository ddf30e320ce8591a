// Rewinding a durable consumer: reset() to any published position, durable
// like a commit, and never undone by a commit made before it.
#include "store/test_hooks.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <future>
#include <stdexcept>
#include <thread>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

boost::system::error_code reset_wait(consumer& c, std::uint64_t position, std::string state) {
  std::promise<boost::system::error_code> done;
  c.reset(position, std::move(state), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto f = done.get_future();
  if (f.wait_for(10s) != std::future_status::ready) return make_error_code(errc::store_closed);
  return f.get();
}

std::vector<std::uint64_t> versions_from(consumer& c, std::size_t count) {
  auto sub = c.subscribe({.max_batch = 100});
  EXPECT_TRUE(sub);
  std::vector<std::uint64_t> out;
  while (sub && out.size() < count) {
    std::promise<subscription_batch> got;
    sub->next([&](boost::system::error_code ec, subscription_batch b) {
      EXPECT_FALSE(ec) << ec.message();
      got.set_value(std::move(b));
    });
    auto f = got.get_future();
    if (f.wait_for(10s) != std::future_status::ready) break;
    auto b = f.get();
    for (const auto& e : b.events) out.push_back(e.version);
    if (b.caught_up && b.events.empty()) break;
  }
  return out;
}

class consumer_reset_test : public ::testing::Test {
 protected:
  store open(store_options o = {}) {
    o.directory = dir_.sub("store");
    auto s = store::open(io_.executor(), o);
    if (!s) throw std::runtime_error("open: " + s.error().message());
    return std::move(*s);
  }
  temp_dir dir_;
  io_thread io_;
};

TEST_F(consumer_reset_test, a_reset_moves_back_or_forward_durably_and_a_new_subscription_starts_there) {
  {
    store s = open();
    ASSERT_FALSE(append_wait(s, "orders", make_events(10)).ec);
    auto c = s.consumer("orders", "projection");
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_FALSE(commit_wait(*c, 8, R"({"total":8})"));
    ASSERT_FALSE(reset_wait(*c, 0, "")) << "rebuild from the start";
    EXPECT_EQ(c->position(), 0u);
    EXPECT_EQ(c->state(), "");
    EXPECT_EQ(versions_from(*c, 10).size(), 10u) << "a subscription made after the reset replays all";
    ASSERT_FALSE(commit_wait(*c, 3, R"({"total":3})")) << "commits go on from the reset position";
    ASSERT_FALSE(reset_wait(*c, 9, R"({"skipped":true})")) << "forward too";
    EXPECT_EQ(versions_from(*c, 1), (std::vector<std::uint64_t>{9}));
    ASSERT_FALSE(reset_wait(*c, 4, R"({"total":4})"));
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->position(), 4u) << "the reset survives a restart";
  EXPECT_EQ(c->state(), R"({"total":4})");
  EXPECT_EQ(versions_from(*c, 6).front(), 4u);
}

TEST_F(consumer_reset_test, a_reset_past_the_stream_or_with_a_bad_state_changes_nothing) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(3)).ec);
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c);
  ASSERT_FALSE(commit_wait(*c, 2, R"({"n":2})"));
  EXPECT_EQ(reset_wait(*c, 4, ""), errc::invalid_argument) << "beyond the published events";
  EXPECT_EQ(reset_wait(*c, 0, "{nope"), errc::invalid_event);
  EXPECT_EQ(c->position(), 2u);
  EXPECT_EQ(c->state(), R"({"n":2})");
  std::promise<std::string> detail;
  c->reset(7, "", [&](boost::system::error_code, std::string d) { detail.set_value(std::move(d)); });
  EXPECT_NE(detail.get_future().get().find("beyond the 3 published events"), std::string::npos);
  ASSERT_FALSE(reset_wait(*c, 3, "")) << "up to the end is allowed";
  EXPECT_EQ(s.consumer_state("orders", "projection")->position, 3u);
}

// A failed write leaves the consumer where it was, in memory and on disk.
TEST_F(consumer_reset_test, a_reset_that_cannot_be_written_changes_nothing) {
  auto fault = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
  auto opened = store::open(io_.executor(), {.directory = "/s", .file_system = fault});
  ASSERT_TRUE(opened);
  store& s = *opened;
  ASSERT_FALSE(append_wait(s, "orders", make_events(5)).ec);
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c);
  ASSERT_FALSE(commit_wait(*c, 5, R"({"n":5})"));
  // Every write from now fails (the indexer's too: which one comes first is not ours to pick).
  fault->fail_operation(0, make_error_code(std::errc::no_space_on_device), true);
  const auto ec = reset_wait(*c, 1, R"({"n":1})");
  EXPECT_TRUE(ec);
  EXPECT_EQ(c->position(), 5u);
  EXPECT_EQ(c->state(), R"({"n":5})");
  EXPECT_EQ(s.consumer_state("orders", "projection")->position, 5u);
}

#if defined(EVSTORE_TEST_HOOKS)
// The race a rewind must win: a projection commits batch after batch while an
// operator resets it. A commit made before the reset but written after it
// would move the consumer past events the rebuild has not handled yet.
TEST_F(consumer_reset_test, a_commit_made_before_a_reset_is_refused_not_written_after_it) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(10)).ec);
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c);
  ASSERT_FALSE(commit_wait(*c, 2, R"({"at":2})"));
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  detail::scoped_test_point hold("consumer.commit.write", [released] { released.wait(); });
  std::promise<std::pair<boost::system::error_code, std::string>> commit_done;
  std::promise<boost::system::error_code> reset_done;
  c->commit(9, R"({"at":9})", [&](boost::system::error_code ec, std::string d) {
    commit_done.set_value({ec, std::move(d)});
  });
  c->reset(0, "", [&](boost::system::error_code ec) { reset_done.set_value(ec); });
  release.set_value();
  auto committed = commit_done.get_future();
  auto reset = reset_done.get_future();
  ASSERT_EQ(committed.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(reset.wait_for(10s), std::future_status::ready);
  const auto [ec, detail] = committed.get();
  EXPECT_EQ(ec, errc::invalid_argument);
  EXPECT_NE(detail.find("was reset after this commit was made"), std::string::npos) << detail;
  EXPECT_FALSE(reset.get());
  EXPECT_EQ(c->position(), 0u);
  auto stored = s.consumer_state("orders", "projection");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->position, 0u) << "the reset stands on disk";
  EXPECT_EQ(stored->state, "");
}
#endif

// Threads commit forward while others reset: whatever the interleaving, what
// is in memory is what is on disk, and each position carries its own state.
TEST_F(consumer_reset_test, commits_and_resets_racing_leave_memory_and_disk_agreeing) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(200)).ec);
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c);
  const auto state_of = [](std::uint64_t p) { return R"({"at":)" + std::to_string(p) + "}"; };
  std::atomic<int> refused{0}, resets{0};
  std::thread committer([&] {
    for (std::uint64_t p = 1; p <= 200; ++p) {
      if (commit_wait(*c, p, state_of(p))) refused.fetch_add(1);
    }
  });
  std::thread rewinder([&] {
    for (std::uint64_t p : {150u, 20u, 90u, 5u, 0u, 60u}) {
      std::this_thread::sleep_for(2ms);
      EXPECT_FALSE(reset_wait(*c, p, state_of(p)));
      resets.fetch_add(1);
    }
  });
  committer.join();
  rewinder.join();
  EXPECT_EQ(resets.load(), 6);
  auto stored = s.consumer_state("orders", "projection");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->position, c->position());
  EXPECT_EQ(stored->state, c->state());
  EXPECT_EQ(c->state(), state_of(c->position())) << "a position never carries another's state";
  std::printf("[consumer_reset] commits refused by resets or as behind: %d of 200\n", refused.load());
}

// A projection loop that handled a batch before the reset must not move the
// consumer forward after it: its subscription ends, and commits are refused
// until the application subscribes again.
TEST_F(consumer_reset_test, a_reset_ends_the_consumers_subscriptions_and_commits_wait_for_a_new_one) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(10)).ec);
  auto c = s.consumer("orders", "projection");
  ASSERT_TRUE(c);
  auto sub = c->subscribe({.max_batch = 100});
  ASSERT_TRUE(sub);
  std::promise<std::uint64_t> first;
  sub->next([&](boost::system::error_code, subscription_batch b) { first.set_value(b.next); });
  const std::uint64_t handled = first.get_future().get();
  ASSERT_EQ(handled, 10u);
  ASSERT_FALSE(reset_wait(*c, 0, ""));
  std::promise<boost::system::error_code> ended;
  sub->next([&](boost::system::error_code ec, subscription_batch) { ended.set_value(ec); });
  auto end = ended.get_future();
  ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(end.get(), boost::asio::error::operation_aborted) << "the old loop ends";
  std::promise<std::string> refused;
  c->commit(handled, "", [&](boost::system::error_code ec, std::string d) {
    EXPECT_EQ(ec, errc::invalid_argument);
    refused.set_value(std::move(d));
  });
  EXPECT_NE(refused.get_future().get().find("subscribe again before committing"), std::string::npos);
  EXPECT_EQ(c->position(), 0u);
  EXPECT_EQ(versions_from(*c, 10).size(), 10u) << "a new subscription replays from 0";
  EXPECT_FALSE(commit_wait(*c, 10, "")) << "and its commits count";
}

#if defined(EVSTORE_TEST_HOOKS)
// Two resets in a row, the second failing: memory must say what the disk says.
TEST(consumer_reset_faults, a_failed_reset_after_a_written_one_leaves_memory_as_the_disk) {
  io_thread io;
  auto fault = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = fault});
  ASSERT_TRUE(s);
  ASSERT_FALSE(append_wait(*s, "orders", make_events(10)).ec);
  auto c = s->consumer("orders", "projection");
  ASSERT_TRUE(c);
  ASSERT_FALSE(commit_wait(*c, 8, ""));
  std::atomic<int> writes{0};
  std::promise<void> both_called;
  std::shared_future<void> called = both_called.get_future().share();
  detail::scoped_test_point second_fails("consumer.reset.write", [&, called] {
    called.wait();
    if (++writes == 2) fault->fail_operation(0, make_error_code(std::errc::no_space_on_device), true);
  });
  std::promise<boost::system::error_code> a, b;
  c->reset(0, "", [&](boost::system::error_code ec) { a.set_value(ec); });
  c->reset(5, "", [&](boost::system::error_code ec) { b.set_value(ec); });
  both_called.set_value();
  EXPECT_FALSE(a.get_future().get());
  EXPECT_TRUE(b.get_future().get());
  EXPECT_EQ(c->position(), 0u) << "the written reset, as on disk";
  EXPECT_EQ(s->consumer_state("orders", "projection")->position, 0u);
}
#endif

}  // namespace
