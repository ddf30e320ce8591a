// aggregate(): the version it folded to, missing streams as read() treats
// them, and snapshots (per stream and fold name) that are used only while
// they describe the stream as it is.
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

// A running sum of the events' "n" and a count: a fold whose result shows
// both which events it saw and whether a snapshot's state was used.
struct tally {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  friend bool operator==(const tally&, const tally&) = default;
};

std::uint64_t n_of(const recorded_event& e) {
  const auto at = e.data.find("\"n\":");
  std::uint64_t v = 0;
  std::from_chars(e.data.data() + at + 4, e.data.data() + e.data.size(), v);
  return v;
}

void add(tally& t, const recorded_event& e) {
  ++t.count;
  t.sum += n_of(e);
}

std::string save(const tally& t) {
  return R"({"count":)" + std::to_string(t.count) + R"(,"sum":)" + std::to_string(t.sum) + "}";
}

std::optional<tally> load(std::string_view json) {
  tally t;
  const auto field = [&](std::string_view key, std::uint64_t& out) {
    const auto at = json.find(key);
    if (at == std::string_view::npos) return false;
    const char* begin = json.data() + at + key.size();
    return std::from_chars(begin, json.data() + json.size(), out).ec == std::errc();
  };
  if (!field(R"("count":)", t.count) || !field(R"("sum":)", t.sum)) return std::nullopt;
  return t;
}

std::vector<event_data> numbered(std::uint64_t from, std::uint64_t count) {
  std::vector<event_data> out;
  for (std::uint64_t i = from; i < from + count; ++i)
    out.push_back(make_event("Added", R"({"n":)" + std::to_string(i) + "}"));
  return out;
}

tally expected_tally(std::uint64_t from, std::uint64_t to_exclusive) {
  tally t;
  for (std::uint64_t i = from; i < to_exclusive; ++i) {
    ++t.count;
    t.sum += i;
  }
  return t;
}

class aggregate_snapshot_test : public ::testing::Test {
 protected:
  store open(store_options o = {}) {
    o.directory = dir_.sub("store");
    auto s = store::open(io_.executor(), o);
    if (!s) throw std::runtime_error("open: " + s.error().message());
    return std::move(*s);
  }
  result<folded<tally>> fold(store& s, const std::string& stream, const snapshot_options& o) {
    return s.aggregate(stream, tally{}, add, o, save, load);
  }
  // Folds until the snapshot the previous fold stored is there.
  bool wait_stored(store& s, std::uint64_t count) {
    return wait_until([&] { return s.statistics().snapshots_stored >= count; });
  }
  temp_dir dir_;
  io_thread io_;
};

TEST_F(aggregate_snapshot_test, aggregate_returns_the_version_and_refuses_what_read_refuses) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "cart-1", numbered(0, 3)).ec);
  auto c = s.aggregate("cart-1", tally{}, add);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->state, expected_tally(0, 3));
  EXPECT_EQ(c->version, 2u) << "what append(expect::exactly(version)) needs";
  EXPECT_EQ(c->events_folded, 3u);
  EXPECT_FALSE(c->snapshot);
  auto missing = s.aggregate("cart-2", tally{}, add);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::stream_not_found) << "as read() says";
  EXPECT_EQ(s.read("cart-2").error().code, missing.error().code);
  auto bad_name = s.aggregate("cart-1", tally{}, add, {.name = "a/b", .every = 1}, save, load);
  ASSERT_FALSE(bad_name) << "a snapshot name is a file name";
  EXPECT_EQ(bad_name.error().code, errc::invalid_argument);
  ASSERT_FALSE(delete_stream_wait(s, "cart-1").ec);
  auto deleted = s.aggregate("cart-1", tally{}, add);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, s.read("cart-1").error().code);
}

