// Read streams and system streams: routing, back-fill, live linking,
// persistence of definitions, deletion, and rebuilding damaged links.
#include "store/test_hooks.hpp"
#include "support/durability_test.hpp"
#include "support/forwarding_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

boost::system::error_code create_wait(store& s, const std::string& name, filter f,
                                      std::function<void(std::uint64_t, std::uint64_t)> progress = {}) {
  // Shared: a creation that times out here may still complete later (at the latest when the
  // store goes), after this frame is gone.
  auto done = std::make_shared<std::promise<boost::system::error_code>>();
  s.create_read_stream(
      name, std::move(f), [done](boost::system::error_code ec) { done->set_value(ec); }, std::move(progress));
  auto fut = done->get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

boost::system::error_code delete_wait(store& s, const std::string& name) {
  std::promise<boost::system::error_code> done;
  s.delete_read_stream(name, [&](boost::system::error_code ec) { done.set_value(ec); });
  return done.get_future().get();
}

// Events of a stream as "stream/version" strings, once it has `n` of them.
std::vector<std::string> wait_for_events(const store& s, const std::string& stream, std::size_t n) {
  std::vector<std::string> out;
  wait_until([&] {
    out.clear();
    auto page = s.read(stream);
    if (!page) return false;
    for (const auto& e : page->events) out.push_back(std::string(e.stream) + "/" + std::to_string(e.version));
    return out.size() >= n;
  });
  return out;
}

std::vector<event_data> typed(const std::string& type, const std::string& data = "{}") {
  std::vector<event_data> v;
  v.push_back(make_event(type, data));
  return v;
}

class read_stream_test : public durability_test {};

INSTANTIATE_TEST_SUITE_P(modes, read_stream_test, ::testing::Values(false, true), durability_name);

TEST_P(read_stream_test, system_streams_link_by_category_and_by_type) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "cart-1", typed("ItemAdded")).ec);
  ASSERT_FALSE(append_wait(s, "order-1", typed("ItemAdded")).ec);
  ASSERT_FALSE(append_wait(s, "cart-2", typed("ItemRemoved")).ec);
  ASSERT_FALSE(append_wait(s, "cart-1", typed("ItemAdded")).ec);
  EXPECT_EQ(wait_for_events(s, "$ce-cart", 3),
            (std::vector<std::string>{"cart-1/0", "cart-2/0", "cart-1/1"}));
  EXPECT_EQ(wait_for_events(s, "$et-ItemAdded", 3),
            (std::vector<std::string>{"cart-1/0", "order-1/0", "cart-1/1"}));
  auto back = s.read("$ce-cart", {.from = from_end, .max_count = 2, .direction = direction::backward});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[0].sequence, 2u) << "sequence is the entry number in the read stream";
  EXPECT_EQ(back->events[0].version, 1u) << "version stays the event's version in its write stream";
  EXPECT_EQ(back->events[1].sequence, 1u);
  EXPECT_EQ(back->next, 0u);
  EXPECT_EQ(**s.stream_version("$ce-cart"), 2u) << "a read stream's version counts its own entries";
  EXPECT_TRUE(wait_for_events(s, "$ce-nothing", 0).empty());
  EXPECT_EQ(append_wait(s, "$ce-cart", make_events(1)).ec, errc::invalid_stream_name);
  EXPECT_TRUE(wait_until([&] { return s.statistics().indexed == s.event_count(); }));
  EXPECT_FALSE(s.statistics().indexer_error);
}

// Without system streams the indexer starts with the first read stream, at
// $all position 0: its back-fill has nothing to scan and every event is the
// live links' first step. The creation completes only after that step.
TEST_P(read_stream_test, creation_completes_with_every_event_acknowledged_before_it_linked) {
  store s = open({.system_streams = false});
  for (int i = 0; i < 300; ++i) {
    ASSERT_FALSE(append_wait(s, "order-" + std::to_string(i % 7), typed(i % 3 == 0 ? "Paid" : "Placed")).ec);
  }
  ASSERT_FALSE(create_wait(s, "paid", filter::event_types({"Paid"})));
  auto page = s.read("paid", {.max_count = 1000});
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 100u);
  // A second creation with the same filter promises the same.
  ASSERT_FALSE(append_wait(s, "order-1", typed("Paid")).ec);
  ASSERT_FALSE(create_wait(s, "paid", filter::event_types({"Paid"})));
  EXPECT_EQ(s.read("paid", {.max_count = 1000})->events.size(), 101u);
}

