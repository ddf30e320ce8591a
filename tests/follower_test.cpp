// Read-only followers: a store opened read-only follows a writer running in
// another process (the crash child), serving reads, subscriptions and the
// writer's system streams, without writing to the store directory.
#include "support/durability_test.hpp"
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sys/wait.h>
#include <mutex>

using namespace evstore;
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
  auto follower = store::open(io.executor(), {.directory = store_dir, .read_only = true,
                                              .follow_poll_interval = std::chrono::milliseconds(200)});
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
  })) << "the follower saw " << positions.size() << " of " << final_count;
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