TEST_F(aggregate_snapshot_test, a_snapshot_is_stored_used_and_survives_a_restart) {
  const snapshot_options every_100{.name = "tally-v1", .every = 100};
  {
    store s = open();
    ASSERT_FALSE(append_wait(s, "acc-1", numbered(0, 1000)).ec);
    auto first = fold(s, "acc-1", every_100);
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_EQ(first->events_folded, 1000u);
    EXPECT_FALSE(first->snapshot);
    ASSERT_TRUE(wait_stored(s, 1));
    auto second = fold(s, "acc-1", every_100);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->snapshot, 999u);
    EXPECT_EQ(second->events_folded, 0u) << "nothing after the snapshot to read";
    EXPECT_EQ(second->state, expected_tally(0, 1000));
    EXPECT_EQ(second->version, 999u);
    ASSERT_FALSE(append_wait(s, "acc-1", numbered(1000, 50)).ec);
    auto third = fold(s, "acc-1", every_100);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->events_folded, 50u);
    EXPECT_EQ(third->state, expected_tally(0, 1050));
    EXPECT_EQ(third->version, 1049u);
    EXPECT_EQ(s.statistics().snapshots_stored, 1u) << "50 < every: no new snapshot";
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  auto after = fold(s, "acc-1", every_100);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->snapshot, 999u);
  EXPECT_EQ(after->state, expected_tally(0, 1050));
  auto other_fold = fold(s, "acc-1", {.name = "tally-v2", .every = 0});
  ASSERT_TRUE(other_fold);
  EXPECT_FALSE(other_fold->snapshot) << "a changed fold never reads the old one's snapshot";
  EXPECT_EQ(other_fold->events_folded, 1050u);
  auto other_stream = fold(s, "acc-2", every_100);
  EXPECT_EQ(other_stream.error().code, errc::stream_not_found);
}

// The fold with a snapshot must equal the fold without one, whatever
// happened to the stream since the snapshot.
TEST_F(aggregate_snapshot_test, a_snapshot_of_a_stream_that_changed_below_it_is_not_used) {
  const snapshot_options o{.name = "tally-v1", .every = 1};
  store s = open();
  ASSERT_FALSE(append_wait(s, "t-1", numbered(0, 20)).ec);
  ASSERT_TRUE(fold(s, "t-1", o));
  ASSERT_TRUE(wait_stored(s, 1));
  // Truncated below the snapshot: events 0..9 no longer count.
  ASSERT_FALSE(metadata_wait(s, "t-1", stream_metadata{.truncate_before = 10}).ec);
  auto truncated = fold(s, "t-1", o);
  ASSERT_TRUE(truncated) << truncated.error().message();
  EXPECT_FALSE(truncated->snapshot);
  EXPECT_EQ(truncated->state, expected_tally(10, 20));
  ASSERT_TRUE(wait_stored(s, 2));
  // Deleted and appended to again: only the new events count.
  ASSERT_FALSE(delete_stream_wait(s, "t-1").ec);
  ASSERT_FALSE(append_wait(s, "t-1", numbered(100, 2)).ec);
  auto recreated = fold(s, "t-1", o);
  ASSERT_TRUE(recreated) << recreated.error().message();
  EXPECT_FALSE(recreated->snapshot);
  EXPECT_EQ(recreated->state, expected_tally(100, 102));
  EXPECT_EQ(recreated->version, 21u);
  // Every event hidden: the initial state at the stream's version.
  ASSERT_FALSE(metadata_wait(s, "t-1", stream_metadata{.truncate_before = 22}).ec);
  auto hidden = fold(s, "t-1", o);
  ASSERT_TRUE(hidden) << hidden.error().message();
  EXPECT_EQ(hidden->state, tally{});
  EXPECT_EQ(hidden->version, 21u);
}

TEST_F(aggregate_snapshot_test, a_damaged_or_refused_snapshot_costs_a_full_fold_not_a_wrong_state) {
  const snapshot_options o{.name = "tally-v1", .every = 1};
  store s = open();
  ASSERT_FALSE(append_wait(s, "d-1", numbered(0, 30)).ec);
  ASSERT_TRUE(fold(s, "d-1", o));
  ASSERT_TRUE(wait_stored(s, 1));
  std::filesystem::path file;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.sub("store") + "/snapshots")) {
    if (e.path().extension() == ".snapshot") file = e.path();
  }
  ASSERT_FALSE(file.empty());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(file) / 2));
    f.put('\x7f');
  }
  auto damaged = fold(s, "d-1", o);
  ASSERT_TRUE(damaged) << damaged.error().message();
  EXPECT_FALSE(damaged->snapshot);
  EXPECT_EQ(damaged->state, expected_tally(0, 30));
  ASSERT_TRUE(wait_stored(s, 2)) << "and a good one replaces it";
  auto refused =
      s.aggregate("d-1", tally{}, add, o, save, [](std::string_view) { return std::optional<tally>(); });
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->snapshot) << "load() said no: folded from the start";
  EXPECT_EQ(refused->state, expected_tally(0, 30));
  auto used = fold(s, "d-1", o);
  ASSERT_TRUE(used);
  EXPECT_EQ(used->snapshot, 29u);
}

