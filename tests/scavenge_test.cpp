// Scavenging (store::scavenge): the events a delete, truncate_before,
// max_count or max_age hides are erased from every file, their disk blocks
// given back, while appends, reads and followers go on; a crash at any step
// loses nothing and the next open finishes the batch.
#include "support/store_fixture.hpp"
#include <evstore/backup.hpp>
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include <sys/stat.h>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

constexpr std::string_view marker = "PERSONAL-DATA-7f3a";

std::vector<event_data> marked_events(std::size_t n, std::size_t pad = 0) {
  std::vector<event_data> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(make_event("Marked", "{\"who\":\"" + std::string(marker) + "\",\"pad\":\"" +
                                           std::string(pad, 'x') + "\",\"i\":" + std::to_string(i) + "}"));
  return out;
}

std::vector<std::string> files_holding(const memory_file_system& fs, std::string_view needle) {
  std::vector<std::string> out;
  for (const std::string& p : fs.files())
    if (fs.contents(p).find(needle) != std::string::npos) out.push_back(p);
  return out;
}

// "stream@version" of every event a read of `stream` returns, page by page.
std::vector<std::string> visible(const store& s, const std::string& stream = "$all") {
  std::vector<std::string> out;
  read_options o;
  for (;;) {
    auto page = s.read(stream, o);
    if (!page) {
      out.push_back("<" + page.error().message() + ">");
      return out;
    }
    for (const recorded_event& e : page->events)
      if (!e.stream.starts_with('$')) out.push_back(std::string(e.stream) + "@" + std::to_string(e.version));
    if (page->end) return out;
    o.from = page->next;
  }
}

std::size_t occurrences(const memory_file_system& fs, std::string_view needle) {
  std::size_t n = 0;
  for (const std::string& p : fs.files()) {
    const std::string bytes = fs.contents(p);
    for (auto at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1)) ++n;
  }
  return n;
}

std::uint64_t blocks_of(const std::string& dir) {
  std::uint64_t blocks = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir + "/log")) {
    struct stat st {};
    if (::stat(f.path().c_str(), &st) == 0) blocks += static_cast<std::uint64_t>(st.st_blocks);
  }
  return blocks * 512;
}

}  // namespace

TEST(scavenge, a_deleted_streams_bodies_are_gone_from_every_file_and_the_rest_reads_as_before) {
  temp_dir dir;
  const std::string path = dir.sub("store");
  io_thread io;
  auto s = store::open(io.executor(), {.directory = path, .fsync_on_flush = true});
  ASSERT_TRUE(s) << s.error().message();
  for (int round = 0; round < 3; ++round) {  // interleaved with a kept stream's events
    ASSERT_FALSE(append_wait(*s, "user-1", marked_events(4)).ec);
    ASSERT_FALSE(append_wait(*s, "order-1", make_events(2)).ec);
  }
  ASSERT_FALSE(delete_stream_wait(*s, "user-1", {.expected = expect::exactly(11)}).ec);
  ASSERT_FALSE(append_wait(*s, "user-1", make_events(1)).ec) << "recreated after the delete";
  const auto before = visible(*s);
  ASSERT_FALSE(files_holding(path, marker).empty()) << "the marker is on disk before the scavenge";

  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
  auto report =
      s->scavenge({.progress = [&](std::uint64_t d, std::uint64_t t) { progress.emplace_back(d, t); }});
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->events_erased, 12u);
  EXPECT_EQ(report->streams, 1u);
  EXPECT_GT(report->bytes_erased, 12 * marker.size());
  EXPECT_EQ(report->below, s->event_count());
  EXPECT_EQ(progress, (std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1, 1}}));
  EXPECT_EQ(files_holding(path, marker), std::vector<std::string>{});
  EXPECT_EQ(visible(*s), before);
  EXPECT_EQ(visible(*s, "user-1"), std::vector<std::string>{"user-1@12"});
  EXPECT_EQ(visible(*s, "order-1").size(), 6u);
  auto again = s->scavenge();
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->events_erased, 0u) << "nothing left to erase";

  // Reads with include_hidden (verify, export) get placeholders in their place.
  auto hidden = s->read("user-1", {.include_hidden = true});
  ASSERT_TRUE(hidden) << hidden.error().message();
  ASSERT_EQ(hidden->events.size(), 13u);
  for (std::size_t v = 0; v < 12; ++v) {
    EXPECT_EQ(hidden->events[v].version, v);
    EXPECT_EQ(hidden->events[v].type, erased_event_type);
    EXPECT_EQ(hidden->events[v].data, "null");
    EXPECT_FALSE(hidden->events[v].id);
  }
  EXPECT_EQ(hidden->events[12].type, "Tested");
  const auto report_clean = verify_store(*s);
  EXPECT_TRUE(report_clean.clean()) << report_clean.damage.front().message();
  ASSERT_FALSE(close_wait(*s));
  auto reopened = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(reopened) << reopened.error().message();
  EXPECT_EQ(visible(*reopened), before);
  EXPECT_TRUE(verify_store(*reopened).clean());
  ASSERT_FALSE(close_wait(*reopened));

  // Repair rebuilds $all from the records: erased stays erased.
  std::filesystem::remove(path + "/index/all.idx");
  auto repaired = repair_store(path);
  ASSERT_TRUE(repaired) << repaired.error().message();
  auto after_repair = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(after_repair) << after_repair.error().message();
  EXPECT_EQ(visible(*after_repair), before);
  EXPECT_EQ(files_holding(path, marker), std::vector<std::string>{});
}

