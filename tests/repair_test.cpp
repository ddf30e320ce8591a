// evstore repair: torn tails are cut, damage cuts $all at its position, the
// catalog and every index are rebuilt from the partitions, cut bytes land in
// lost+found, and the store opens and verifies clean afterwards.
#include "support/store_fixture.hpp"

#include "format.hpp"

#include <evstore/memory_file_system.hpp>
#include <evstore/repair.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <future>
#include <map>

using namespace evstore;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";
using image = std::map<std::string, std::string>;

struct repair_test : ::testing::Test {
  std::shared_ptr<memory_file_system> fs = std::make_shared<memory_file_system>();
  io_thread io;

  result<store> open(bool fsync = false) {
    return store::open(io.executor(), {.directory = dir, .fsync_on_flush = fsync, .file_system = fs});
  }
  result<repair_report> repair(bool dry_run = false) {
    return repair_store(dir, {.dry_run = dry_run, .file_system = fs});
  }

  // Positions: s v0 @0 | t v0-1 @1-2 | s v1-3 @3-5 | u v0 @6 | s v4-5 @7-8.
  void build() {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "s", make_events(1, "A")).ec);
    ASSERT_FALSE(append_wait(*s, "t", make_events(2, "B")).ec);
    ASSERT_FALSE(append_wait(*s, "s", make_events(3, "C")).ec);
    ASSERT_FALSE(append_wait(*s, "u", make_events(1, "D")).ec);
    ASSERT_FALSE(append_wait(*s, "s", make_events(2, "E")).ec);
    ASSERT_FALSE(close_wait(*s));
  }

  image snapshot() const {
    image out;
    for (const std::string& f : fs->files()) out[f] = fs->contents(f);
    return out;
  }

  // Everything a reader sees: $all, then every stream.
  std::vector<std::string> everything() {
    auto s = open();
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return {};
    std::vector<std::string> out;
    auto line = [](const recorded_event& e) {
      return std::string(e.stream) + " v" + std::to_string(e.version) + " @" + std::to_string(e.position) + " " +
             std::string(e.type) + " " + std::string(e.data);
    };
    auto all = s->read("$all");
    EXPECT_TRUE(all) << all.error().message();
    if (all) {
      for (const auto& e : all->events) out.push_back("$all: " + line(e));
    }
    for (const stream_info& info : s->list_streams(0, 1000)) {
      auto page = s->read(info.name);
      EXPECT_TRUE(page) << page.error().message();
      if (!page) continue;
      for (const auto& e : page->events) out.push_back(info.name + ": " + line(e));
    }
    EXPECT_FALSE(close_wait(*s));
    return out;
  }

  void expect_opens_and_verifies_clean() {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    const verify_report v = verify_store(*s);
    EXPECT_TRUE(v.clean()) << v.damage.front().message();
    ASSERT_FALSE(close_wait(*s));
  }

  // Offset of a version's record in a partition, by walking the lengths.
  std::size_t record_offset(const std::string& path, std::uint64_t version) {
    const std::string bytes = fs->contents(path);
    std::size_t at = format::file_header_size;
    for (std::uint64_t v = 0; v < version; ++v) at += format::get_u32(reinterpret_cast<const std::byte*>(bytes.data() + at));
    return at;
  }

  void flip(const std::string& path, std::size_t offset) {
    std::string bytes = fs->contents(path);
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
    fs->set_contents(path, bytes);
  }
};

std::vector<std::string> only_up_to(const std::vector<std::string>& lines, std::uint64_t positions) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    const auto at = l.find(" @");
    if (std::stoull(l.substr(at + 2)) < positions) out.push_back(l);
  }
  return out;
}

std::vector<std::string> drops(const repair_report& r) {
  std::vector<std::string> out;
  for (const repair_drop& d : r.dropped) {
    out.push_back(d.stream + " from " + std::to_string(d.from_version) + " x" + std::to_string(d.count) +
                  (d.count_exact ? "" : "+"));
  }
  return out;
}

}  // namespace

