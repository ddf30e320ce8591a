// Streams that end: soft and hard deletes and stream metadata (truncate_before,
// max_count, max_age). What they hide is hidden from every read at once, they
// take expected versions as appends do, and they survive a reopen, a power
// loss and a follower.
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

// Versions of `stream` a read returns, forward or backward.
std::vector<std::uint64_t> versions(const store& s, const std::string& stream,
                                    direction dir = direction::forward) {
  std::vector<std::uint64_t> out;
  read_options o{.from = dir == direction::forward ? 0 : from_end, .direction = dir};
  for (;;) {
    auto page = s.read(stream, o);
    if (!page) return {};
    for (const recorded_event& e : page->events) out.push_back(e.version);
    if (page->end) return out;
    o.from = page->next;
  }
}

// (stream, version) of the application's events in `stream` ($all or a
// system stream), by a read and by events().
std::vector<std::string> listed(const store& s, const std::string& stream) {
  std::vector<std::string> out;
  auto range = s.events(stream);
  for (const recorded_event& e : range) {
    if (!e.stream.starts_with('$')) out.push_back(std::string(e.stream) + "@" + std::to_string(e.version));
  }
  if (range.error()) out.push_back("<" + range.error()->message() + ">");
  return out;
}

// Waits until the system streams have linked every event.
void wait_linked(const store& s) {
  ASSERT_TRUE(wait_until([&] { return s.statistics().indexed >= s.event_count(); }));
}

}  // namespace

