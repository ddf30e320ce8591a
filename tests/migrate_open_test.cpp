// `evstore migrate`, then the engine: a format-1 store of a committed fixture
// (tests/data/v1/README.md), migrated, opens with evstore::store (format 2)
// and reads every event the format-1 engine read, through $all and every
// stream, with the same versions, positions, ids, commit times, types, data
// and metadata; its counts agree; its read streams are rebuilt and its
// consumers resume where they were; an append continues each stream at the
// next version and $all at the next position; and all of it still reads
// after close and reopen. Also the public wrapper evstore::migrate_store.
// (migrate_test.cpp checks the files the migration writes, byte by byte.)
#include "log/log_layout.hpp"
#include "migrate/migrate_store.hpp"
#include "migrate/v1_reader.hpp"
#include "support/store_fixture.hpp"
#include "support/v1_fixture.hpp"
#include <evstore/migrate.hpp>
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

using namespace evstore;
using namespace evstore::test;
using evstore::detail::migrate::v1_event;

namespace {

const std::string dir = "/s";

// `got` is `want`; committed_at 0 in `want`: appended after the migration
// (any time).
void expect_event(const recorded_event& got, const v1_event& want) {
  EXPECT_EQ(got.stream, want.stream);
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.position, want.position);
  if (want.committed_at != 0) {
    EXPECT_EQ(got.committed_at, want.committed_at);
  } else {
    EXPECT_GT(got.committed_at, 0);
  }
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.type, want.type);
  EXPECT_EQ(got.data, want.data);
  EXPECT_EQ(got.metadata, want.metadata);
}

// Reads $all (in pages of 37, so pages end inside appends) and every stream
// of `want` from `s`.
void expect_reads(const store& s, const std::vector<v1_event>& want) {
  EXPECT_EQ(s.event_count(), want.size());
  std::map<std::string, std::vector<const v1_event*>> streams;
  for (const v1_event& e : want) streams[e.stream].push_back(&e);
  EXPECT_EQ(s.stream_count(), streams.size());
  std::vector<std::string> listed;
  for (const stream_info& i : s.list_streams(0, 100000)) {
    listed.push_back(i.name);
    EXPECT_EQ(i.event_count, streams[i.name].size()) << i.name;
  }
  std::sort(listed.begin(), listed.end());
  std::vector<std::string> names;
  names.reserve(streams.size());
  for (const auto& [name, events] : streams) names.push_back(name);
  EXPECT_EQ(listed, names);

  std::vector<recorded_event> all;
  read_options o{.from = 0, .max_count = 37};
  for (;;) {
    auto page = s.read("$all", o);
    ASSERT_TRUE(page) << page.error().message();
    all.insert(all.end(), page->events.begin(), page->events.end());
    if (page->end) break;
    ASSERT_LT(all.size(), want.size() + 1000) << "$all does not end";
    o.from = page->next;
  }
  ASSERT_EQ(all.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("$all position " + std::to_string(i));
    expect_event(all[i], want[i]);
    EXPECT_EQ(all[i].sequence, i);
  }
  for (const auto& [name, events] : streams) {
    SCOPED_TRACE("stream " + name.substr(0, 40));
    auto page = s.read(name);
    ASSERT_TRUE(page) << page.error().message();
    ASSERT_EQ(page->events.size(), events.size());
    for (std::size_t v = 0; v < events.size(); ++v) {
      expect_event(page->events[v], *events[v]);
      EXPECT_EQ(page->events[v].sequence, v);
    }
    auto version = s.stream_version(name);
    ASSERT_TRUE(version) << version.error().message();
    EXPECT_EQ(*version, std::optional<std::uint64_t>(events.size() - 1));
    auto last = s.read(name, {.from = from_end, .max_count = 1, .direction = direction::backward});
    ASSERT_TRUE(last) << last.error().message();
    ASSERT_EQ(last->events.size(), 1u);
    expect_event(last->events[0], *events.back());
  }
}

// Whether `e` matches the fixtures' filters (a type list, a stream prefix,
// data fields equal to a number written as the events write it).
bool matches(const filter& f, const v1_event& e) {
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), e.type) == f.types.end()) return false;
  if (!e.stream.starts_with(f.stream_prefix)) return false;
  for (const filter::field_condition& c : f.fields) {
    const std::string member = "\"" + c.pointer.substr(1) + "\":" + c.value;
    const std::size_t at = e.data.find(member);
    if (c.in_metadata || at == std::string::npos) return false;
    const char after = e.data[at + member.size()];
    if (after != ',' && after != '}') return false;
  }
  return true;
}