TEST_P(read_stream_test, read_stream_is_back_filled_then_kept_current_and_survives_reopen) {
  {
    store s = open();
    for (int i = 0; i < 50; ++i) {
      const std::string total = std::to_string(i % 2 == 0 ? 1000 : 5);
      ASSERT_FALSE(
          append_wait(s, "order-" + std::to_string(i), typed("OrderPaid", R"({"total":)" + total + "}")).ec);
      ASSERT_FALSE(
          append_wait(s, "order-" + std::to_string(i), typed("OrderShipped", R"({"total":1000})")).ec);
    }
    // The back-fill scans up to where the live indexer is: once that has
    // linked all 100 events, the back-fill has all of them to scan (if it
    // were still at 0, the back-fill would rightly scan nothing).
    ASSERT_EQ(wait_for_events(s, "$et-OrderShipped", 50).size(), 50u);
    std::uint64_t last_done = 0, calls = 0;
    ASSERT_FALSE(create_wait(s, "big-paid", filter::event_types({"OrderPaid"}).where("/total", "1000"),
                             [&](std::uint64_t done, std::uint64_t total) {
                               last_done = done;
                               calls += done <= total ? 1 : 100;
                             }));
    EXPECT_GE(calls, 1u);
    EXPECT_EQ(last_done, 100u) << "progress reports the $all positions scanned";
    auto events = wait_for_events(s, "big-paid", 25);
    ASSERT_EQ(events.size(), 25u);
    EXPECT_EQ(events.front(), "order-0/0");
    EXPECT_EQ(events.back(), "order-48/0");
    ASSERT_FALSE(append_wait(s, "order-99", typed("OrderPaid", R"({"total":1000,"x":[1]})")).ec);
    ASSERT_FALSE(append_wait(s, "order-98", typed("OrderPaid", R"({"total":999})")).ec);
    EXPECT_EQ(wait_for_events(s, "big-paid", 26).back(), "order-99/0") << "live events are linked";
    auto list = s.list_read_streams();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].name, "big-paid");
    EXPECT_FALSE(list[0].building);
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  EXPECT_EQ(wait_for_events(s, "big-paid", 26).size(), 26u) << "the definition is stored";
  ASSERT_FALSE(append_wait(s, "order-97", typed("OrderPaid", R"({"total":1000})")).ec);
  EXPECT_EQ(wait_for_events(s, "big-paid", 27).back(), "order-97/0");
  EXPECT_FALSE(create_wait(s, "big-paid", filter::event_types({"OrderPaid"}).where("/total", "1000")))
      << "the same definition again is a no-op";
  EXPECT_EQ(create_wait(s, "big-paid", filter::event_types({"OrderPaid"})), errc::read_stream_exists);
  EXPECT_EQ(create_wait(s, "order-1", filter::event_types({"OrderPaid"})), errc::read_stream_exists)
      << "a write stream's name";
  EXPECT_EQ(append_wait(s, "big-paid", make_events(1)).ec, errc::invalid_stream_name);
  EXPECT_EQ(create_wait(s, "bad", filter::event_types({"X"}).where("total", "1")), errc::invalid_argument);
}

TEST_P(read_stream_test, deleting_a_read_stream_keeps_every_event) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a-1", typed("T")).ec);
  ASSERT_FALSE(create_wait(s, "ts", filter::event_types({"T"})));
  EXPECT_EQ(wait_for_events(s, "ts", 1).size(), 1u);
  ASSERT_FALSE(delete_wait(s, "ts"));
  EXPECT_EQ(s.read("ts").error().code, errc::stream_not_found);
  EXPECT_EQ(s.event_count(), 1u);
  EXPECT_EQ(s.read("a-1")->events.size(), 1u);
  EXPECT_EQ(delete_wait(s, "ts"), errc::stream_not_found);
  EXPECT_TRUE(s.list_read_streams().empty());
}