TEST_F(repair_test, torn_tail_in_one_partition_cuts_only_the_torn_append) {
  build();
  const auto before = everything();
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t last_append = record_offset("/store/streams/s.evs", 4);
  const std::size_t v5 = record_offset("/store/streams/s.evs", 5);
  const std::size_t torn_at = v5 + 30;
  fs->set_contents("/store/streams/s.evs", part.substr(0, torn_at));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_FALSE(r->reasons.empty());
  EXPECT_EQ(drops(*r), std::vector<std::string>{"s from 4 x2"});
  EXPECT_EQ(r->events_kept, 7u);
  EXPECT_EQ(r->events_dropped, 2u);
  EXPECT_EQ(r->streams_kept, 3u);
  EXPECT_TRUE(r->streams_removed.empty());
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].file, "streams/s.evs");
  EXPECT_EQ(r->damage[0].offset, v5);
  ASSERT_EQ(r->moved.size(), 1u);
  EXPECT_EQ(r->moved[0].to, "lost+found/streams/s.evs@" + std::to_string(last_append));
  EXPECT_EQ(fs->contents("/store/" + r->moved[0].to), part.substr(last_append, torn_at - last_append));
  EXPECT_EQ(fs->contents("/store/streams/s.evs"), part.substr(0, last_append));
  EXPECT_TRUE(r->verified);

  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), only_up_to(before, 7));
  // The store goes on from the cut: the freed versions and positions are reused.
  auto s = open();
  ASSERT_TRUE(s);
  auto again = append_wait(*s, "s", make_events(1), expect::exactly(3));
  ASSERT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.result.position, 7u);
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(repair_test, garbled_middle_record_cuts_all_at_its_position_and_saves_the_cut_bytes) {
  build();
  const auto before = everything();
  const std::size_t v1 = record_offset("/store/streams/s.evs", 1);
  flip("/store/streams/s.evs", v1 + 84);
  const std::string garbled = fs->contents("/store/streams/s.evs");
  const std::string u = fs->contents("/store/streams/u.evs");

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  // s v1 is $all position 3: positions 3.. go, in every stream.
  EXPECT_EQ(r->events_kept, 3u);
  EXPECT_EQ(drops(*r), (std::vector<std::string>{"s from 1 x5", "u from 0 x1"}));
  EXPECT_EQ(r->events_dropped, 6u);
  EXPECT_EQ(r->streams_kept, 2u);
  EXPECT_EQ(r->streams_removed, std::vector<std::string>{"u"});
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].file, "streams/s.evs");
  EXPECT_EQ(r->damage[0].offset, v1);
  EXPECT_EQ(fs->contents("/store/lost+found/streams/s.evs@" + std::to_string(v1)), garbled.substr(v1));
  EXPECT_EQ(fs->contents("/store/lost+found/streams/u.evs@0"), u);
  EXPECT_FALSE(fs->exists("/store/streams/u.evs"));
  EXPECT_FALSE(fs->exists("/store/index/u.idx"));
  EXPECT_TRUE(r->verified);

  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), only_up_to(before, 3));
  // The removed stream can be created again, with the next stream id.
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->stream_count(), 2u);
  auto again = append_wait(*s, "u", make_events(1), expect::no_stream);
  ASSERT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.result.position, 3u);
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}

class rebuilt_index : public repair_test, public ::testing::WithParamInterface<std::tuple<const char*, bool>> {};

// A deleted or zeroed index file is rebuilt byte for byte from the partitions.
TEST_P(rebuilt_index, is_rebuilt_exactly) {
  const auto [file, zeroed] = GetParam();
  build();
  const auto before = everything();
  const std::string path = std::string(dir) + "/" + file;
  const std::string original = fs->contents(path);
  if (zeroed) {
    fs->set_contents(path, std::string(original.size(), '\0'));
  } else {
    ASSERT_FALSE(fs->remove(path));
  }

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_TRUE(r->moved.empty());
  EXPECT_EQ(r->events_kept, 9u);
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(fs->contents(path), original);
  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), before);
}

INSTANTIATE_TEST_SUITE_P(repair, rebuilt_index,
                         ::testing::Combine(::testing::Values("index/$all.idx", "index/s.idx", "index/catalog"),
                                            ::testing::Bool()));

class damaged_header : public repair_test, public ::testing::WithParamInterface<const char*> {};

