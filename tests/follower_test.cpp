// Read-only followers: a store opened read-only follows a writer running in
// another process (the crash child), serving reads, subscriptions and the
// writer's system streams, without writing to the store directory.
#include "support/durability_test.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>

#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <sys/wait.h>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

// Runs the writer process to completion; returns its exit status.
int run_writer(const std::string& dir, bool fsync, std::uint64_t seed, std::uint64_t appends) {
  const std::string cmd = std::string(EVSTORE_CRASH_CHILD) + " '" + dir + "' " + (fsync ? "1" : "0") + " " +
                          std::to_string(seed) + " " + std::to_string(appends) + " > /dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Every file and its size: a follower must leave these alone.
std::map<std::string, std::uintmax_t> snapshot(const std::string& dir) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[e.path().string()] = e.file_size();
  }
  return out;
}

class follower_test : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(modes, follower_test, ::testing::Values(false, true), durability_name);

TEST_P(follower_test, follows_a_writer_process_with_subscriptions_and_system_streams) {
  temp_dir dir;
  const std::string store_dir = dir.sub("store");
  ASSERT_EQ(run_writer(store_dir, GetParam(), 5, 0), 0) << "the writer creates the store";
  io_thread io;
  auto follower = store::open(
      io.executor(),
      {.directory = store_dir, .read_only = true, .follow_poll_interval = std::chrono::milliseconds(200)});
  ASSERT_TRUE(follower) << follower.error().message();

  std::mutex m;
  std::vector<std::uint64_t> positions;
  auto sub = follower->subscribe("$all", {}, [&](boost::system::error_code ec, const subscription_batch& b) {
    if (ec) return;
    std::lock_guard lock(m);
    for (const auto& e : b.events) positions.push_back(e.position);
  });
  ASSERT_TRUE(sub);

  ASSERT_EQ(run_writer(store_dir, GetParam(), 5, 300), 0);
  const auto before = snapshot(store_dir);
  std::uint64_t final_count = 0;
  {
    auto check = store::open(io.executor(), {.directory = store_dir, .read_only = true, .follow = false});
    ASSERT_TRUE(check);
    final_count = check->event_count();
  }
  ASSERT_GT(final_count, 300u);
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(m);
    return positions.size() >= final_count;
  })) << "the follower saw "
      << positions.size() << " of " << final_count;
  {
    std::lock_guard lock(m);
    ASSERT_EQ(positions.size(), final_count);
    for (std::uint64_t i = 0; i < final_count; ++i) ASSERT_EQ(positions[i], i) << "in order, once each";
  }
  // The writer's indexer linked "s-<k>" streams into $ce-s; the follower serves that too.
  std::uint64_t in_s = 0;
  for (const auto& e : follower->events("$all")) in_s += e.stream.starts_with("s-") ? 1 : 0;
  ASSERT_GT(in_s, 0u);
  EXPECT_TRUE(wait_until([&] {
    auto page = follower->read("$ce-s");
    return page && page->events.size() == in_s;
  }));
  EXPECT_EQ(snapshot(store_dir), before) << "a follower never writes to the store directory";
}

}  // namespace

namespace {

std::vector<std::string> types_in(const store& s, const std::string& stream) {
  std::vector<std::string> out;
  auto page = s.read(stream, {.from = 0, .max_count = 100});
  if (!page) return {page.error().message()};
  for (const auto& e : page->events) out.emplace_back(e.type);
  return out;
}

// A writer and a follower in this process, on one loop thread.
class follower_in_process : public ::testing::Test {
 protected:
  // Without system streams; the follower moves only on refresh().
  result<store> open_writer(std::shared_ptr<file_system> fs = {}) {
    return store::open(io.executor(),
                       {.directory = dir.path(), .file_system = std::move(fs), .system_streams = false});
  }
  result<store> open_follower(std::shared_ptr<file_system> fs = {}) {
    return store::open(io.executor(), {.directory = dir.path(),
                                       .read_only = true,
                                       .file_system = std::move(fs),
                                       .follow = false,
                                       .system_streams = false});
  }