TEST(scavenge, truncated_limited_and_expired_events_are_erased_and_large_ones_give_their_blocks_back) {
  temp_dir dir;
  const std::string path = dir.sub("store");
  io_thread io;
  auto s = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "big", marked_events(10, 64 * 1024)).ec);
  ASSERT_FALSE(append_wait(*s, "cut", marked_events(5)).ec);
  ASSERT_FALSE(append_wait(*s, "old", marked_events(3)).ec);
  ASSERT_FALSE(metadata_wait(*s, "big", {.max_count = 2}).ec);
  ASSERT_FALSE(metadata_wait(*s, "cut", {.truncate_before = 3}).ec);
  // The old events are 2.1 s old when max_age takes effect, the fresh one
  // has 2 s before it expires too: room for a slow machine between the two.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  ASSERT_FALSE(metadata_wait(*s, "old", {.max_age = std::chrono::seconds(2)}).ec);
  ASSERT_FALSE(append_wait(*s, "old", make_events(1)).ec) << "a fresh event: not expired";
  const auto before = visible(*s);
  const std::uint64_t blocks_before = blocks_of(path);

  auto report = s->scavenge();
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->events_erased, 8u + 3u + 3u);
  EXPECT_EQ(report->streams, 3u);
  // Each 64 KiB event gives back at least 15 of its ~16 blocks.
  EXPECT_GE(report->bytes_released, 8u * 15 * 4096);
  EXPECT_LE(report->bytes_released, report->bytes_erased);
  EXPECT_LE(blocks_of(path) + report->bytes_released / 2, blocks_before)
      << "the file system holds fewer blocks";
  EXPECT_EQ(visible(*s), before);
  EXPECT_EQ(visible(*s, "big"), (std::vector<std::string>{"big@8", "big@9"}));
  EXPECT_EQ(visible(*s, "old"), std::vector<std::string>{"old@3"});
  // The kept events of `big` still hold the marker; nothing else does.
  for (const auto& f : files_holding(path, marker)) EXPECT_TRUE(f.find("/log/") != std::string::npos) << f;
  const auto clean = verify_store(*s);
  EXPECT_TRUE(clean.clean()) << clean.damage.front().message();

  // Lowering a limit afterwards does not bring erased events back.
  ASSERT_FALSE(metadata_wait(*s, "cut", {}).ec);
  EXPECT_EQ(visible(*s, "cut"), (std::vector<std::string>{"cut@3", "cut@4"}));
  ASSERT_FALSE(close_wait(*s));
}