// A damaged partition header is rewritten with the id the catalog or $all
// still gives (the other one is gone too, or the store would need no repair).
TEST_P(damaged_header, is_rewritten_and_nothing_is_dropped) {
  build();
  const auto before = everything();
  const std::string header = fs->contents("/store/streams/t.evs").substr(0, format::file_header_size);
  flip("/store/streams/t.evs", 30);
  const std::string damaged = fs->contents("/store/streams/t.evs").substr(0, format::file_header_size);
  ASSERT_FALSE(fs->remove(std::string(dir) + "/" + GetParam()));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_EQ(r->events_kept, 9u);
  ASSERT_FALSE(r->damage.empty());
  EXPECT_EQ(r->damage[0].file, "streams/t.evs");
  EXPECT_EQ(r->damage[0].problem, "bad partition header");
  EXPECT_EQ(fs->contents("/store/lost+found/streams/t.evs@0"), damaged);
  EXPECT_EQ(fs->contents("/store/streams/t.evs").substr(0, format::file_header_size), header);
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), before);
}

INSTANTIATE_TEST_SUITE_P(repair, damaged_header, ::testing::Values("index/catalog", "index/$all.idx"));

TEST_F(repair_test, damaged_header_without_any_other_source_drops_the_stream_from_its_first_position) {
  build();
  const auto before = everything();
  flip("/store/streams/u.evs", 30);
  ASSERT_FALSE(fs->remove("/store/index/catalog"));
  ASSERT_FALSE(fs->remove("/store/index/$all.idx"));
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  // u's only event is at position 6: 6.. go.
  EXPECT_EQ(r->events_kept, 6u);
  EXPECT_EQ(drops(*r), (std::vector<std::string>{"s from 4 x2", "u from 0 x1"}));
  EXPECT_EQ(r->streams_removed, std::vector<std::string>{"u"});
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), only_up_to(before, 6));
}

TEST_F(repair_test, dry_run_changes_no_byte_and_reports_what_the_repair_does) {
  build();
  flip("/store/streams/s.evs", record_offset("/store/streams/s.evs", 1) + 84);
  ASSERT_FALSE(fs->remove("/store/index/t.idx"));
  const image damaged = snapshot();

  auto dry = repair(true);
  ASSERT_TRUE(dry) << dry.error().message();
  EXPECT_TRUE(dry->dry_run);
  EXPECT_TRUE(dry->needed);
  EXPECT_FALSE(dry->verified);
  EXPECT_EQ(snapshot(), damaged);

  auto real = repair();
  ASSERT_TRUE(real) << real.error().message();
  EXPECT_EQ(drops(*dry), drops(*real));
  EXPECT_EQ(dry->events_kept, real->events_kept);
  EXPECT_EQ(dry->streams_removed, real->streams_removed);
  ASSERT_EQ(dry->moved.size(), real->moved.size());
  for (std::size_t i = 0; i < dry->moved.size(); ++i) EXPECT_EQ(dry->moved[i].to, real->moved[i].to);
  EXPECT_EQ(dry->rebuilt, real->rebuilt);
  EXPECT_TRUE(real->verified);
}

TEST_F(repair_test, refuses_while_a_writer_has_the_store_open) {
  build();
  flip("/store/streams/s.evs", record_offset("/store/streams/s.evs", 1) + 84);
  auto s = open();
  ASSERT_TRUE(s);
  const image opened = snapshot();
  for (bool dry_run : {false, true}) {
    auto r = repair(dry_run);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::store_locked);
  }
  EXPECT_EQ(snapshot(), opened);
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(repair_test, clean_store_is_left_alone) {
  build();
  const image clean = snapshot();
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->needed);
  EXPECT_EQ(r->events_kept, 9u);
  EXPECT_EQ(r->streams_kept, 3u);
  EXPECT_TRUE(r->dropped.empty());
  EXPECT_TRUE(r->moved.empty());
  EXPECT_EQ(snapshot(), clean);
  auto dry = repair(true);
  ASSERT_TRUE(dry);
  EXPECT_FALSE(dry->needed);
  EXPECT_EQ(snapshot(), clean);
}

TEST_F(repair_test, refuses_a_directory_without_a_store) {
  auto r = repair_store("/nothing", {.file_system = fs});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_FALSE(fs->exists("/nothing"));
}

