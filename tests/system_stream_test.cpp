// System streams ($ce-<category>, $et-<type>) and link files whose names need
// more than one path segment: every link the indexer writes can be read by
// its name, survives a power loss, and a link that cannot be written fails
// alone. Also: reads of system streams that do not exist keep nothing.
#include "links/indexer.hpp"
#include "store/test_hooks.hpp"
#include "support/forwarding_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/file_system.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <string>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

std::size_t events_in(const store& s, const std::string& stream) {
  auto page = s.read(stream, {.max_count = 1000});
  return page ? page->events.size() : 0;
}

boost::system::error_code create_wait(store& s, const std::string& name, filter f) {
  std::promise<boost::system::error_code> done;
  s.create_read_stream(name, std::move(f), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto fut = done.get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

// Forwards to another file system; creating a file whose path contains
// `refused` fails with EACCES while `refusing` is set.
class refusing_file_system final : public forwarding_file_system {
 public:
  refusing_file_system(std::shared_ptr<file_system> base, std::string refused)
      : forwarding_file_system(std::move(base)), refused_(std::move(refused)) {}
  std::atomic<bool> refusing{true};

  boost::system::result<std::unique_ptr<file>> open(const std::string& p, open_mode mode) override {
    if (mode != open_mode::read_only && refusing && p.find(refused_) != std::string::npos &&
        !base_->exists(p)) {
      return error_code(EACCES, boost::system::system_category());
    }
    return base_->open(p, mode);
  }

 private:
  std::string refused_;
};

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace

// "$et-" + 90 upper-case letters encodes to 276 bytes: its link file lives in
// a sub-directory of links/, which the indexer must create (through the
// store's file system: the memory one here) and, in durable mode, sync.
TEST(system_stream, a_link_in_a_sub_directory_is_written_and_converges_after_a_power_loss) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  const store_options o{.directory = "/s", .fsync_on_flush = true, .file_system = mem};
  const std::string long_type(90, 'A');
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "order-1", {make_event(long_type)}).ec);
    ASSERT_FALSE(append_wait(*s, "order-2", {make_event("Paid")}).ec);
    ASSERT_TRUE(wait_until([&] { return s->statistics().indexed >= 2 || s->statistics().indexer_error; }));
    EXPECT_FALSE(s->statistics().indexer_error) << s->indexer_status().message();
    EXPECT_EQ(events_in(*s, "$et-" + long_type), 1u);
    EXPECT_EQ(events_in(*s, "$et-Paid"), 1u);
    EXPECT_EQ(events_in(*s, "$ce-order"), 2u);
    ASSERT_FALSE(close_wait(*s));
  }
  mem->power_loss(power_loss_mode::synced_only, 1);
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 2; }));
  EXPECT_EQ(events_in(*s, "$et-" + long_type), 1u);
  EXPECT_EQ(events_in(*s, "$ce-order"), 2u);
  EXPECT_FALSE(s->indexer_status().code) << s->indexer_status().message();
}

#if defined(EVSTORE_TEST_HOOKS)
// One durable appender awaiting each append makes one flush per event. Caught up, the
// indexer steps at most once per link_linger, not once per flush (each step is
// a wake-up, reads and a write competing with the writer for the CPU); every
// event is still linked, and a close right after the last append links it.
TEST(system_stream, a_trickle_of_flushes_is_linked_in_steps_of_several_events) {
  temp_dir dir;
  io_thread io;
  std::atomic<int> steps{0};
  const detail::scoped_test_point count("indexer.live_step", [&] { ++steps; });
  const int appends = 300;
  std::chrono::steady_clock::duration took{};
  {
    auto s = store::open(io.executor(), {.directory = dir.path(), .fsync_on_flush = true});
    ASSERT_TRUE(s);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < appends; ++i)
      ASSERT_FALSE(append_wait(*s, "order-" + std::to_string(i), {make_event("Placed")}).ec);
    ASSERT_TRUE(wait_until([&] { return s->statistics().indexed >= appends; }));
    took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(events_in(*s, "$et-Placed"), static_cast<std::size_t>(appends));
    EXPECT_EQ(events_in(*s, "$ce-order"), static_cast<std::size_t>(appends));
    // The linger's bound: the step at the first flush, then at most one per
    // linger that passed (and one for the timer that was pending at the end).
    const auto lingers = took / detail::indexer::link_linger;
    EXPECT_LE(steps.load(), lingers + 2)
        << "over " << std::chrono::duration<double, std::milli>(took).count() << " ms";
    // The last append, then close at once: the drain links it although a
    // linger may be pending.
    ASSERT_FALSE(append_wait(*s, "order-last", {make_event("Placed")}).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), {.directory = dir.path(), .fsync_on_flush = true});
  ASSERT_TRUE(s);
  EXPECT_EQ(events_in(*s, "$et-Placed"), static_cast<std::size_t>(appends + 1));
  ASSERT_FALSE(close_wait(*s));
}
#endif