TEST(scavenge, one_stream_only_and_bad_requests) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "a-1", make_events(3)).ec);
  ASSERT_FALSE(append_wait(*s, "b-1", make_events(3)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "a-1").ec);
  ASSERT_FALSE(delete_stream_wait(*s, "b-1", {.hard = true}).ec);
  auto bad = s->scavenge({.stream = "a/b"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_stream_name);
  auto one = s->scavenge({.stream = "b-1"});
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->events_erased, 3u);
  auto none = s->scavenge({.stream = "nothing-here"});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_EQ(none->events_erased, 0u);
  auto rest = s->scavenge();
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_EQ(rest->events_erased, 3u) << "a-1's events, b-1's were erased already";

  auto follower = store::open(io.executor(), {.directory = dir.sub("store"), .read_only = true});
  ASSERT_TRUE(follower) << follower.error().message();
  auto refused = follower->scavenge();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::read_only);
  ASSERT_FALSE(close_wait(*s));
  auto closed = s->scavenge();
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, errc::store_closed);
}

// evstored closes the store and stops its loop while an erase may still be
// on its own thread: a scavenge that starts then must answer store_closed,
// not wait forever for the strand that no loop runs any more.
TEST(scavenge, a_scavenge_after_the_close_and_the_loop_stopped_answers_store_closed) {
  temp_dir dir;
  boost::asio::io_context ctx;
  auto guard = boost::asio::make_work_guard(ctx);
  std::thread loop([&] { ctx.run(); });
  auto s = store::open(ctx.get_executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "a-1", make_events(3)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "a-1").ec);
  ASSERT_FALSE(close_wait(*s));
  guard.reset();
  ctx.stop();
  loop.join();
  auto late = std::async(std::launch::async, [&] { return s->scavenge(); });
  ASSERT_EQ(late.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the scavenge hangs";
  auto r = late.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::store_closed);
}

// Appends, $all and stream reads, a follower and a backup run while 300
// deleted streams are erased: no read fails or returns a torn event, and
// afterwards every copy reads the same.
TEST(scavenge, a_scavenge_racing_appends_reads_a_follower_and_a_backup) {
  temp_dir dir;
  const std::string path = dir.sub("store");
  io_thread io;
  auto s = store::open(io.executor(), {.directory = path, .fsync_on_flush = true});
  ASSERT_TRUE(s) << s.error().message();
  for (int i = 0; i < 300; ++i) {
    ASSERT_FALSE(append_wait(*s, "gone-" + std::to_string(i), marked_events(8, 100)).ec);
    ASSERT_FALSE(append_wait(*s, "kept-" + std::to_string(i % 7), make_events(1)).ec);
  }
  for (int i = 0; i < 300; ++i) ASSERT_FALSE(delete_stream_wait(*s, "gone-" + std::to_string(i)).ec);
  auto follower = store::open(io.executor(), {.directory = path, .read_only = true, .follow = true});
  ASSERT_TRUE(follower) << follower.error().message();

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  const auto fail = [&](const std::string& what) {
    std::lock_guard lock(failure_mutex);
    if (failures++ == 0) first_failure = what;
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i)
      if (auto r = append_wait(*s, "live-" + std::to_string(i % 5), make_events(1)); r.ec)
        fail(r.ec.message());
  });
  for (const store* reader : {&*s, &*follower}) {
    threads.emplace_back([&, reader] {
      while (!stop) {
        for (const auto& e : visible(*reader))
          if (e.starts_with("<")) fail(e);
        for (const auto& e : visible(*reader, "kept-3"))
          if (e.starts_with("<")) fail(e);
      }
    });
  }
  auto report = s->scavenge();
  temp_dir copy;
  auto backed_up = backup_store(path, copy.sub("b"));
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->events_erased, 2400u);
  EXPECT_EQ(failures.load(), 0) << first_failure;
  ASSERT_TRUE(backed_up) << backed_up.error().message();

  ASSERT_TRUE(wait_until([&] { return follower->event_count() == s->event_count(); }));
  const auto writer_view = visible(*s);
  EXPECT_EQ(visible(*follower), writer_view);
  for (const auto& e : writer_view) EXPECT_FALSE(e.starts_with("gone-")) << e;
  auto restored = store::open(io.executor(), {.directory = copy.sub("b")});
  ASSERT_TRUE(restored) << restored.error().message();
  EXPECT_TRUE(verify_store(*restored).clean());
  EXPECT_EQ(files_holding(path + "/log", marker), std::vector<std::string>{});
  ASSERT_FALSE(close_wait(*s));
}