// Durable mode after a power loss: the acknowledged appends are only in the
// journal (the partitions were never synced, their names not even durable).
// Both a dry run (which reads through the journal) and a repair keep them all.
TEST_F(repair_test, journal_frames_are_replayed_before_the_partitions_are_read) {
  std::vector<std::string> before;
  {
    auto s = open(true);
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "s", make_events(2, "A")).ec);
    ASSERT_FALSE(append_wait(*s, "t", make_events(3, "B")).ec);
    ASSERT_FALSE(append_wait(*s, "s", make_events(1, "C")).ec);
    auto all = s->read("$all");
    ASSERT_TRUE(all);
    for (const auto& e : all->events) before.push_back(std::string(e.stream) + " " + std::string(e.type));
    fs->power_loss(power_loss_mode::synced_only, 0);
    const image lost = snapshot();
    fs = std::make_shared<memory_file_system>();  // the store goes on writing to the old one
    for (const auto& [path, bytes] : lost) fs->set_contents(path, bytes);
    ASSERT_FALSE(fs->create_directories("/store/streams"));
  }
  ASSERT_FALSE(fs->exists("/store/streams/s.evs"));
  ASSERT_FALSE(fs->remove("/store/index/catalog"));  // and the open cannot recover alone
  const image damaged = snapshot();

  auto dry = repair(true);
  ASSERT_TRUE(dry) << dry.error().message();
  EXPECT_EQ(dry->events_kept, 6u);
  EXPECT_TRUE(dry->dropped.empty()) << drops(*dry).front();
  EXPECT_EQ(snapshot(), damaged);

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->events_kept, 6u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_TRUE(r->verified);
  EXPECT_FALSE(fs->exists("/store/journal.wal"));
  expect_opens_and_verifies_clean();
  auto s = open(true);
  ASSERT_TRUE(s);
  auto all = s->read("$all");
  ASSERT_TRUE(all);
  std::vector<std::string> after;
  for (const auto& e : all->events) after.push_back(std::string(e.stream) + " " + std::string(e.type));
  EXPECT_EQ(after, before);
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(repair_test, links_are_rebuilt_from_all_on_the_next_open) {
  build();
  flip("/store/streams/s.evs", record_offset("/store/streams/s.evs", 4) + 84);  // position 7
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->events_kept, 7u);
  auto s = open();
  ASSERT_TRUE(s);
  // $et-C: s v1-3; $et-E was only in the cut append.
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 7u; }));
  auto c = s->read("$et-C");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->events.size(), 3u);
  auto e = s->read("$et-E");
  EXPECT_TRUE(!e || e->events.empty());
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(repair_test, consumers_left_past_the_new_end_are_reported_not_moved) {
  build();
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (auto [stream, position] : {std::pair<std::string, std::uint64_t>{"s", 6}, {"t", 2}, {"$all", 9}}) {
      auto c = s->consumer(stream, "projector");
      ASSERT_TRUE(c) << c.error().message();
      std::promise<boost::system::error_code> done;
      c->commit(position, "{}", [&](boost::system::error_code ec) { done.set_value(ec); });
      ASSERT_FALSE(done.get_future().get());
    }
    ASSERT_FALSE(close_wait(*s));
  }
  flip("/store/streams/s.evs", record_offset("/store/streams/s.evs", 4) + 84);  // position 7: s keeps v0-3
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->verified);
  ASSERT_EQ(r->consumers_ahead.size(), 2u);
  EXPECT_EQ(r->consumers_ahead[0].stream, "$all");
  EXPECT_EQ(r->consumers_ahead[0].position, 9u);
  EXPECT_EQ(r->consumers_ahead[0].stream_end, 7u);
  EXPECT_EQ(r->consumers_ahead[1].stream, "s");
  EXPECT_EQ(r->consumers_ahead[1].position, 6u);
  EXPECT_EQ(r->consumers_ahead[1].stream_end, 4u);
  auto s = open();
  ASSERT_TRUE(s);
  auto kept = s->consumer_state("s", "projector");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->position, 6u) << "repair does not move a consumer's checkpoint";
  ASSERT_FALSE(close_wait(*s));
}