// The carried read streams (rebuilt from $all at open) and consumers.
void expect_carried(const store& s, const v1::store_expectation& expected,
                    const std::vector<v1_event>& want) {
  std::vector<std::string> names;
  for (const read_stream_info& i : s.list_read_streams()) names.push_back(i.name);
  std::vector<std::string> want_names;
  for (const auto& r : expected.read_streams) want_names.push_back(r.name);
  std::sort(names.begin(), names.end());
  std::sort(want_names.begin(), want_names.end());
  EXPECT_EQ(names, want_names);
  for (const auto& r : expected.read_streams) {
    SCOPED_TRACE("read stream " + r.name);
    auto f = filter::from_json(r.filter_json);
    ASSERT_TRUE(f) << f.error().message();
    std::vector<std::uint64_t> positions;
    for (const v1_event& e : want) {
      if (matches(*f, e)) positions.push_back(e.position);
    }
    ASSERT_FALSE(positions.empty());
    EXPECT_TRUE(wait_until([&] {
      for (const read_stream_info& i : s.list_read_streams()) {
        if (i.name == r.name) return !i.building && i.event_count == positions.size();
      }
      return false;
    })) << "the read stream is rebuilt from $all";
    auto page = s.read(r.name);
    ASSERT_TRUE(page) << page.error().message();
    std::vector<std::uint64_t> got;
    for (const recorded_event& e : page->events) got.push_back(e.position);
    EXPECT_EQ(got, positions);
  }
  auto consumers = s.list_consumers();
  ASSERT_TRUE(consumers) << consumers.error().message();
  std::vector<std::tuple<std::string, std::string, std::uint64_t, std::string>> got;
  for (const consumer_info& c : *consumers) got.emplace_back(c.stream, c.name, c.position, c.state);
  std::vector<std::tuple<std::string, std::string, std::uint64_t, std::string>> want_consumers;
  for (const auto& c : expected.consumers) want_consumers.emplace_back(c.stream, c.name, c.position, c.state);
  std::sort(got.begin(), got.end());
  std::sort(want_consumers.begin(), want_consumers.end());
  EXPECT_EQ(got, want_consumers);
}

struct open_case {
  std::string fixture;  // its store of the same name
  std::uint16_t partitions;
  bool durable;  // how the store is opened after migrating
};

class migrate_then_open : public ::testing::TestWithParam<open_case> {};

}  // namespace