TEST_P(read_stream_test, subscription_to_a_read_stream_catches_up_then_goes_live) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "cart-1", typed("A")).ec);
  ASSERT_FALSE(append_wait(s, "other-1", typed("A")).ec);
  wait_for_events(s, "$ce-cart", 1);
  auto sub = s.subscribe("$ce-cart");
  ASSERT_TRUE(sub);
  std::vector<std::string> seen;
  bool caught_up = false;
  std::promise<void> got_three;
  auto cb = s.subscribe("$ce-cart", {}, [&](boost::system::error_code ec, const subscription_batch& b) {
    if (ec) return;
    caught_up = caught_up || b.caught_up;
    for (const auto& e : b.events) seen.push_back(std::string(e.stream));
    if (seen.size() == 3) got_three.set_value();
  });
  ASSERT_TRUE(cb);
  ASSERT_FALSE(append_wait(s, "cart-2", typed("B")).ec);
  ASSERT_FALSE(append_wait(s, "other-2", typed("B")).ec);
  ASSERT_FALSE(append_wait(s, "cart-3", typed("B")).ec);
  ASSERT_EQ(got_three.get_future().wait_for(10s), std::future_status::ready);
  cb->cancel();
  EXPECT_EQ(seen, (std::vector<std::string>{"cart-1", "cart-2", "cart-3"}));
  EXPECT_TRUE(caught_up);
}

TEST_P(read_stream_test, damaged_links_and_progress_are_rebuilt_from_all) {
  {
    store s = open();
    for (int i = 0; i < 30; ++i) ASSERT_FALSE(append_wait(s, "cart-" + std::to_string(i % 3), typed("T")).ec);
    EXPECT_EQ(wait_for_events(s, "$ce-cart", 30).size(), 30u);
    ASSERT_FALSE(close_wait(s));
  }
  // The progress file lost, and a link file torn in its last entry.
  const std::string links = dir_.sub("store") + "/links";
  std::filesystem::remove(links + "/progress");
  std::filesystem::resize_file(links + "/%24ce-cart.lnk",
                               std::filesystem::file_size(links + "/%24ce-cart.lnk") - 5);
  store s = open();
  auto events = wait_for_events(s, "$ce-cart", 30);
  ASSERT_EQ(events.size(), 30u);
  EXPECT_EQ(events[29], "cart-2/9");
  ASSERT_FALSE(append_wait(s, "cart-0", typed("T")).ec);
  EXPECT_EQ(wait_for_events(s, "$ce-cart", 31).size(), 31u) << "no duplicate from the redone part";
}

TEST_P(read_stream_test, system_streams_can_be_switched_off) {
  store s = open({.system_streams = false});
  ASSERT_FALSE(append_wait(s, "cart-1", typed("T")).ec);
  ASSERT_FALSE(create_wait(s, "all-t", filter::event_types({"T"})));
  EXPECT_EQ(wait_for_events(s, "all-t", 1).size(), 1u);
  EXPECT_EQ(s.read("$ce-cart")->events.size(), 0u);
}

}  // namespace

namespace {

// What $ce-<c> and $et-<t> must hold, derived from $all alone.
std::map<std::string, std::vector<std::uint64_t>> expected_links(const store& s) {
  std::map<std::string, std::vector<std::uint64_t>> out;
  for (const auto& e : s.events("$all")) {
    const auto dash = e.stream.find('-');
    if (dash != std::string_view::npos && dash > 0)
      out["$ce-" + std::string(e.stream.substr(0, dash))].push_back(e.position);
    out["$et-" + std::string(e.type)].push_back(e.position);
  }
  return out;
}

std::vector<std::uint64_t> link_positions(const store& s, const std::string& name) {
  std::vector<std::uint64_t> out;
  auto page = s.read(name);
  if (page) {
    for (const auto& e : page->events) out.push_back(e.position);
  }
  return out;
}

// A delete whose definitions file cannot be rewritten fails, and the read
// stream stays as it was, in memory as on disk: it goes on linking, and after
// a reopen it holds every matching event (it used to vanish from memory only,
// then come back from the file missing what was appended meanwhile).
TEST(read_stream_delete, a_failed_delete_leaves_the_read_stream_defined_and_current) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto fault = std::make_shared<fault_injecting_file_system>(mem);
  {
    auto s = store::open(io.executor(), {.directory = "/s", .file_system = fault, .system_streams = false});
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(create_wait(*s, "paid", filter::event_types({"Paid"})));
    ASSERT_FALSE(append_wait(*s, "order-1", typed("Paid")).ec);
    ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 1; }));
    // The indexer is idle: operation 1 is its create_directories, 2 the new definitions file.
    fault->fail_operation(2, boost::system::errc::make_error_code(boost::system::errc::io_error), false);
    EXPECT_TRUE(delete_wait(*s, "paid"));
    fault->clear_faults();
    ASSERT_EQ(s->list_read_streams().size(), 1u);
    ASSERT_FALSE(append_wait(*s, "order-2", typed("Paid")).ec);
    EXPECT_EQ(wait_for_events(*s, "paid", 2), (std::vector<std::string>{"order-1/0", "order-2/0"}));
    ASSERT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem, .system_streams = false});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(wait_for_events(*s, "paid", 2), (std::vector<std::string>{"order-1/0", "order-2/0"}));
}