TEST(stream_lifecycle, a_soft_delete_hides_the_stream_everywhere_and_an_append_recreates_it) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "order-1", make_events(3)).ec);
  ASSERT_FALSE(append_wait(*s, "order-2", make_events(2)).ec);

  auto deleted = delete_stream_wait(*s, "order-1", {.expected = expect::exactly(2)});
  ASSERT_FALSE(deleted.ec) << deleted.result.detail;
  EXPECT_EQ(deleted.result.version, 2u) << "the stream's last version";
  EXPECT_EQ(deleted.result.position, 5u) << "the $lifecycle event follows the five events";

  EXPECT_EQ(s->read("order-1").error().code, errc::stream_deleted);
  EXPECT_EQ(listed(*s, "order-1"),
            std::vector<std::string>{"<stream_deleted: stream 'order-1' was deleted>"});
  EXPECT_EQ(listed(*s, "$all"), (std::vector<std::string>{"order-2@0", "order-2@1"}));
  wait_linked(*s);
  EXPECT_EQ(listed(*s, "$ce-order"), (std::vector<std::string>{"order-2@0", "order-2@1"}));
  EXPECT_EQ(listed(*s, "$et-Tested"), (std::vector<std::string>{"order-2@0", "order-2@1"}));
  // The version stays: the next append's expected version is the old one.
  EXPECT_EQ(*s->stream_version("order-1"), std::optional<std::uint64_t>(2));
  EXPECT_EQ(s->stream_metadata_of("order-1").truncate_before, std::optional<std::uint64_t>(3));
  // The change is an event of $lifecycle, readable as such.
  auto log = s->read("$lifecycle");
  ASSERT_TRUE(log) << log.error().message();
  ASSERT_EQ(log->events.size(), 1u);
  EXPECT_EQ(log->events[0].type, "$stream-lifecycle");
  EXPECT_NE(log->events[0].data.find("\"stream\":\"order-1\""), std::string_view::npos)
      << log->events[0].data;

  auto again = append_wait(*s, "order-1", make_events(1), expect::exactly(2));
  ASSERT_FALSE(again.ec) << again.result.detail;
  EXPECT_EQ(again.result.version, 3u) << "versions go on where they stopped";
  EXPECT_EQ(versions(*s, "order-1"), std::vector<std::uint64_t>{3});
  EXPECT_EQ(versions(*s, "order-1", direction::backward), std::vector<std::uint64_t>{3});
  EXPECT_EQ(listed(*s, "$all"), (std::vector<std::string>{"order-2@0", "order-2@1", "order-1@3"}));
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_lifecycle, deletes_check_the_expected_version_and_refuse_what_they_cannot_delete) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "cart-1", make_events(3)).ec);

  auto stale = delete_stream_wait(*s, "cart-1", {.expected = expect::exactly(1)});
  EXPECT_EQ(stale.ec, errc::wrong_expected_version);
  EXPECT_EQ(stale.result.actual, std::optional<std::uint64_t>(2));
  EXPECT_EQ(delete_stream_wait(*s, "cart-1", {.expected = expect::no_stream}).ec,
            errc::wrong_expected_version);
  EXPECT_EQ(versions(*s, "cart-1").size(), 3u) << "a refused delete hides nothing";

  EXPECT_EQ(delete_stream_wait(*s, "cart-9").ec, errc::stream_not_found);
  EXPECT_EQ(delete_stream_wait(*s, "$all").ec, errc::invalid_stream_name);
  EXPECT_EQ(delete_stream_wait(*s, "$lifecycle").ec, errc::invalid_stream_name);
  EXPECT_EQ(metadata_wait(*s, "cart-1", {.max_count = 1}, expect::exactly(0)).ec,
            errc::wrong_expected_version);
  EXPECT_EQ(s->read("$lifecycle").error().code, errc::stream_not_found) << "nothing refused was written";
  EXPECT_EQ(s->event_count(), 3u);
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_lifecycle, a_hard_delete_refuses_every_later_write_even_one_queued_behind_it) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "user-1", make_events(2)).ec);

  // Queued together: the append behind the tombstone sees it before its flush.
  std::promise<append_outcome> tomb, behind;
  s->delete_stream("user-1", {.hard = true}, [&](boost::system::error_code ec, append_result r) {
    tomb.set_value({ec, r});
  });
  s->append("user-1", make_events(1), expect::any, [&](boost::system::error_code ec, append_result r) {
    behind.set_value({ec, r});
  });
  const auto t = tomb.get_future().get();
  const auto b = behind.get_future().get();
  ASSERT_FALSE(t.ec) << t.result.detail;
  EXPECT_EQ(b.ec, errc::stream_tombstoned) << b.result.detail;

  EXPECT_EQ(append_wait(*s, "user-1", make_events(1)).ec, errc::stream_tombstoned);
  EXPECT_EQ(delete_stream_wait(*s, "user-1").ec, errc::stream_tombstoned);
  EXPECT_EQ(metadata_wait(*s, "user-1", {}).ec, errc::stream_tombstoned);
  EXPECT_EQ(s->read("user-1").error().code, errc::stream_deleted);
  EXPECT_TRUE(listed(*s, "$all").empty());

  // A name never written can be retired too.
  ASSERT_FALSE(delete_stream_wait(*s, "user-2", {.hard = true}).ec);
  EXPECT_EQ(append_wait(*s, "user-2", make_events(1)).ec, errc::stream_tombstoned);
  EXPECT_EQ(s->event_count(), 4u) << "two events, two $lifecycle events";
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_lifecycle, metadata_limits_what_reads_return_at_once) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "log-1", make_events(6)).ec);
  ASSERT_FALSE(append_wait(*s, "log-2", make_events(2)).ec);

  ASSERT_FALSE(metadata_wait(*s, "log-1", {.truncate_before = 2}).ec);
  EXPECT_EQ(versions(*s, "log-1"), (std::vector<std::uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(versions(*s, "log-1", direction::backward), (std::vector<std::uint64_t>{5, 4, 3, 2}));
  auto below = s->read("log-1", {.from = 1, .direction = direction::backward});
  ASSERT_TRUE(below) << below.error().message();
  EXPECT_TRUE(below->events.empty() && below->end);

  ASSERT_FALSE(metadata_wait(*s, "log-1", {.max_count = 2, .truncate_before = 1}).ec);
  EXPECT_EQ(versions(*s, "log-1"), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(listed(*s, "$all"), (std::vector<std::string>{"log-1@4", "log-1@5", "log-2@0", "log-2@1"}));
  ASSERT_FALSE(append_wait(*s, "log-1", make_events(1)).ec);
  EXPECT_EQ(versions(*s, "log-1"), (std::vector<std::uint64_t>{5, 6})) << "max_count follows the stream";
  const stream_metadata m = s->stream_metadata_of("log-1");
  EXPECT_EQ(m.max_count, std::optional<std::uint64_t>(2));
  EXPECT_EQ(m.truncate_before, std::optional<std::uint64_t>(1));
  EXPECT_FALSE(m.max_age);

  // Unset: everything is readable again (nothing was removed).
  ASSERT_FALSE(metadata_wait(*s, "log-1", {}).ec);
  EXPECT_EQ(versions(*s, "log-1").size(), 7u);

  // max_age: events older than it go, newer ones stay.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_FALSE(append_wait(*s, "log-2", make_events(1)).ec);
  ASSERT_FALSE(metadata_wait(*s, "log-2", {.max_age = std::chrono::seconds(1)}).ec);
  EXPECT_EQ(versions(*s, "log-2"), std::vector<std::uint64_t>{2});
  auto aggregate = s->aggregate("log-2", 0, [](int n, const recorded_event&) { return n + 1; });
  ASSERT_TRUE(aggregate) << aggregate.error().message();
  EXPECT_EQ(aggregate->state, 1);
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_lifecycle, subscriptions_leave_out_what_is_hidden) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "a-1", make_events(2)).ec);
  ASSERT_FALSE(append_wait(*s, "b-1", make_events(1)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "a-1").ec);
  ASSERT_FALSE(append_wait(*s, "b-1", make_events(1)).ec);
  auto sub = s->subscribe("$all", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();
  std::vector<std::string> seen;
  for (int i = 0; i < 10 && seen.size() < 3; ++i) {
    auto batch = sub->next(boost::asio::use_future).get();
    for (const recorded_event& e : batch.events)
      seen.push_back(std::string(e.stream) + "@" + std::to_string(e.version));
    if (batch.caught_up) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"b-1@0", "$lifecycle@0", "b-1@1"}));
  sub->cancel();
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_lifecycle, deletes_and_metadata_survive_a_reopen_and_reach_a_follower) {
  temp_dir dir;
  io_thread io;
  const std::string path = dir.sub("store");
  {
    auto s = store::open(io.executor(), {.directory = path});
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "x-1", make_events(2)).ec);
    ASSERT_FALSE(append_wait(*s, "x-2", make_events(3)).ec);
    ASSERT_FALSE(append_wait(*s, "x-3", make_events(1)).ec);
    ASSERT_FALSE(delete_stream_wait(*s, "x-1").ec);
    ASSERT_FALSE(metadata_wait(*s, "x-2", {.max_count = 1}).ec);
    ASSERT_FALSE(delete_stream_wait(*s, "x-3", {.hard = true}).ec);
    EXPECT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(s) << s.error().message();
  const verify_report report = verify_store(*s);
  EXPECT_TRUE(report.clean()) << (report.damage.empty() ? "" : report.damage.front().message());
  EXPECT_EQ(report.events_checked, 9u) << "every event stored, the hidden ones too";
  EXPECT_EQ(s->read("x-1").error().code, errc::stream_deleted);
  EXPECT_EQ(versions(*s, "x-2"), std::vector<std::uint64_t>{2});
  EXPECT_EQ(append_wait(*s, "x-3", make_events(1)).ec, errc::stream_tombstoned);

  auto follower = store::open(io.executor(), {.directory = path, .read_only = true, .follow = false});
  ASSERT_TRUE(follower) << follower.error().message();
  EXPECT_EQ(follower->read("x-1").error().code, errc::stream_deleted);
  EXPECT_EQ(versions(*follower, "x-2"), std::vector<std::uint64_t>{2});
  // Changes made while it follows reach it with the refresh that reads them.
  ASSERT_FALSE(metadata_wait(*s, "x-2", {}).ec);
  ASSERT_FALSE(append_wait(*s, "x-1", make_events(1)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "x-2").ec);
  ASSERT_TRUE(follower->refresh()) << "refresh failed";
  EXPECT_EQ(versions(*follower, "x-1"), std::vector<std::uint64_t>{2});
  EXPECT_EQ(follower->read("x-2").error().code, errc::stream_deleted);
  EXPECT_FALSE(close_wait(*follower));
  EXPECT_FALSE(close_wait(*s));
}