#if defined(EVSTORE_TEST_HOOKS)
// Links are derived from $all, which the journal already makes durable: a
// durable append costs the journal's one fdatasync, not one more per link file
// and one for links/. The link files are synced with the indexer's durable
// progress (every checkpoint_interval events, every link_sync_interval, and at
// close); after a crash the indexer redoes $all from there.
TEST(system_stream, a_durable_append_costs_one_sync_with_system_streams_on) {
  // No time-based sync of the links (links/indexer.hpp): the count must not
  // depend on how fast this machine appends.
  const detail::scoped_link_sync_interval no_timer(std::nullopt);
  temp_dir dir;
  io_thread io;
  auto fs = std::make_shared<fault_injecting_file_system>(posix_file_system());
  const store_options o{.directory = dir.sub("store"), .fsync_on_flush = true, .file_system = fs};
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    // The first append creates the link files: count from after it.
    ASSERT_FALSE(append_wait(*s, "cart-0", make_events(1, "Added")).ec);
    ASSERT_TRUE(
        wait_until([&] { return events_in(*s, "$ce-cart") == 1 && events_in(*s, "$et-Added") == 1; }));
    const std::uint64_t before = fs->sync_count();
    constexpr std::size_t appends = 20;
    for (std::size_t i = 1; i <= appends; ++i) {
      ASSERT_FALSE(append_wait(*s, "cart-" + std::to_string(i), make_events(1, "Added")).ec);
      // The indexer's step for this append has run (and made what syncs it makes).
      ASSERT_TRUE(wait_until([&] { return events_in(*s, "$et-Added") == i + 1; }));
    }
    const std::uint64_t syncs = fs->sync_count() - before;
    EXPECT_EQ(syncs, appends) << "syncs per durable append: " << static_cast<double>(syncs) / appends;
    ASSERT_FALSE(close_wait(*s));
  }
  // Closed: the links are durable and complete without redoing $all.
  auto reopened = store::open(io.executor(), o);
  ASSERT_TRUE(reopened) << reopened.error().message();
  EXPECT_EQ(events_in(*reopened, "$ce-cart"), 21u);
  EXPECT_EQ(events_in(*reopened, "$et-Added"), 21u);
}

