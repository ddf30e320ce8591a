// Durable consumers: position and state stored together, resumed after a
// restart, one live instance, validation, and crashes while committing.
#include "store/test_hooks.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <stdexcept>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

subscription_batch next_batch(subscription& sub) {
  std::promise<subscription_batch> done;
  sub.next([&](boost::system::error_code ec, subscription_batch b) {
    EXPECT_FALSE(ec) << ec.message();
    done.set_value(std::move(b));
  });
  auto f = done.get_future();
  EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
  return f.get();
}

class consumer_test : public ::testing::Test {
 protected:
  store open(store_options o = {}) {
    o.directory = dir_.sub("store");
    auto s = store::open(io_.executor(), o);
    // Throwing fails the test (gtest catches it) instead of using an empty result.
    if (!s) throw std::runtime_error("open: " + s.error().message());
    return std::move(*s);
  }
  temp_dir dir_;
  io_thread io_;
};

TEST_F(consumer_test, position_and_state_survive_a_restart_and_the_consumer_resumes_there) {
  {
    store s = open();
    ASSERT_FALSE(append_wait(s, "orders", make_events(5)).ec);
    auto c = s.consumer("orders", "mailer");
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->position(), 0u);
    EXPECT_EQ(c->state(), "");
    auto sub = c->subscribe({.max_batch = 3});
    ASSERT_TRUE(sub);
    auto b = next_batch(*sub);
    ASSERT_EQ(b.events.size(), 3u);
    ASSERT_FALSE(commit_wait(*c, b.next, R"({"sent":3})"));
    EXPECT_EQ(c->position(), 3u);
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  auto c = s.consumer("orders", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->position(), 3u);
  EXPECT_EQ(c->state(), R"({"sent":3})");
  auto sub = c->subscribe();
  ASSERT_TRUE(sub);
  auto b = next_batch(*sub);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events.front().version, 3u) << "resumes right after the last committed event";
}

// A server's consumers must not read on the appends' thread: like a store's
// subscription, a consumer's can be given an executor of its own.
TEST_F(consumer_test, a_consumer_subscription_runs_on_the_executor_it_is_given) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(4)).ec);
  auto c = s.consumer("orders", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_FALSE(commit_wait(*c, 1, ""));
  io_thread readers;
  auto sub = c->subscribe({.max_batch = 10}, readers.executor());
  ASSERT_TRUE(sub) << sub.error().message();
  std::promise<std::pair<bool, subscription_batch>> done;
  sub->next([&](boost::system::error_code ec, subscription_batch b) {
    EXPECT_FALSE(ec) << ec.message();
    done.set_value({readers.context().get_executor().running_in_this_thread(), std::move(b)});
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto [on_readers, batch] = f.get();
  EXPECT_TRUE(on_readers) << "the batch completed off the given executor";
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events.front().version, 1u) << "from the consumer's position, as the default overload";
}

TEST_F(consumer_test, list_consumers_finds_every_committed_one_long_names_included) {
  store s = open();
  // 200 bytes that each encode to "%HH": the encoded names span nested directories.
  // Listed in byte order of (stream, name): "!" < "m" < "~".
  const std::string long_stream(200, '~'), long_name(200, '!');
  for (const std::string& stream : {std::string("orders"), std::string("invoices"), long_stream}) {
    ASSERT_FALSE(append_wait(s, stream, make_events(4)).ec);
  }
  auto empty = s.list_consumers();
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->empty());
  struct want {
    std::string stream, name;
    std::uint64_t position;
  };
  const std::vector<want> wanted = {{"invoices", "mailer", 1},
                                    {"orders", long_name, 3},
                                    {"orders", "mailer", 2},
                                    {long_stream, "audit", 4}};
  for (const want& w : wanted) {
    auto c = s.consumer(w.stream, w.name);
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_FALSE(commit_wait(*c, w.position, R"({"n":)" + std::to_string(w.position) + "}"));
  }
  auto opened_only = s.consumer("orders", "never-committed");
  ASSERT_TRUE(opened_only);
  auto all = s.list_consumers();
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    EXPECT_EQ((*all)[i].stream, wanted[i].stream) << i;
    EXPECT_EQ((*all)[i].name, wanted[i].name) << i;
    EXPECT_EQ((*all)[i].position, wanted[i].position) << i;
    EXPECT_EQ((*all)[i].state, R"({"n":)" + std::to_string(wanted[i].position) + "}") << i;
  }
  auto one = s.consumer_state("orders", long_name);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->stream, "orders");
  EXPECT_EQ(one->name, long_name);
}