// The process dies after each k-th file operation of a scavenge and the disk
// loses what was not synced (in turn: exactly that, torn sectors, torn bytes):
// the next open succeeds, reads what it read before, verifies clean, and a
// scavenge then erases every hidden event.
TEST(scavenge, a_crash_at_any_step_loses_nothing_and_the_next_open_finishes_the_batch) {
  const power_loss_mode modes[] = {power_loss_mode::synced_only, power_loss_mode::torn_sectors,
                                   power_loss_mode::torn_bytes};
  bool completed = false;
  for (std::uint64_t k = 0; !completed && k < 200; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k) + " operations");
    auto mem = std::make_shared<memory_file_system>();
    auto faulty = std::make_shared<fault_injecting_file_system>(mem);
    auto image = std::make_shared<memory_file_system>();
    io_thread io;
    std::vector<std::string> before;
    {
      auto s = store::open(
          io.executor(),
          {.directory = "/s", .fsync_on_flush = true, .file_system = faulty, .system_streams = false});
      ASSERT_TRUE(s) << s.error().message();
      for (int i = 0; i < 6; ++i) {
        ASSERT_FALSE(append_wait(*s, "gone-" + std::to_string(i % 3), marked_events(2, 5000)).ec);
        ASSERT_FALSE(append_wait(*s, "kept", make_events(1)).ec);
      }
      for (int i = 0; i < 3; ++i) ASSERT_FALSE(delete_stream_wait(*s, "gone-" + std::to_string(i)).ec);
      before = visible(*s);
      faulty->crash_after(k);
      auto report = s->scavenge();
      completed = report.has_value();
      // What a disk would keep now, copied while the store still runs.
      mem->power_loss(modes[k % 3], k);
      for (const std::string& p : mem->files()) image->set_contents(p, mem->contents(p));
      faulty->crash_after(0);
    }
    auto s = store::open(io.executor(), {.directory = "/s", .file_system = image, .system_streams = false});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(visible(*s), before);
    const auto clean = verify_store(*s);
    EXPECT_TRUE(clean.clean()) << clean.damage.front().message();
    auto report = s->scavenge();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_EQ(visible(*s), before);
    EXPECT_EQ(files_holding(*image, marker), std::vector<std::string>{});
    ASSERT_FALSE(close_wait(*s));
  }
  EXPECT_TRUE(completed) << "some k lets the whole scavenge through";
}