// The indexer persists the links lazily in durable mode (links/indexer.hpp):
// here every checkpoint_interval (3) events, without the timer. Power goes with
// entries written after the last persist and not synced: whatever part of the
// unsynced writes survives, the reopened store's system streams hold exactly
// what $all derives. Fails if links/progress is written before every entry
// below it is synced (the reopened indexer redoes $all only from there).
TEST(system_stream, links_written_after_the_last_persist_converge_after_a_power_loss) {
  const detail::scoped_link_sync_interval no_timer(std::nullopt);
  io_thread io;
  const std::vector<std::string> categories{"cart", "order", "user"};
  const std::vector<std::string> types{"Added", "Paid"};
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto mem = std::make_shared<memory_file_system>();
    auto faults = std::make_shared<fault_injecting_file_system>(mem);
    store_options o{
        .directory = "/s", .fsync_on_flush = true, .file_system = faults, .checkpoint_interval = 3};
    const std::uint64_t n = 7 + seed % 5;
    {
      auto s = store::open(io.executor(), o);
      ASSERT_TRUE(s) << s.error().message();
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::string stream = categories[i % 3] + "-" + std::to_string(i % 2);
        ASSERT_FALSE(append_wait(*s, stream, {make_event(types[(i / 3) % 2])}).ec);
      }
      ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == n || s->statistics().indexer_error; }));
      ASSERT_FALSE(s->statistics().indexer_error) << s->indexer_status().message();
      faults->crash_after(0);  // the process dies: nothing it does from now on reaches the disk
    }
    mem->power_loss(seed % 2 == 0 ? power_loss_mode::random_prefix : power_loss_mode::torn_sectors, seed);
    o.file_system = mem;
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_EQ(s->event_count(), n);  // every append was acknowledged: durable
    ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == n || s->statistics().indexer_error; }));
    ASSERT_FALSE(s->statistics().indexer_error) << s->indexer_status().message();
    std::map<std::string, std::vector<std::uint64_t>> derived;
    auto all = s->read("$all", {.max_count = 1000});
    ASSERT_TRUE(all) << all.error().message();
    for (const recorded_event& e : all->events) {
      derived["$ce-" + std::string(e.stream.substr(0, e.stream.find('-')))].push_back(e.position);
      derived["$et-" + std::string(e.type)].push_back(e.position);
    }
    for (const auto& [name, want] : derived) {
      auto page = s->read(name, {.max_count = 1000});
      ASSERT_TRUE(page) << name << ": " << page.error().message();
      std::vector<std::uint64_t> got;
      for (const recorded_event& e : page->events) got.push_back(e.position);
      EXPECT_EQ(got, want) << name;
    }
  }
}
// A process crashed after creating a link file in a sub-directory of links/,
// before any persist synced the file's entry there. The next process finds the
// file and writes it again: it must sync that entry before its progress covers
// the file, or a power loss takes the file and leaves the progress (seed 204).
TEST(system_stream, a_link_file_left_by_a_crashed_process_in_a_sub_directory_survives_a_power_loss) {
  const detail::scoped_link_sync_interval no_timer(std::nullopt);
  io_thread io;
  const std::string long_type(90, 'T');
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto mem = std::make_shared<memory_file_system>();
    auto faults = std::make_shared<fault_injecting_file_system>(mem);
    const store_options o{.directory = "/s", .fsync_on_flush = true, .file_system = faults};
    {
      // A progress file whose entry in links/ is durable (the next open syncs links/).
      auto s = store::open(io.executor(), o);
      ASSERT_TRUE(s) << s.error().message();
      ASSERT_FALSE(append_wait(*s, "order-1", {make_event("Paid")}).ec);
      ASSERT_FALSE(close_wait(*s));
    }
    {
      auto s = store::open(io.executor(), o);
      ASSERT_TRUE(s) << s.error().message();
      ASSERT_FALSE(append_wait(*s, "order-2", {make_event(long_type)}).ec);
      ASSERT_TRUE(wait_until([&] { return events_in(*s, "$et-" + long_type) == 1; }));
      faults->crash_after(0);  // the link file is written, nothing synced it
    }
    faults->clear_faults();
    {
      // Redoes $all from 1 into the same file, once the dropped store (alive
      // until its last completion has run) has let go of the directory.
      result<store> s = evstore::error(make_error_code(errc::store_locked));
      ASSERT_TRUE(wait_until([&] {
        s = store::open(io.executor(), o);
        return s || s.error().code != errc::store_locked;
      }));
      ASSERT_TRUE(s) << s.error().message();
      ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 2; }));
      ASSERT_FALSE(close_wait(*s));  // persists: progress 2
    }
    mem->power_loss(power_loss_mode::torn_sectors, seed);
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 2 || s->statistics().indexer_error; }));
    EXPECT_EQ(events_in(*s, "$et-" + long_type), 1u);
    EXPECT_FALSE(s->indexer_status().code) << s->indexer_status().message();
  }
}
#endif

// Durable mode: once appends stop, the indexer's timer persists the links
// within link_sync_interval, so a follower (which reads links/progress) sees
// them while the writer stays open and idle.
TEST(system_stream, a_follower_of_an_idle_durable_writer_sees_its_system_streams) {
  temp_dir dir;
  io_thread io;
  auto writer = store::open(io.executor(), {.directory = dir.path(), .fsync_on_flush = true});
  ASSERT_TRUE(writer) << writer.error().message();
  ASSERT_FALSE(append_wait(*writer, "cart-1", make_events(1, "Added")).ec);
  ASSERT_FALSE(append_wait(*writer, "cart-2", make_events(1, "Added")).ec);
  auto follower = store::open(io.executor(), {.directory = dir.path(), .read_only = true});
  ASSERT_TRUE(follower) << follower.error().message();
  EXPECT_TRUE(wait_until(
      [&] { return events_in(*follower, "$ce-cart") == 2 && events_in(*follower, "$et-Added") == 2; }));
}

TEST(system_stream, a_read_stream_whose_name_needs_a_sub_directory_is_linked) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.path()});
  ASSERT_TRUE(s);
  ASSERT_FALSE(append_wait(*s, "order-1", {make_event("Paid")}).ec);
  const std::string name(90, 'R');
  ASSERT_FALSE(create_wait(*s, name, filter::event_types({"Paid"})));
  ASSERT_FALSE(append_wait(*s, "order-2", {make_event("Paid")}).ec);
  EXPECT_TRUE(wait_until([&] { return events_in(*s, name) == 2; })) << s->indexer_status().message();
  EXPECT_TRUE(wait_until([&] { return events_in(*s, "$et-Paid") == 2; }));
  EXPECT_FALSE(s->indexer_status().code);
}