// Erasing a stream's events erases the states folded from them.
TEST_F(aggregate_snapshot_test, erasing_a_stream_removes_its_snapshots) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "e-1", numbered(0, 10)).ec);
  ASSERT_FALSE(append_wait(s, "e-2", numbered(0, 10)).ec);
  for (const char* stream : {"e-1", "e-2"}) ASSERT_TRUE(fold(s, stream, {.name = "tally-v1", .every = 1}));
  ASSERT_TRUE(wait_stored(s, 2));
  const std::string root = dir_.sub("store") + "/snapshots";
  const auto snapshot_files = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root)) n += e.is_regular_file();
    return n;
  };
  EXPECT_EQ(snapshot_files(), 2u);
  ASSERT_FALSE(delete_stream_wait(s, "e-1").ec);
  auto report = s.scavenge({.stream = "e-1"});
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->events_erased, 10u);
  EXPECT_EQ(snapshot_files(), 1u) << "e-2's stays";
  auto kept = fold(s, "e-2", {.name = "tally-v1", .every = 0});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->snapshot, 9u);
}

// A follower uses the writer's snapshots and writes none.
TEST_F(aggregate_snapshot_test, a_read_only_store_uses_the_writers_snapshots_and_stores_none) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "f-1", numbered(0, 40)).ec);
  ASSERT_TRUE(fold(s, "f-1", {.name = "tally-v1", .every = 1}));
  ASSERT_TRUE(wait_stored(s, 1));
  ASSERT_FALSE(append_wait(s, "f-1", numbered(40, 5)).ec);
  auto follower = store::open(io_.executor(), {.directory = dir_.sub("store"), .read_only = true});
  ASSERT_TRUE(follower) << follower.error().message();
  auto f = follower->aggregate("f-1", tally{}, add, {.name = "tally-v1", .every = 1}, save, load);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->snapshot, 39u);
  EXPECT_EQ(f->state, expected_tally(0, 45));
  // Had the follower stored its fold, the writer would now start from 44.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(follower->statistics().snapshots_stored + follower->statistics().snapshot_failures, 0u);
  auto writer_side = fold(s, "f-1", {.name = "tally-v1", .every = 0});
  ASSERT_TRUE(writer_side);
  EXPECT_EQ(writer_side->snapshot, 39u);
}

// Snapshots are for write streams: the entries of $ and read streams are
// numbered apart from the events' versions and hide events anywhere.
TEST_F(aggregate_snapshot_test, snapshots_of_system_and_read_streams_are_refused_and_versions_are_sequences) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "cart-1", numbered(0, 3)).ec);
  ASSERT_FALSE(append_wait(s, "cart-2", numbered(3, 3)).ec);
  ASSERT_TRUE(wait_until([&] { return s.statistics().indexed >= 6; }));
  for (const char* stream : {"$ce-cart", "$all", "$et-Added"}) {
    auto refused = fold(s, stream, {.name = "tally-v1", .every = 1});
    ASSERT_FALSE(refused) << stream;
    EXPECT_EQ(refused.error().code, errc::invalid_argument) << stream;
    auto plain = s.aggregate(stream, tally{}, add);
    ASSERT_TRUE(plain) << stream << ": " << plain.error().message();
    EXPECT_EQ(plain->state, expected_tally(0, 6)) << stream;
    EXPECT_EQ(plain->version, 5u) << stream << ": the last entry's number in the stream read";
  }
}

// Buffered appends are read before they are durable; a snapshot is. After a
// power loss took the events it was folded from, other events appended at
// the same versions must not be folded onto it.
TEST(aggregate_snapshot_power_loss, a_snapshot_of_events_lost_to_a_power_loss_is_not_used) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  auto fault = std::make_shared<fault_injecting_file_system>(mem);
  const snapshot_options o{.name = "tally-v1", .every = 1};
  {
    auto s = store::open(io.executor(), {.directory = "/s", .file_system = fault});
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "acc-1", numbered(1000, 10)).ec);  // buffered: not synced
    ASSERT_TRUE(s->aggregate("acc-1", tally{}, add, o, save, load));
    ASSERT_TRUE(wait_until([&] { return s->statistics().snapshots_stored >= 1; }));
    fault->crash_after(0);
  }
  ASSERT_TRUE(wait_for_store_gone(*mem, "/s"));
  mem->power_loss(power_loss_mode::synced_only, 1);
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->read("acc-1").error().code, errc::stream_not_found) << "the appends were lost";
  ASSERT_FALSE(append_wait(*s, "acc-1", numbered(0, 12)).ec);
  auto after = s->aggregate("acc-1", tally{}, add, o, save, load);
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_FALSE(after->snapshot) << "folded to version 9 of events that are gone";
  EXPECT_EQ(after->state, expected_tally(0, 12));
}

}  // namespace