TEST_F(consumer_test, a_second_live_instance_is_refused_until_the_first_is_gone) {
  store s = open();
  auto first = s.consumer("orders", "mailer");
  ASSERT_TRUE(first);
  auto second = s.consumer("orders", "mailer");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, errc::consumer_busy);
  EXPECT_TRUE(s.consumer("orders", "auditor")) << "another name is another consumer";
  EXPECT_TRUE(s.consumer("payments", "mailer")) << "the same name on another stream too";
  { auto gone = std::move(*first); }
  EXPECT_TRUE(s.consumer("orders", "mailer"));
}

TEST_F(consumer_test, commits_ahead_of_published_events_backwards_or_with_bad_state_are_refused) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(2)).ec);
  auto c = s.consumer("orders", "mailer");
  ASSERT_TRUE(c);
  EXPECT_EQ(commit_wait(*c, 3, ""), errc::invalid_argument) << "beyond the stream's events";
  ASSERT_FALSE(commit_wait(*c, 2, ""));
  EXPECT_EQ(commit_wait(*c, 1, ""), errc::invalid_argument) << "backwards";
  EXPECT_EQ(commit_wait(*c, 2, "{not json"), errc::invalid_event);
  EXPECT_EQ(c->position(), 2u);
  EXPECT_EQ(c->state(), "");
  EXPECT_EQ(s.consumer("orders", "").error().code, errc::invalid_argument);
  EXPECT_EQ(s.consumer("", "x").error().code, errc::invalid_stream_name);
}

#if defined(EVSTORE_TEST_HOOKS)
// Two commits in flight, both checked against the position before either was
// written: the lower one, written second, must not move the checkpoint back
// (nor pair the higher position with its state).
TEST_F(consumer_test, a_commit_behind_one_still_in_flight_is_refused_not_written) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "orders", make_events(10)).ec);
  auto c = s.consumer("orders", "mailer");
  ASSERT_TRUE(c);
  std::promise<void> both_issued;
  std::shared_future<void> issued = both_issued.get_future().share();
  detail::scoped_test_point hold("consumer.commit.write", [issued] { issued.wait(); });
  std::promise<boost::system::error_code> first, second;
  c->commit(8, R"({"at":8})", [&](boost::system::error_code ec) { first.set_value(ec); });
  c->commit(5, R"({"at":5})", [&](boost::system::error_code ec) { second.set_value(ec); });
  both_issued.set_value();
  auto f1 = first.get_future(), f2 = second.get_future();
  ASSERT_EQ(f1.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(f1.get());
  EXPECT_EQ(f2.get(), errc::invalid_argument) << "backwards, once the first is written";
  EXPECT_EQ(c->position(), 8u);
  EXPECT_EQ(c->state(), R"({"at":8})");
  auto stored = s.consumer_state("orders", "mailer");
  ASSERT_TRUE(stored) << stored.error().message();
  EXPECT_EQ(stored->position, 8u);
  EXPECT_EQ(stored->state, R"({"at":8})");
}
#endif

TEST_F(consumer_test, damaged_checkpoint_is_reported_not_reset) {
  {
    store s = open();
    ASSERT_FALSE(append_wait(s, "orders", make_events(2)).ec);
    auto c = s.consumer("orders", "mailer");
    ASSERT_TRUE(commit_wait(*c, 2, R"({"a":1})") == boost::system::error_code{});
  }
  const std::string path = dir_.sub("store") + "/consumers/orders/mailer.consumer";
  {
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr) << path;
    std::fseek(f, 17, SEEK_SET);
    std::fputc(0x7f, f);
    std::fclose(f);
  }
  store s = open();
  auto c = s.consumer("orders", "mailer");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::corrupt_data);
  EXPECT_NE(c.error().message().find("mailer.consumer"), std::string::npos) << c.error().message();
}