TEST_P(migrate_then_open, the_engine_reads_every_event_continues_appends_and_reopens) {
  const open_case c = GetParam();
  auto f = v1::read_fixture(c.fixture);
  ASSERT_TRUE(f) << f.error().message();
  const v1::store_expectation& expected = f->expected.at(c.fixture);
  std::vector<v1_event> want = expected.events;
  ASSERT_FALSE(want.empty());
  auto mem = v1::disk_of(f->stores.at(c.fixture), dir);

  detail::migrate::migrate_options options;
  options.store.partitions = c.partitions;
  options.store.segment_size = detail::min_segment_size;  // several segments per partition
  auto migrated = detail::migrate::migrate_store(mem, dir, options);
  ASSERT_TRUE(migrated) << migrated.error().message();
  ASSERT_EQ(migrated->events, want.size());

  io_thread io;
  const store_options open_options{.directory = dir, .fsync_on_flush = c.durable, .file_system = mem};
  {
    auto s = store::open(io.executor(), open_options);
    ASSERT_TRUE(s) << s.error().message();
    {
      SCOPED_TRACE("after migrating");
      expect_reads(*s, want);
      expect_carried(*s, expected, want);
    }
    // The stream of the last event goes on at its next version, $all at the next position.
    const v1_event last = want.back();
    const auto id = random_id();
    auto a = append_wait(*s, last.stream, {event_data{"Continued", R"({"after":1})", R"({"m":2})", id}},
                         expect::exactly(last.version));
    ASSERT_FALSE(a.ec) << a.ec.message() << ": " << a.result.detail;
    EXPECT_EQ(a.result.first_version, last.version + 1);
    EXPECT_EQ(a.result.first_position, want.size());
    EXPECT_FALSE(a.result.created_stream);
    want.push_back(
        {last.stream, last.version + 1, want.size(), 0, id, "Continued", R"({"after":1})", R"({"m":2})"});
    // The stream of the first event too (its last version is not the last in $all).
    const std::string first = want.front().stream;
    std::uint64_t first_version = 0;
    for (const v1_event& e : want) {
      if (e.stream == first) first_version = e.version;
    }
    auto b = append_wait(*s, first, {make_event("Continued"), make_event("Continued")},
                         expect::exactly(first_version));
    ASSERT_FALSE(b.ec) << b.ec.message() << ": " << b.result.detail;
    EXPECT_EQ(b.result.first_version, first_version + 1);
    EXPECT_EQ(b.result.first_position, want.size());
    for (std::uint64_t i = 1; i <= 2; ++i) {
      want.push_back({first, first_version + i, want.size(), 0, std::nullopt, "Continued", "{}", ""});
    }
    // A new stream starts at version 0.
    auto n = append_wait(*s, "after-migration", {make_event("Started")}, expect::no_stream);
    ASSERT_FALSE(n.ec) << n.ec.message() << ": " << n.result.detail;
    EXPECT_TRUE(n.result.created_stream);
    EXPECT_EQ(n.result.first_version, 0u);
    EXPECT_EQ(n.result.first_position, want.size());
    want.push_back({"after-migration", 0, want.size(), 0, std::nullopt, "Started", "{}", ""});
    // Appending at a stale version is refused: the migrated versions count.
    auto stale = append_wait(*s, last.stream, {make_event("Stale")}, expect::exactly(last.version));
    EXPECT_EQ(stale.ec, errc::wrong_expected_version);
    {
      SCOPED_TRACE("after appending");
      expect_reads(*s, want);
    }
    ASSERT_FALSE(close_wait(*s));
  }
  {
    auto s = store::open(io.executor(), open_options);
    ASSERT_TRUE(s) << s.error().message();
    {
      SCOPED_TRACE("reopened");
      expect_reads(*s, want);
      expect_carried(*s, expected, want);
    }
    auto again = append_wait(*s, "after-migration", {make_event("Again")}, expect::exactly(0));
    ASSERT_FALSE(again.ec) << again.ec.message() << ": " << again.result.detail;
    EXPECT_EQ(again.result.first_version, 1u);
    EXPECT_EQ(again.result.first_position, want.size());
    want.push_back({"after-migration", 1, want.size(), 0, std::nullopt, "Again", "{}", ""});
    ASSERT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), open_options);
  ASSERT_TRUE(s) << s.error().message();
  SCOPED_TRACE("reopened after the second append");
  expect_reads(*s, want);
}

INSTANTIATE_TEST_SUITE_P(migrate, migrate_then_open,
                         ::testing::Values(open_case{"mixed", 1, false}, open_case{"mixed", 3, false},
                                           open_case{"journal", 1, true}, open_case{"journal", 3, true},
                                           open_case{"realistic", 1, true}, open_case{"realistic", 3, true},
                                           open_case{"bulk", 3, false}),
                         [](const ::testing::TestParamInfo<open_case>& i) {
                           return i.param.fixture + "_" + std::to_string(i.param.partitions) + "_partitions";
                         });

TEST(migrate_public, migrates_once_then_has_nothing_to_do_and_refuses_a_backup_in_the_way) {
  auto f = v1::read_fixture("realistic");
  ASSERT_TRUE(f) << f.error().message();
  const v1::store_expectation& expected = f->expected.at("realistic");
  auto mem = v1::disk_of(f->stores.at("realistic"), dir);
  const evstore::migrate_options options{
      .partitions = 2, .segment_size = detail::min_segment_size, .file_system = mem};

  auto r = evstore::migrate_store(dir, options);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->migrated);
  EXPECT_EQ(r->events, expected.events.size());
  EXPECT_EQ(r->read_streams, expected.read_streams.size());
  EXPECT_EQ(r->consumers, expected.consumers.size());
  EXPECT_EQ(r->left_out, 0u);
  EXPECT_EQ(r->backup, dir + ".v1");
  EXPECT_EQ(v1::image_of(*mem, dir + ".v1"), f->stores.at("realistic"));

  auto again = evstore::migrate_store(dir, options);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->migrated);
  EXPECT_EQ(again->events, expected.events.size());

  {
    io_thread io;
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
    ASSERT_TRUE(s) << s.error().message();
    expect_reads(*s, expected.events);
    ASSERT_FALSE(close_wait(*s));
  }

  // Another format-1 store where the backup of the first would go.
  auto other = v1::disk_of(f->stores.at("realistic"), dir);
  other->set_contents(dir + ".v1/store.json", "{}");
  auto refused = evstore::migrate_store(dir, {.file_system = other});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_argument);
  EXPECT_EQ(v1::image_of(*other, dir), f->stores.at("realistic")) << "the source is untouched";
}