// A soft delete racing appends to its stream hides exactly the versions up
// to the one it reports, whatever the interleaving, and the same after a reopen.
TEST(stream_lifecycle, a_delete_racing_appends_hides_exactly_what_came_before_it) {
  temp_dir dir;
  io_thread io;
  const std::string path = dir.sub("store");
  std::uint64_t last_hidden = 0;
  std::set<std::uint64_t> acknowledged;
  {
    auto s = store::open(io.executor(), {.directory = path});
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "race-1", make_events(1)).ec);
    std::mutex m;
    std::atomic<int> outstanding{0};
    std::thread appender([&] {
      for (int i = 0; i < 400; ++i) {
        ++outstanding;
        s->append("race-1", make_events(1), expect::any, [&](boost::system::error_code ec, append_result r) {
          if (!ec) {
            std::lock_guard lock(m);
            acknowledged.insert(r.version);
          }
          --outstanding;
        });
        if (i % 50 == 0) std::this_thread::yield();
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    auto d = delete_stream_wait(*s, "race-1");
    appender.join();
    ASSERT_TRUE(wait_until([&] { return outstanding == 0; }));
    ASSERT_FALSE(d.ec) << d.result.detail;
    last_hidden = d.result.version;
    EXPECT_EQ(s->stream_metadata_of("race-1").truncate_before, std::optional<std::uint64_t>(last_hidden + 1));
    std::vector<std::uint64_t> expected;
    for (const std::uint64_t v : acknowledged) {
      if (v > last_hidden) expected.push_back(v);
    }
    if (expected.empty()) {
      EXPECT_EQ(s->read("race-1").error().code, errc::stream_deleted);
    } else {
      EXPECT_EQ(versions(*s, "race-1"), expected);
    }
    EXPECT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(s) << s.error().message();
  const auto after = versions(*s, "race-1");
  for (const std::uint64_t v : after) EXPECT_GT(v, last_hidden);
  EXPECT_EQ(after.size() + last_hidden + 1, acknowledged.size() + 1) << "every acknowledged event is kept";
}

// An acknowledged delete is as durable as an acknowledged append: a power
// loss right after it keeps it.
TEST(stream_lifecycle, an_acknowledged_delete_survives_a_power_loss) {
  auto mem = std::make_shared<memory_file_system>();
  auto copy = std::make_shared<memory_file_system>();
  io_thread io;
  {
    auto s = store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = mem});
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "p-1", make_events(3)).ec);
    ASSERT_FALSE(delete_stream_wait(*s, "p-1", {.hard = true}).ec);
    // What a disk would keep now, copied while the store still runs (its
    // close would write on after the power loss).
    mem->power_loss(power_loss_mode::synced_only, 7);
    for (const std::string& p : mem->files()) copy->set_contents(p, mem->contents(p));
  }
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = copy});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->read("p-1").error().code, errc::stream_deleted);
  EXPECT_EQ(append_wait(*s, "p-1", make_events(1)).ec, errc::stream_tombstoned);
}