// A read error at each read k of a scavenge, once and from then on: the
// scavenge fails with the I/O error or succeeds, nothing readable changes,
// and once the faults are gone a scavenge erases everything hidden.
TEST(scavenge, a_read_error_at_every_read_of_a_scavenge_is_reported_and_changes_nothing) {
  std::uint64_t points = 0, failed = 0;
  for (const bool persistent : {false, true}) {
    for (std::uint64_t k = 1;; ++k) {
      SCOPED_TRACE("read " + std::to_string(k) + (persistent ? ", persistent" : ", once"));
      auto mem = std::make_shared<memory_file_system>();
      auto faulty = std::make_shared<fault_injecting_file_system>(mem);
      io_thread io;
      auto s = store::open(
          io.executor(),
          {.directory = "/s", .fsync_on_flush = true, .file_system = faulty, .system_streams = false});
      ASSERT_TRUE(s) << s.error().message();
      for (int i = 0; i < 4; ++i) {
        ASSERT_FALSE(append_wait(*s, "gone-" + std::to_string(i % 2), marked_events(3, 100)).ec);
        ASSERT_FALSE(append_wait(*s, "kept", make_events(1)).ec);
      }
      ASSERT_FALSE(delete_stream_wait(*s, "gone-0").ec);
      ASSERT_FALSE(metadata_wait(*s, "gone-1", {.max_count = 1}).ec);
      const auto before = visible(*s);
      // The checkpoint a scavenge starts with, written now: the faults below
      // hit the scavenge's own reads (a failed checkpoint fails the store,
      // as checkpoint_test shows).
      ASSERT_TRUE(s->scavenge({.stream = "none-here"}));
      const std::uint64_t reads_before = faulty->read_count();
      faulty->fail_read(k, boost::system::errc::make_error_code(boost::system::errc::io_error), persistent);
      auto report = s->scavenge();
      const bool fired = faulty->read_count() >= reads_before + k;
      faulty->clear_faults();
      if (!report) {
        ++failed;
        EXPECT_EQ(report.error().code, boost::system::errc::io_error) << report.error().message();
      }
      EXPECT_EQ(visible(*s), before);
      auto again = s->scavenge();
      ASSERT_TRUE(again) << again.error().message();
      EXPECT_EQ(visible(*s), before);
      EXPECT_EQ(occurrences(*mem, marker), 1u) << "gone-1's last event only";
      const auto clean = verify_store(*s);
      EXPECT_TRUE(clean.clean()) << clean.damage.front().message();
      ASSERT_FALSE(close_wait(*s));
      ++points;
      if (!fired || HasFailure()) break;
    }
  }
  EXPECT_GT(failed, 0u) << "some read errors must reach the scavenge";
  std::printf("read-error points %llu, scavenges failed %llu\n", static_cast<unsigned long long>(points),
              static_cast<unsigned long long>(failed));
}

// A scavenge that failed after marking its batch's entries leaves the batch
// noted; a backup copies the note, so the copy's first open erases those
// records too (their marked entries keep any later scavenge off them).
TEST(scavenge, a_backup_of_a_half_done_batch_finishes_it) {
  int half_done = 0;
  bool completed = false;
  for (std::uint64_t k = 0; !completed && k < 100; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k));
    auto mem = std::make_shared<memory_file_system>();
    auto faulty = std::make_shared<fault_injecting_file_system>(mem);
    io_thread io;
    {
      auto s = store::open(
          io.executor(),
          {.directory = "/s", .fsync_on_flush = true, .file_system = faulty, .system_streams = false});
      ASSERT_TRUE(s) << s.error().message();
      ASSERT_FALSE(append_wait(*s, "gone", marked_events(3)).ec);
      ASSERT_FALSE(append_wait(*s, "kept", make_events(1)).ec);
      ASSERT_FALSE(delete_stream_wait(*s, "gone").ec);
      ASSERT_TRUE(s->scavenge({.stream = "none-here"}));  // the checkpoint, before the faults
      faulty->crash_after(k);
      completed = s->scavenge().has_value();
      faulty->clear_faults();
      ASSERT_FALSE(close_wait(*s));
    }
    if (!mem->exists("/s/index/scavenge") || occurrences(*mem, marker) == 0) continue;
    ++half_done;
    temp_dir dir;
    for (const std::string& p : mem->files()) {
      const std::filesystem::path to = dir.path() + p;
      std::filesystem::create_directories(to.parent_path());
      std::ofstream(to, std::ios::binary) << mem->contents(p);
    }
    auto copied = backup_store(dir.path() + "/s", dir.sub("copy"));
    ASSERT_TRUE(copied) << copied.error().message();
    auto restored = store::open(io.executor(), {.directory = dir.sub("copy")});
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(visible(*restored), std::vector<std::string>{"kept@0"});
    ASSERT_TRUE(restored->scavenge());
    EXPECT_EQ(files_holding(dir.sub("copy"), marker), std::vector<std::string>{});
    ASSERT_FALSE(close_wait(*restored));
  }
  EXPECT_GT(half_done, 0) << "some k must leave a half-done batch";
}