// Every sampled crash state (tests/data/v1, crash_* and buffered_crash),
// empty ones included: the migrated store opens, reads what the format-1
// recovery read, takes an append, and reads the same after reopening, also
// without the writer lock (read_only).
TEST(migrate_then_open_crash_states, every_state_opens_reads_takes_an_append_and_reopens) {
  std::size_t empty = 0;
  for (const std::string fixture : {"crash_buffered", "crash_durable", "buffered_crash"}) {
    auto f = v1::read_fixture(fixture);
    ASSERT_TRUE(f) << f.error().message();
    for (const auto& [name, image] : f->stores) {
      std::string trace = fixture;
      trace.append("/").append(name);
      SCOPED_TRACE(trace);
      std::vector<v1_event> want = f->expected.at(name).events;
      if (want.empty()) ++empty;
      auto mem = v1::disk_of(image, dir);
      detail::migrate::migrate_options options;
      options.store.partitions = 2;
      options.store.segment_size = detail::min_segment_size;
      auto migrated = detail::migrate::migrate_store(mem, dir, options);
      ASSERT_TRUE(migrated) << migrated.error().message();
      ASSERT_EQ(migrated->events, want.size());

      io_thread io;
      const bool durable = fixture == "crash_durable";
      {
        auto s =
            store::open(io.executor(), {.directory = dir, .fsync_on_flush = durable, .file_system = mem});
        ASSERT_TRUE(s) << s.error().message();
        expect_reads(*s, want);
        auto a = append_wait(*s, "after-migration", {make_event("Started")}, expect::no_stream);
        ASSERT_FALSE(a.ec) << a.ec.message() << ": " << a.result.detail;
        EXPECT_EQ(a.result.first_position, want.size());
        want.push_back({"after-migration", 0, want.size(), 0, std::nullopt, "Started", "{}", ""});
        ASSERT_FALSE(close_wait(*s));
      }
      auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
      ASSERT_TRUE(s) << s.error().message();
      expect_reads(*s, want);
      auto follower = store::open(io.executor(), {.directory = dir, .read_only = true, .file_system = mem});
      ASSERT_TRUE(follower) << follower.error().message();
      expect_reads(*follower, want);
    }
  }
  EXPECT_GT(empty, 0u) << "the sample has states that read no events";
}

// A migration is durable when it returns: after a power loss then (every
// unsynced byte lost, or a random prefix of it kept) the engine opens the
// store and reads every event, and a durable append after it survives the
// next power loss.
TEST(migrate_then_open_power_loss, a_power_loss_right_after_migrating_loses_nothing) {
  auto f = v1::read_fixture("realistic");
  ASSERT_TRUE(f) << f.error().message();
  for (const auto mode :
       {evstore::testing::power_loss_mode::synced_only, evstore::testing::power_loss_mode::random_prefix}) {
    SCOPED_TRACE(mode == evstore::testing::power_loss_mode::synced_only ? "synced_only" : "random_prefix");
    std::vector<v1_event> want = f->expected.at("realistic").events;
    auto mem = v1::disk_of(f->stores.at("realistic"), dir);
    detail::migrate::migrate_options options;
    options.store.partitions = 3;
    options.store.segment_size = detail::min_segment_size;
    auto migrated = detail::migrate::migrate_store(mem, dir, options);
    ASSERT_TRUE(migrated) << migrated.error().message();
    mem->power_loss(mode, 7);

    io_thread io;
    const store_options durable{.directory = dir, .fsync_on_flush = true, .file_system = mem};
    // The process dies at the power loss: the store writes nothing after it.
    auto dies = std::make_shared<evstore::testing::fault_injecting_file_system>(mem);
    {
      auto s = store::open(io.executor(), {.directory = dir, .fsync_on_flush = true, .file_system = dies});
      ASSERT_TRUE(s) << s.error().message();
      expect_reads(*s, want);
      auto a = append_wait(*s, want.back().stream, {make_event("Continued")},
                           expect::exactly(want.back().version));
      ASSERT_FALSE(a.ec) << a.ec.message() << ": " << a.result.detail;
      want.push_back(
          {want.back().stream, want.back().version + 1, want.size(), 0, std::nullopt, "Continued", "{}", ""});
      dies->crash_after(0);
      mem->power_loss(mode, 8);  // without closing
    }
    auto s = store::open(io.executor(), durable);
    ASSERT_TRUE(s) << s.error().message();
    expect_reads(*s, want);
  }
}