// One link that cannot be written must not stop the others: they stay
// current, the failure is reported with the link's name, reads of that link
// fail with it rather than reading short, and the next open rebuilds it.
TEST(system_stream, a_link_that_cannot_be_written_fails_alone_and_is_rebuilt_at_the_next_open) {
  temp_dir dir;
  io_thread io;
  auto fs = std::make_shared<refusing_file_system>(posix_file_system(), "%42roken");  // "Broken"
  const store_options o{.directory = dir.path(), .file_system = fs};
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "order-1", {make_event("Paid")}).ec);
    ASSERT_FALSE(append_wait(*s, "order-2", {make_event("Broken")}).ec);
    ASSERT_FALSE(append_wait(*s, "order-3", {make_event("Paid")}).ec);
    EXPECT_TRUE(wait_until([&] { return events_in(*s, "$et-Paid") == 2; }));
    EXPECT_TRUE(wait_until([&] { return events_in(*s, "$ce-order") == 3; }));
    const evstore::error status = s->indexer_status();
    EXPECT_EQ(status.code, boost::system::errc::permission_denied);
    EXPECT_NE(status.detail.find("$et-Broken"), std::string::npos) << status.detail;
    EXPECT_EQ(s->statistics().indexer_error, boost::system::errc::permission_denied);
    EXPECT_EQ(s->statistics().failed_links, 1u);
    auto broken = s->read("$et-Broken");
    ASSERT_FALSE(broken) << "a failed link reads short instead of failing";
    EXPECT_EQ(broken.error().code, boost::system::errc::permission_denied);
    // Later events still reach the healthy links.
    ASSERT_FALSE(append_wait(*s, "order-4", {make_event("Paid")}).ec);
    EXPECT_TRUE(wait_until([&] { return events_in(*s, "$et-Paid") == 3; }));
    ASSERT_FALSE(close_wait(*s));
  }
  fs->refusing = false;
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(wait_until([&] { return s->statistics().indexed == 4; }));
  EXPECT_EQ(events_in(*s, "$et-Broken"), 1u);
  EXPECT_EQ(events_in(*s, "$et-Paid"), 3u);
  EXPECT_EQ(events_in(*s, "$ce-order"), 4u);
  EXPECT_FALSE(s->indexer_status().code);
}

// Event types may hold '/' and be 256 bytes (max_type_bytes): their $et-
// streams follow the event-type rules, not the 200-byte stream-name rules.
TEST(system_stream, every_system_stream_the_indexer_writes_can_be_read_by_name) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.path()});
  ASSERT_TRUE(s);
  const std::string longest(256, 't');
  const std::string category(198, 'c');  // "<category>-1": a 200-byte stream name
  ASSERT_FALSE(append_wait(*s, "order-1", {make_event("orders/Placed")}).ec);
  ASSERT_FALSE(append_wait(*s, "order-2", {make_event(longest)}).ec);
  ASSERT_FALSE(append_wait(*s, category + "-1", {make_event("Paid")}).ec);
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 3; }));
  EXPECT_EQ(events_in(*s, "$et-orders/Placed"), 1u);
  EXPECT_EQ(events_in(*s, "$et-" + longest), 1u);
  EXPECT_EQ(events_in(*s, "$ce-" + category), 1u);
  auto v = s->stream_version("$et-orders/Placed");
  ASSERT_TRUE(v) << v.error().message();
  // Still invalid: what no event type or category can be.
  for (const std::string& bad :
       std::vector<std::string>{"$et-", "$et-a\x01", "$ce-a/b", "$ce-", "$x-" + longest}) {
    auto page = s->read(bad);
    ASSERT_FALSE(page) << bad;
    EXPECT_EQ(page.error().code, errc::invalid_stream_name) << bad;
  }
  ASSERT_FALSE(close_wait(*s));
}

// Each read of a missing system stream used to keep a link state for its
// name, walked on every indexer step: memory grew with every name asked.
TEST(system_stream, reading_system_streams_that_do_not_exist_keeps_no_state) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.path()});
  ASSERT_TRUE(s);
  ASSERT_FALSE(append_wait(*s, "c-1", make_events(1)).ec);
  const std::string padding(180, 'x');  // about 1 KiB of state per name
  for (int i = 0; i < 1000; ++i) (void)s->read("$et-" + padding + std::to_string(i));
  const long before = rss_kib();
  for (int i = 0; i < 40000; ++i) {
    auto page = s->read((i % 2 ? "$et-" : "$ce-") + padding + "-" + std::to_string(i));
    ASSERT_TRUE(page) << page.error().message();
    ASSERT_TRUE(page->events.empty());
  }
  const long grown = rss_kib() - before;
  EXPECT_LT(grown, 8 * 1024) << "RSS grew by " << grown << " KiB for 40000 reads of missing streams";
}