TEST_F(consumer_test, read_only_store_keeps_consumers_in_its_own_directory) {
  store writer = open();
  ASSERT_FALSE(append_wait(writer, "orders", make_events(3)).ec);
  auto ro = store::open(io_.executor(), {.directory = dir_.sub("store"), .read_only = true});
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->consumer("orders", "mailer").error().code, errc::read_only);
  auto ro2 = store::open(
      io_.executor(),
      {.directory = dir_.sub("store"), .read_only = true, .consumer_directory = dir_.sub("mine")});
  ASSERT_TRUE(ro2);
  auto c = ro2->consumer("orders", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_FALSE(commit_wait(*c, 3, "{}"));
  EXPECT_TRUE(std::filesystem::exists(dir_.sub("mine") + "/orders/mailer.consumer"));
  EXPECT_FALSE(std::filesystem::exists(dir_.sub("store") + "/consumers"));
}

// A crash at every file operation of a commit, then power loss: the stored
// pair is the old one or the new one, never a mix, and never unreadable.
TEST(consumer_crash, commit_is_atomic_at_every_crash_point) {
  const std::string old_state = R"({"total":1000,"note":")" + std::string(3000, 'o') + R"("})";
  const std::string new_state = R"({"total":2000,"note":")" + std::string(5000, 'n') + R"("})";
  io_thread io;
  int crash_points = 0, old_seen = 0, new_seen = 0;
  for (std::uint64_t k = 0;; ++k) {
    bool finished = false;
    // (Garbage in unsynced sectors is the store's own test's business: it may
    // make the store refuse to open, which says nothing about consumers.)
    for (auto mode : {power_loss_mode::synced_only, power_loss_mode::random_prefix}) {
      auto mem = std::make_shared<memory_file_system>();
      auto fault = std::make_shared<fault_injecting_file_system>(mem);
      {
        auto s =
            store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = fault});
        ASSERT_TRUE(s);
        ASSERT_FALSE(append_wait(*s, "a", make_events(20)).ec);
        auto c = s->consumer("a", "c");
        ASSERT_TRUE(c);
        ASSERT_FALSE(commit_wait(*c, 10, old_state));
        fault->crash_after(k);
        finished = !commit_wait(*c, 20, new_state);
        if (!finished) {
          ASSERT_EQ(c->position(), 10u) << "a failed commit changes nothing in memory";
        }
      }
      // The process dies: nothing of the store still running elsewhere after
      // its last handle went reaches the disk past the power loss.
      fault->crash_after(0);
      ASSERT_TRUE(wait_for_store_gone(*mem, "/s"));
      mem->power_loss(mode, k);
      auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
      ASSERT_TRUE(s) << s.error().message();
      auto c = s->consumer("a", "c");
      ASSERT_TRUE(c) << "crash after " << k << ": " << c.error().message();
      const bool is_old = c->position() == 10 && c->state() == old_state;
      const bool is_new = c->position() == 20 && c->state() == new_state;
      ASSERT_TRUE(is_old || is_new) << "crash after " << k << ": position " << c->position();
      if (finished) {
        ASSERT_TRUE(is_new) << "an acknowledged commit must survive (crash after " << k << ")";
      }
      old_seen += is_old;
      new_seen += is_new;
    }
    ++crash_points;
    if (finished) break;
    ASSERT_LT(k, 100u);
  }
  EXPECT_GT(old_seen, 0);
  EXPECT_GT(new_seen, 0);
  std::printf("[consumer_crash] crash points %d, states %d (old %d, new %d), mixed 0\n", crash_points,
              old_seen + new_seen, old_seen, new_seen);
}

}  // namespace