// After a failed flush the outcome of its appends is unknown until the store
// is reopened: a stream it created may be on disk, so its name stays taken
// (the writer keeps that stream's state; its cache is not swept any more).
TEST(read_stream_names, a_stream_whose_flush_failed_keeps_its_name_from_read_streams) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto fault = std::make_shared<fault_injecting_file_system>(mem);
  auto s = store::open(
      io.executor(),
      {.directory = "/s", .file_system = fault, .system_streams = false, .writer_stream_cache = 1});
  ASSERT_TRUE(s) << s.error().message();
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(append_wait(*s, "a-" + std::to_string(i), make_events(1)).ec);
  fault->fail_operation(1, boost::system::errc::make_error_code(boost::system::errc::io_error), true);
  // Two new streams, most often in the one failed flush: more states than
  // the cache keeps. (When the second comes a tick later it is refused with
  // store_failed, never written, and its name rightly stays free.)
  const std::array<std::string, 2> names{"lost-1", "lost-2"};
  std::array<boost::system::error_code, 2> outcome;
  std::atomic<int> done{0};
  for (std::size_t i = 0; i < names.size(); ++i) {
    s->append(names[i], make_events(1), expect::any, [&, i](boost::system::error_code ec, append_result) {
      outcome[i] = ec;
      ++done;
    });
  }
  ASSERT_TRUE(wait_until([&] { return done == 2; }));
  fault->clear_faults();
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(outcome[i]) << names[i];
    if (outcome[i] == errc::store_failed) continue;
    EXPECT_EQ(create_wait(*s, names[i], filter::event_types({"X"})), errc::read_stream_exists) << names[i];
  }
}

// A read stream whose name needs a sub-directory of links/ is deleted and
// defined again with a filter nothing matches: its new definition is durable
// and has no link file. The old link file's removal must be durable before
// that definition is: after a power loss, the old entries (events of the old
// filter) must not show through the new read stream.
TEST(read_stream_delete,
     a_long_named_read_stream_defined_again_never_serves_its_old_links_after_a_power_loss) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  // System streams keep links/progress moving: the old entries count as complete.
  const store_options o{.directory = "/s", .fsync_on_flush = true, .file_system = mem};
  const std::string name(90, 'R');
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "order-1", typed("A")).ec);
    ASSERT_FALSE(create_wait(*s, name, filter::event_types({"A"})));
    ASSERT_EQ(wait_for_events(*s, name, 1), (std::vector<std::string>{"order-1/0"}));
    ASSERT_FALSE(delete_wait(*s, name));
    ASSERT_FALSE(create_wait(*s, name, filter::event_types({"B"})));
    ASSERT_EQ(s->list_read_streams().size(), 1u);
    EXPECT_FALSE(s->list_read_streams()[0].building);
  }
  mem->power_loss(power_loss_mode::synced_only, 0);
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 1; }));
  auto page = s->read(name);
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_TRUE(page->events.empty()) << "the read stream serves " << page->events.size()
                                    << " event(s) of its deleted definition";
}

