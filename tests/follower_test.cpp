// Read-only followers: a store opened read-only follows a writer running in
// another process (the crash child), serving reads, subscriptions and the
// writer's system streams, without writing to the store directory.
#include "support/durability_test.hpp"
#include "support/paused_read_file_system.hpp"
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

  // The set-up of a stream cut by the writer's recovery: a writer on a
  // fault-injecting file system appends to "a", a follower opens, and the
  // flush creating "x" fails at file operation `k` (and every one after it).
  // Then `check_failed_flush` runs, the follower reads x's catalog record, the
  // writer closes, and `restarted_` opens the directory (its recovery cuts x).
  void cut_x_at_operation(std::uint64_t k, const std::function<void()>& check_failed_flush = {}) {
    auto faulty = std::make_shared<fault_injecting_file_system>(posix_file_system());
    auto writer = std::make_optional(open_writer(faulty));
    ASSERT_TRUE(*writer) << writer->error().message();
    ASSERT_FALSE(append_wait(**writer, "a", {make_event("A")}).ec);
    auto opened = open_follower();
    ASSERT_TRUE(opened) << opened.error().message();
    follower_.emplace(std::move(*opened));
    faulty->fail_operation(k, boost::system::errc::make_error_code(boost::system::errc::no_space_on_device),
                           true);
    ASSERT_TRUE(append_wait(**writer, "x", {make_event("X")}).ec);
    if (check_failed_flush) {
      ASSERT_NO_FATAL_FAILURE(check_failed_flush());
    }
    ASSERT_TRUE(follower_->refresh());
    ASSERT_EQ(follower_->stream_count(), 2u) << "the follower has read the catalog record of x";
    EXPECT_EQ(follower_->event_count(), 1u);
    (void)close_wait(**writer);
    writer.reset();
    faulty->clear_faults();

    auto again = open_writer();
    ASSERT_TRUE(again) << again.error().message();
    restarted_.emplace(std::move(*again));
  }

  temp_dir dir;
  io_thread io;
  std::optional<store> follower_, restarted_;  // set by cut_x_at_operation
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

// The follower read the catalog record of a stream whose creating flush
// failed; the writer's recovery cut that record and gave its id (and its
// bytes' length) to another stream. The follower forgets the cut stream and
// follows on.
TEST_F(follower_in_process, forgets_a_stream_whose_creation_the_writers_recovery_cut) {
  // The flush creating "x" writes its catalog record and $all entry, then
  // fails creating its partition (a kill -9 there leaves the same files).
  ASSERT_NO_FATAL_FAILURE(cut_x_at_operation(3));
  ASSERT_FALSE(append_wait(*restarted_, "y", {make_event("Y")}).ec);  // x's id, x's record length
  ASSERT_FALSE(append_wait(*restarted_, "a", make_events(3)).ec);
  auto published = follower_->refresh();
  ASSERT_TRUE(published) << published.error().message();
  EXPECT_EQ(*published, 5u);
  EXPECT_EQ(follower_->event_count(), 5u);
  EXPECT_EQ(types_in(*follower_, "y"), (std::vector<std::string>{"Y"}));
  EXPECT_EQ(follower_->read("a")->events.size(), 4u);
  auto x = follower_->read("x");
  ASSERT_FALSE(x);
  EXPECT_EQ(x.error().code, errc::stream_not_found);
  EXPECT_EQ(follower_->stream_count(), 2u);
  ASSERT_FALSE(close_wait(*restarted_));
}

// As above, but the flush creating "x" fails after creating its partition:
// the follower opened that partition, found no record in it, and kept the
// handle. The writer's recovery removes x's files and cuts its record; the
// next append of "x" writes the very same record (id, name, first position)
// and new files. The follower must read them, not the removed ones it holds
// (it used to stay stuck before x's first event for good).
TEST_F(follower_in_process, follows_a_stream_the_writers_recovery_cut_and_the_writer_created_again) {
  // Operations 1-3 write x's catalog record and $all entry and create its
  // partition; the record's write into it fails.
  ASSERT_NO_FATAL_FAILURE(cut_x_at_operation(4, [&] {
    ASSERT_TRUE(std::filesystem::exists(dir.path() + "/streams/x.evs"))
        << "the flush failed before x's partition";
  }));
  ASSERT_FALSE(append_wait(*restarted_, "x", {make_event("X2")}).ec);
  ASSERT_FALSE(append_wait(*restarted_, "a", make_events(2)).ec);
  auto published = follower_->refresh();
  ASSERT_TRUE(published) << published.error().message();
  EXPECT_EQ(*published, 4u) << "the follower reads x's removed partition";
  EXPECT_EQ(types_in(*follower_, "x"), (std::vector<std::string>{"X2"}));
  EXPECT_EQ(follower_->read("a")->events.size(), 3u);
  ASSERT_FALSE(close_wait(*restarted_));
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

// A reader loads a stream lazily while refresh() publishes new events of it:
// the stream ends up with every event $all shows, without another refresh.
TEST_F(follower_in_process, a_stream_loaded_while_refresh_runs_has_every_published_event) {
  auto writer = open_writer();
  ASSERT_TRUE(writer) << writer.error().message();
  ASSERT_FALSE(append_wait(*writer, "s", make_events(3)).ec);
  auto paused = std::make_shared<paused_read_file_system>(posix_file_system());
  auto follower = open_follower(paused);
  ASSERT_TRUE(follower) << follower.error().message();
  ASSERT_EQ(follower->event_count(), 3u);

  paused->pause_next_read("index/s.idx");  // the load's first read of the stream's index
  pause_releaser releaser{*paused};
  std::thread reader([&] { (void)follower->read("s"); });
  ASSERT_TRUE(paused->wait_until_paused());
  ASSERT_FALSE(append_wait(*writer, "s", make_events(2)).ec);
  auto published = follower->refresh();
  ASSERT_TRUE(published) << published.error().message();
  EXPECT_EQ(*published, 5u);
  paused->release();
  reader.join();
  auto page = follower->read("s");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 5u) << "the stream is short of what $all shows";
  ASSERT_FALSE(close_wait(*writer));
}

}  // namespace
