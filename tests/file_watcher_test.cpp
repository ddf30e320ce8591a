// The follower's file watcher: inotify reports changes long before the poll
// interval, polling works alone, and nothing is called after stop.
#include "io/file_watcher.hpp"

#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

using namespace evstore;
using namespace evstore::test;
using namespace std::chrono_literals;
using evstore::detail::file_watcher;

namespace {

void append_to(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

class file_watcher_test : public ::testing::Test {
 protected:
  std::function<void()> count() {
    return [this] { calls.fetch_add(1); };
  }

  temp_dir dir;
  io_thread io;  // outlives the watchers, which are locals of the tests
  std::atomic<int> calls{0};
};

// Long enough that a call within the test's deadline can only come from inotify.
constexpr auto no_poll = 10s;

TEST_F(file_watcher_test, inotify_reports_an_append_long_before_the_poll_interval) {
  const std::string file = dir.sub("data");
  append_to(file, "before");
  file_watcher w(io.executor(), {dir.path()}, no_poll, count());
  ASSERT_TRUE(w.using_inotify());

  // Kept open, as a writer keeps its files: only IN_MODIFY reports this, not IN_CLOSE_WRITE.
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << "more bytes" << std::flush;
  EXPECT_TRUE(wait_until([&] { return calls.load() > 0; }, 2s));
}

TEST_F(file_watcher_test, inotify_reports_a_new_file) {
  file_watcher w(io.executor(), {dir.path()}, no_poll, count());
  ASSERT_TRUE(w.using_inotify());

  // Created, empty and kept open: only IN_CREATE reports this.
  std::ofstream out(dir.sub("new-file"));
  ASSERT_TRUE(out.is_open());
  EXPECT_TRUE(wait_until([&] { return calls.load() > 0; }, 2s));
}

TEST_F(file_watcher_test, inotify_reports_a_file_renamed_into_the_directory) {
  temp_dir staging;
  append_to(staging.sub("next"), "x");
  file_watcher w(io.executor(), {dir.path()}, no_poll, count());
  ASSERT_TRUE(w.using_inotify());

  std::filesystem::rename(staging.sub("next"), dir.sub("next"));  // IN_MOVED_TO
  EXPECT_TRUE(wait_until([&] { return calls.load() > 0; }, 2s));
}

TEST_F(file_watcher_test, polls_without_inotify) {
  file_watcher w(io.executor(), {dir.path()}, 20ms, count(), /*use_inotify=*/false);
  EXPECT_FALSE(w.using_inotify());
  EXPECT_TRUE(wait_until([&] { return calls.load() >= 3; }, 1s));
}

TEST_F(file_watcher_test, no_call_after_stop) {
  file_watcher w(io.executor(), {dir.path()}, 5ms, count());
  ASSERT_TRUE(wait_until([&] { return calls.load() > 0; }, 1s));
  w.stop();
  EXPECT_FALSE(w.using_inotify());

  const int seen = calls.load();
  append_to(dir.sub("after-stop"), "x");  // neither inotify nor the timer may call now
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), seen);
}

TEST_F(file_watcher_test, destruction_waits_for_a_call_in_progress_and_no_call_follows) {
  std::atomic<bool> in_call{false};
  auto w = std::make_unique<file_watcher>(io.executor(), std::vector<std::string>{dir.path()}, 5ms, [&] {
    in_call = true;
    std::this_thread::sleep_for(50ms);
    calls.fetch_add(1);
    in_call = false;
  });
  ASSERT_TRUE(wait_until([&] { return in_call.load(); }, 1s));
  w.reset();  // on this thread, while on_change runs on the io thread
  EXPECT_FALSE(in_call.load());

  const int seen = calls.load();
  append_to(dir.sub("after-destruction"), "x");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), seen);
}

TEST_F(file_watcher_test, on_change_may_stop_its_own_watcher) {
  std::atomic<file_watcher*> self{nullptr};
  std::atomic<bool> stopped{false};
  file_watcher w(io.executor(), {dir.path()}, 5ms, [&] {
    calls.fetch_add(1);
    if (file_watcher* p = self.load()) {
      p->stop();  // must neither deadlock nor allow another call
      stopped = true;
    }
  });
  self = &w;
  ASSERT_TRUE(wait_until([&] { return stopped.load(); }, 1s));

  const int seen = calls.load();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), seen);
}

TEST_F(file_watcher_test, a_missing_directory_is_not_an_error_polling_still_works) {
  file_watcher w(io.executor(), {dir.sub("missing")}, 20ms, count());
  EXPECT_TRUE(wait_until([&] { return calls.load() >= 3; }, 1s));
}

TEST_F(file_watcher_test, a_missing_directory_does_not_stop_inotify_on_the_others) {
  file_watcher w(io.executor(), {dir.sub("missing"), dir.path()}, no_poll, count());
  ASSERT_TRUE(w.using_inotify());

  append_to(dir.sub("data"), "x");
  EXPECT_TRUE(wait_until([&] { return calls.load() > 0; }, 2s));
}

}  // namespace