namespace {

// Removing a link file fails with EIO while `failing` is set.
class link_removal_failing_file_system final : public forwarding_file_system {
 public:
  using forwarding_file_system::forwarding_file_system;
  std::atomic<bool> failing{false};

  error_code remove(const std::string& p) override {
    if (failing && p.ends_with(".lnk"))
      return boost::system::errc::make_error_code(boost::system::errc::io_error);
    return base_->remove(p);
  }
};

}  // namespace

// Once the definitions file no longer lists a read stream, it is deleted (its
// subscribers are told so at once), and so is its caller, even if its old
// link file cannot be removed: nothing serves that file, and a later
// definition of the name removes it before it is built. The delete used to
// fail while its subscribers had already been ended.
TEST(read_stream_delete, a_link_file_that_cannot_be_removed_does_not_fail_a_delete_already_made) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<link_removal_failing_file_system>(mem);
  const store_options o{
      .directory = "/s", .fsync_on_flush = true, .file_system = fs, .system_streams = false};
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "order-1", typed("A")).ec);
    ASSERT_FALSE(create_wait(*s, "paid", filter::event_types({"A"})));
    ASSERT_EQ(wait_for_events(*s, "paid", 1), (std::vector<std::string>{"order-1/0"}));
    fs->failing = true;
    EXPECT_FALSE(delete_wait(*s, "paid")) << "the definitions no longer list it";
    EXPECT_TRUE(s->list_read_streams().empty());
    EXPECT_EQ(s->read("paid").error().code, errc::stream_not_found);
    fs->failing = false;
    ASSERT_FALSE(create_wait(*s, "paid", filter::event_types({"B"})));
    auto page = s->read("paid");
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_TRUE(page->events.empty()) << "the new read stream serves the old file";
  }
  mem->power_loss(power_loss_mode::synced_only, 0);
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  auto page = s->read("paid");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_TRUE(page->events.empty()) << "the new read stream serves the old file after a power loss";
}

namespace {

// Opening links/progress fails with EIO while `failing` is set: the indexer
// stops (a link file's error would fail that link alone).
class progress_failing_file_system final : public forwarding_file_system {
 public:
  using forwarding_file_system::forwarding_file_system;
  std::atomic<bool> failing{false};

  boost::system::result<std::unique_ptr<file>> open(const std::string& p, open_mode mode) override {
    if (failing && p.ends_with("links/progress")) {
      return boost::system::errc::make_error_code(boost::system::errc::io_error);
    }
    return base_->open(p, mode);
  }
};

}  // namespace

// Creating a read stream that exists with the same filter waits for the
// links to reach the events acknowledged before it; once the indexer has
// stopped they never will, and the creation completes with its error (it
// used to wait for good).
TEST(read_stream_create, creating_an_existing_read_stream_again_after_the_indexer_stopped_completes) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto fs = std::make_shared<progress_failing_file_system>(mem);
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = fs, .system_streams = false});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(create_wait(*s, "paid", filter::event_types({"A"})));
  fs->failing = true;
  ASSERT_FALSE(append_wait(*s, "order-1", typed("A")).ec);
  ASSERT_TRUE(wait_until([&] { return bool(s->statistics().indexer_error); }));
  EXPECT_EQ(create_wait(*s, "paid", filter::event_types({"A"})), boost::system::errc::io_error);
}

// Durable mode: a back-fill's entries are synced when it ends, yet the link
// stayed marked as written since the last progress write. Deleted right
// after, its file is gone: the next live step must not try to sync it (the
// indexer used to stop with ENOENT, no fault anywhere).
TEST(read_stream_delete, deleting_a_read_stream_right_after_its_back_fill_keeps_the_indexer_running) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto s =
      store::open(io.executor(),
                  {.directory = "/s", .fsync_on_flush = true, .file_system = mem, .system_streams = false});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(create_wait(*s, "kept", filter::event_types({"A"})));
  ASSERT_FALSE(append_wait(*s, "order-1", typed("A")).ec);
  ASSERT_TRUE(
      wait_until([&] { return s->statistics().indexed == 1; }));  // its back-fill has an entry to write
  ASSERT_FALSE(create_wait(*s, "gone", filter::event_types({"A"})));
  ASSERT_FALSE(delete_wait(*s, "gone"));
  ASSERT_FALSE(append_wait(*s, "order-2", typed("A")).ec);
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 2 || s->statistics().indexer_error; }));
  EXPECT_FALSE(s->statistics().indexer_error) << s->indexer_status().message();
  EXPECT_EQ(wait_for_events(*s, "kept", 2), (std::vector<std::string>{"order-1/0", "order-2/0"}));
}