// A metadata change replaces the metadata, never a delete's cut: the deleted
// events stay hidden, before and after the stream is recreated.
TEST(stream_lifecycle, a_metadata_change_after_a_delete_never_shows_the_deleted_events) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "d-1", make_events(3)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "d-1").ec);
  ASSERT_FALSE(metadata_wait(*s, "d-1", {.max_count = 100}).ec);
  EXPECT_EQ(s->read("d-1").error().code, errc::stream_deleted);
  ASSERT_FALSE(append_wait(*s, "d-1", make_events(1)).ec);
  ASSERT_FALSE(metadata_wait(*s, "d-1", {}).ec);
  EXPECT_EQ(versions(*s, "d-1"), std::vector<std::uint64_t>{3});
  EXPECT_EQ(listed(*s, "$all"), std::vector<std::string>{"d-1@3"});
  // Out of range: refused, nothing written.
  EXPECT_EQ(metadata_wait(*s, "d-1", {.max_age = std::chrono::seconds(std::int64_t{1} << 50)}).ec,
            errc::invalid_argument);
  EXPECT_EQ(metadata_wait(*s, "d-1", {.max_age = std::chrono::seconds(-1)}).ec, errc::invalid_argument);
  // include_hidden reads what is stored.
  auto all = s->read("d-1", {.include_hidden = true});
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->events.size(), 4u);
  EXPECT_FALSE(close_wait(*s));
}

// A page whose events are all hidden is empty and not the end; a
// subscription skips it and delivers the next visible event, live too.
TEST(stream_lifecycle, pages_and_subscriptions_go_on_past_hidden_events) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "h-1", make_events(5)).ec);
  ASSERT_FALSE(append_wait(*s, "k-1", make_events(1)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "h-1").ec);
  auto page = s->read("$all", {.from = 0, .max_count = 2});
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_TRUE(page->events.empty());
  EXPECT_FALSE(page->end);
  EXPECT_EQ(page->next, 2u);

  auto sub = s->subscribe("$all", {.from = 0, .max_batch = 2});
  ASSERT_TRUE(sub) << sub.error().message();
  std::vector<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    auto batch = sub->next(boost::asio::use_future).get();
    EXPECT_TRUE(!batch.events.empty() || batch.caught_up) << "an empty batch that is not caught up";
    for (const recorded_event& e : batch.events) seen.emplace_back(e.stream);
    if (batch.caught_up) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"k-1", "$lifecycle"})) << "the hidden pages are skipped";
  // Then live: a delete's hidden events never make a batch.
  auto live = sub->next(boost::asio::use_future);
  ASSERT_FALSE(append_wait(*s, "k-1", make_events(1)).ec);
  const auto got = live.get();
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].stream, "k-1");
  sub->cancel();
  EXPECT_FALSE(close_wait(*s));
}