  temp_dir dir;
  io_thread io;
};

// The follower picks up read streams created after it opened, serves them,
// and runs a consumer of one (its checkpoint in its own directory).
TEST_F(follower_in_process, sees_new_read_streams_and_runs_consumers_of_them) {
  auto writer = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(writer);
  ASSERT_FALSE(append_wait(*writer, "order-1", make_events(3, "Paid")).ec);
  auto follower = store::open(io.executor(), {.directory = dir.sub("store"),
                                              .read_only = true,
                                              .consumer_directory = dir.sub("follower-consumers"),
                                              .follow_poll_interval = std::chrono::milliseconds(50)});
  ASSERT_TRUE(follower);

  std::promise<boost::system::error_code> created;
  writer->create_read_stream("paid", filter::event_types({"Paid"}),
                             [&](boost::system::error_code ec) { created.set_value(ec); });
  ASSERT_FALSE(created.get_future().get());
  ASSERT_FALSE(append_wait(*writer, "order-2", make_events(2, "Paid")).ec);
  ASSERT_TRUE(wait_until([&] {
    auto page = follower->read("paid");
    return page && page->events.size() == 5;
  })) << "the follower serves a read stream created after it opened";
  ASSERT_EQ(follower->list_read_streams().size(), 1u);

  auto c = follower->consumer("paid", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  auto sub = c->subscribe();
  ASSERT_TRUE(sub);
  std::promise<subscription_batch> got;
  sub->next([&](boost::system::error_code, subscription_batch b) { got.set_value(std::move(b)); });
  auto batch = got.get_future().get();
  ASSERT_EQ(batch.events.size(), 5u);
  std::promise<boost::system::error_code> committed;
  c->commit(batch.next, R"({"sent":5})", [&](boost::system::error_code ec) { committed.set_value(ec); });
  ASSERT_FALSE(committed.get_future().get());
  EXPECT_TRUE(std::filesystem::exists(dir.sub("follower-consumers") + "/paid/mailer.consumer"));
  EXPECT_FALSE(std::filesystem::exists(dir.sub("store") + "/consumers"));
}

// A flush that fails after writing its records: the follower never shows
// it (the writer wrote no head for it); the writer's next open keeps what the
// log holds whole, and the follower then shows exactly that.
TEST_F(follower_in_process, never_shows_a_failed_flush_and_follows_the_writers_recovery) {
  // A buffered flush's file operations: the records, $all's entries, the head.
  for (std::uint64_t k = 1; k <= 3; ++k) {
    temp_dir here;
    auto faulty = std::make_shared<fault_injecting_file_system>(posix_file_system());
    auto open_at = [&](std::shared_ptr<file_system> fs, bool read_only) {
      return store::open(io.executor(), {.directory = here.path(),
                                         .read_only = read_only,
                                         .file_system = std::move(fs),
                                         .follow = false,
                                         .system_streams = false});
    };
    auto writer = std::make_optional(open_at(faulty, false));
    ASSERT_TRUE(*writer) << writer->error().message();
    ASSERT_FALSE(append_wait(**writer, "a", {make_event("A")}).ec);
    auto follower = open_at({}, true);
    ASSERT_TRUE(follower) << follower.error().message();
    faulty->fail_operation(k, boost::system::errc::make_error_code(boost::system::errc::no_space_on_device),
                           true);
    ASSERT_TRUE(append_wait(**writer, "x", {make_event("X")}).ec) << "operation " << k;
    ASSERT_TRUE(follower->refresh());
    EXPECT_EQ(follower->event_count(), 1u) << "operation " << k << ": a failed flush was shown";
    EXPECT_FALSE(follower->read("x")) << "operation " << k;
    (void)close_wait(**writer);
    writer.reset();
    faulty->clear_faults();

    auto again = open_at({}, false);
    ASSERT_TRUE(again) << again.error().message();
    ASSERT_FALSE(append_wait(*again, "a", make_events(2)).ec);
    auto published = follower->refresh();
    ASSERT_TRUE(published) << published.error().message();
    EXPECT_EQ(*published, again->event_count()) << "operation " << k;
    EXPECT_EQ(follower->read("a")->events.size(), 3u) << "operation " << k;
    auto x_writer = again->read("x");
    auto x_follower = follower->read("x");
    EXPECT_EQ(bool(x_writer), bool(x_follower)) << "operation " << k;
    ASSERT_FALSE(close_wait(*again));
  }
}

// The writer writes runs of its stream index and compacts them while the
// follower follows: the follower drops from its memtable what the runs now
// hold and reads every stream whole after each step.
TEST_F(follower_in_process, follows_the_writers_runs_and_compactions) {
  auto writer = store::open(
      io.executor(),
      {.directory = dir.path(), .file_system = {}, .system_streams = false, .checkpoint_interval = 5});
  ASSERT_TRUE(writer) << writer.error().message();
  auto follower = open_follower();
  ASSERT_TRUE(follower) << follower.error().message();
  std::map<std::string, std::size_t> counts;
  for (int round = 0; round < 60; ++round) {
    const std::string stream = "s" + std::to_string(round % 7);
    ASSERT_FALSE(append_wait(*writer, stream, make_events(1 + round % 3)).ec);
    counts[stream] += 1 + round % 3;
    if (round % 4 == 0) {
      ASSERT_TRUE(follower->refresh());
      for (const auto& [name, n] : counts) {
        auto page = follower->read(name, {.from = 0, .max_count = 1000});
        ASSERT_TRUE(page) << name << ": " << page.error().message();
        ASSERT_EQ(page->events.size(), n) << name << " after round " << round;
        for (std::size_t v = 0; v < n; ++v) ASSERT_EQ(page->events[v].version, v);
      }
    }
  }
  ASSERT_FALSE(close_wait(*writer));
}

// The writer deletes a read stream and creates it again with another filter:
// a new link file under the same name. The follower serves the new one, both
// when the rebuild moved nothing but the definitions and after new events.
TEST_F(follower_in_process, serves_a_read_stream_created_again_from_its_new_file) {
  auto writer = open_writer();
  ASSERT_TRUE(writer) << writer.error().message();
  writer->create_read_stream("picked", filter::event_types({"A"}), boost::asio::use_future).get();
  ASSERT_FALSE(append_wait(*writer, "s", make_events(3, "A")).ec);
  ASSERT_FALSE(append_wait(*writer, "s", make_events(3, "B")).ec);
  ASSERT_TRUE(wait_until([&] { return writer->statistics().indexed == 6; }));
  auto follower = store::open(io.executor(), {.directory = dir.path(), .read_only = true, .follow = false});
  ASSERT_TRUE(follower) << follower.error().message();
  ASSERT_EQ(types_in(*follower, "picked"), (std::vector<std::string>{"A", "A", "A"}));

  writer->delete_read_stream("picked", boost::asio::use_future).get();
  writer->create_read_stream("picked", filter::event_types({"B"}), boost::asio::use_future).get();
  ASSERT_TRUE(follower->refresh());
  EXPECT_EQ(types_in(*follower, "picked"), (std::vector<std::string>{"B", "B", "B"}))
      << "the follower reads the deleted file";

  ASSERT_FALSE(append_wait(*writer, "s", {make_event("B")}).ec);
  ASSERT_TRUE(wait_until([&] { return writer->statistics().indexed == 7; }));
  ASSERT_TRUE(follower->refresh());
  EXPECT_EQ(types_in(*follower, "picked"), (std::vector<std::string>{"B", "B", "B", "B"}));
  ASSERT_FALSE(close_wait(*writer));
}

}  // namespace