// A crash at every file operation (the writer's and the indexer's, in
// whatever order they interleave), then power loss: after reopening, every
// system stream converges to exactly what $all implies — no lost link, no
// stale one, no duplicate.
#if defined(EVSTORE_TEST_HOOKS)
// An append claims the name of a read stream being created after the caller's
// check and before the indexer's: only one of them may get it, and the name
// must still read as the winner.
TEST_P(read_stream_test, append_racing_a_read_stream_creation_for_its_name_is_refused_or_wins_alone) {
  store s = open();
  std::atomic<bool> raced{false};
  std::optional<append_outcome> append;
  detail::scoped_test_point race("indexer.create.claim", [&] {
    if (raced.exchange(true)) return;
    append = append_wait(s, "contested", make_events(1));
  });
  const auto created = create_wait(s, "contested", filter::event_types({"Tested"}));
  ASSERT_TRUE(append.has_value());
  ASSERT_FALSE(append->ec) << "the append ran first: it wins";
  EXPECT_EQ(created, errc::read_stream_exists);
  EXPECT_TRUE(s.list_read_streams().empty());
  auto page = s.read("contested");
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].stream, "contested");
}
#endif

TEST(read_stream_crash, links_converge_to_all_after_a_crash_at_any_point) {
  io_thread io;
  int crash_points = 0;
  for (std::uint64_t k = 0; k < 400; k += 3) {
    auto mem = std::make_shared<memory_file_system>();
    auto fault = std::make_shared<fault_injecting_file_system>(mem);
    {
      auto s = store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = fault});
      ASSERT_TRUE(s);
      fault->crash_after(k);
      for (int i = 0; i < 12; ++i) {
        if (append_wait(*s, (i % 2 ? "cart-" : "order-") + std::to_string(i % 3), typed(i % 3 ? "A" : "B"))
                .ec)
          break;
      }
    }
    // The process dies (if it has not at k): nothing of it reaches the disk
    // after the power loss, not even a destructor still running elsewhere.
    fault->crash_after(0);
    ASSERT_TRUE(wait_for_store_gone(*mem, "/s"));
    mem->power_loss(power_loss_mode::synced_only, k);
    auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
    ASSERT_TRUE(s) << "crash after " << k << ": " << s.error().message();
    const auto expected = expected_links(*s);
    for (const auto& [name, positions] : expected) {
      EXPECT_TRUE(wait_until([&, &n = name, &p = positions] { return link_positions(*s, n) == p; }))
          << "crash after " << k << ": " << name << " has " << link_positions(*s, name).size() << " of "
          << positions.size();
    }
    ++crash_points;
    if (fault->operation_count() < k) break;  // the workload finished before the crash point
  }
  std::printf("[read_stream_crash] crash points %d, links consistent with $all after each\n", crash_points);
}

}  // namespace

#if defined(EVSTORE_TEST_HOOKS)
// close() must be done with the indexer before it gives up the directory: a
// back-fill still running would otherwise go on writing links/ under the next
// owner. Here the back-fill is held inside its first step until close() has
// queued its drain; by the time close() completes, the back-fill has finished
// (its creator heard so) and no step runs after it.
TEST_P(read_stream_test, close_finishes_a_running_back_fill_before_releasing_the_directory) {
  std::optional<store> a(open());
  for (int i = 0; i < 3; ++i)
    ASSERT_FALSE(append_wait(*a, "order-" + std::to_string(i), make_events(4096)).ec);
  ASSERT_TRUE(wait_until([&] { return a->statistics().indexed == 3 * 4096; }));
  // The first back-fill step returns once close() has queued its drain.
  std::promise<void> queued;
  auto drain_queued = queued.get_future().share();
  std::optional<detail::scoped_test_point> point;
  point.emplace("store.close.drain_queued", [&] { queued.set_value(); });
  std::atomic<int> steps{0};
  std::promise<boost::system::error_code> created;
  a->create_read_stream(
      "all-orders", filter::category("order"), [&](boost::system::error_code ec) { created.set_value(ec); },
      [&, drain_queued](std::uint64_t, std::uint64_t) {
        if (steps.fetch_add(1) == 0) drain_queued.wait_for(30s);
      });
  ASSERT_TRUE(wait_until([&] { return steps.load() > 0; }));
  std::promise<boost::system::error_code> closed;
  a->close([&](boost::system::error_code ec) { closed.set_value(ec); });
  auto closed_f = closed.get_future();
  ASSERT_EQ(closed_f.wait_for(30s), std::future_status::ready);
  EXPECT_FALSE(closed_f.get());
  point.reset();
  const int at_close = steps.load();
  auto created_f = created.get_future();
  ASSERT_EQ(created_f.wait_for(0s), std::future_status::ready) << "the back-fill outlived close()";
  EXPECT_FALSE(created_f.get());
  {
    store b = open();
    const auto list = b.list_read_streams();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_FALSE(list[0].building) << "close() left the back-fill unfinished";
    EXPECT_EQ(list[0].event_count, 3u * 4096);
    ASSERT_FALSE(create_wait(b, "other", filter::event_types({"Tested"})));
    ASSERT_FALSE(close_wait(b));
  }
  a.reset();  // joins a's background thread: any step still queued has run
  EXPECT_EQ(steps.load(), at_close) << "back-fill steps ran after close() completed";
  store c = open();
  std::set<std::string> names;
  for (const auto& rs : c.list_read_streams()) names.insert(rs.name);
  EXPECT_EQ(names, (std::set<std::string>{"all-orders", "other"}))
      << "the next owner's definitions were overwritten";
}
#endif

TEST_P(read_stream_test, read_stream_changes_after_close_fail_with_store_closed_and_write_nothing) {
  for (const bool system_streams : {true, false}) {
    SCOPED_TRACE(system_streams ? "system streams" : "no system streams");
    temp_dir dir;
    store_options o{.directory = dir.path(), .fsync_on_flush = GetParam(), .system_streams = system_streams};
    {
      auto s = store::open(io_.executor(), o);
      ASSERT_TRUE(s);
      ASSERT_FALSE(append_wait(*s, "order-1", typed("Paid")).ec);
      if (system_streams) {
        ASSERT_FALSE(create_wait(*s, "kept", filter::event_types({"Paid"})));
      }
      ASSERT_FALSE(close_wait(*s));
      EXPECT_EQ(create_wait(*s, "late", filter::event_types({"Paid"})), errc::store_closed);
      if (system_streams) {
        EXPECT_EQ(delete_wait(*s, "kept"), errc::store_closed);
      }
    }
    auto s = store::open(io_.executor(), o);
    ASSERT_TRUE(s);
    std::set<std::string> names;
    for (const auto& rs : s->list_read_streams()) names.insert(rs.name);
    EXPECT_EQ(names, system_streams ? std::set<std::string>{"kept"} : std::set<std::string>{});
  }
}

// list() reads each definition's back-fill state while the background thread
// finishes the back-fill: ThreadSanitizer (tools/setup.sh tsan) reports any
// access to it outside the indexer's lock.
TEST_P(read_stream_test, listing_read_streams_during_a_back_fill_is_race_free) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "order-1", make_events(5000)).ec);
  ASSERT_TRUE(wait_until([&] { return s.statistics().indexed == 5000; }));
  std::promise<boost::system::error_code> created;
  auto created_f = created.get_future();
  s.create_read_stream("all-orders", filter::category("order"),
                       [&](boost::system::error_code ec) { created.set_value(ec); });
  bool seen_built = false;
  while (!seen_built) {
    for (const auto& rs : s.list_read_streams()) seen_built = seen_built || !rs.building;
    if (created_f.wait_for(0s) == std::future_status::ready && !seen_built) {
      for (const auto& rs : s.list_read_streams()) seen_built = seen_built || !rs.building;
      ASSERT_TRUE(seen_built) << "the back-fill completed but list() still says building";
    }
  }
  EXPECT_FALSE(created_f.get());
}
