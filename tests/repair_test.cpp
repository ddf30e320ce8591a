// evstore repair: torn tails are cut, damage cuts $all at its position, the
// catalog and every index are rebuilt from the partitions, cut bytes land in
// lost+found, and the store opens and verifies clean afterwards.
#include "format/format.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>
#include <random>

using namespace evstore;
using namespace evstore::testing;
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
      return std::string(e.stream) + " v" + std::to_string(e.version) + " @" + std::to_string(e.position) +
             " " + std::string(e.type) + " " + std::string(e.data);
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
    for (std::uint64_t v = 0; v < version; ++v)
      at += format::get_u32(reinterpret_cast<const std::byte*>(bytes.data() + at));
    return at;
  }

  // A checkpoint promising only `all_count` events: what lies past it is the
  // tail a crash may have torn.
  void checkpoint_at(std::uint64_t all_count, std::uint32_t streams) {
    std::string bytes(format::checkpoint_file_size, '\0');
    const format::checkpoint c{99, all_count, streams, 0};
    format::encode_checkpoint(
        c, std::span(reinterpret_cast<std::byte*>(bytes.data()), bytes.size())
               .subspan((c.sequence % 2) * format::checkpoint_slot_size, format::checkpoint_slot_size));
    fs->set_contents("/store/index/checkpoint", bytes);
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

// Past the checkpoint a crash may have torn the last append: it goes whole,
// as at open. (The catalog is gone too, or the open would have cut it alone.)
TEST_F(repair_test, torn_tail_past_the_checkpoint_cuts_only_the_torn_append) {
  build();
  const auto before = everything();
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t last_append = record_offset("/store/streams/s.evs", 4);
  const std::size_t v5 = record_offset("/store/streams/s.evs", 5);
  const std::size_t torn_at = v5 + 30;
  fs->set_contents("/store/streams/s.evs", part.substr(0, torn_at));
  checkpoint_at(7, 3);
  ASSERT_FALSE(fs->remove("/store/index/catalog"));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_FALSE(r->reasons.empty());
  EXPECT_EQ(drops(*r), std::vector<std::string>{"s from 4 x2"});
  EXPECT_EQ(r->events_kept, 7u);
  EXPECT_EQ(r->events_dropped, 2u);
  EXPECT_TRUE(r->lost.empty());
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

// Below the checkpoint every event had been acknowledged: a partition cut
// short there keeps its intact records, and its lost last event a placeholder.
TEST_F(repair_test, partition_cut_short_below_the_checkpoint_keeps_a_placeholder_for_its_last_event) {
  build();
  const auto before = everything();
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t v5 = record_offset("/store/streams/s.evs", 5);
  fs->set_contents("/store/streams/s.evs", part.substr(0, v5 + 30));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_EQ(r->events_kept, 8u);
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].stream, "s");
  EXPECT_EQ(r->lost[0].version, 5u);
  EXPECT_EQ(r->lost[0].position, 8u);
  EXPECT_EQ(fs->contents("/store/lost+found/streams/s.evs@" + std::to_string(v5)), part.substr(v5, 30));
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  auto after = everything();
  auto expected = before;
  for (std::string& line : expected) {
    if (line.find("s v5 @8") != std::string::npos) line = line.substr(0, line.find(" E ")) + " $lost null";
  }
  EXPECT_EQ(after, expected);
}

TEST_F(repair_test, garbled_middle_record_becomes_a_placeholder_and_every_other_event_stays) {
  build();
  const auto before = everything();
  const std::size_t v1 = record_offset("/store/streams/s.evs", 1);
  const std::size_t v2 = record_offset("/store/streams/s.evs", 2);
  flip("/store/streams/s.evs", v1 + 84);
  const std::string garbled = fs->contents("/store/streams/s.evs");

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  // s v1 is $all position 3: only it is lost.
  EXPECT_EQ(r->events_kept, 8u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_EQ(r->events_dropped, 0u);
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].stream, "s");
  EXPECT_EQ(r->lost[0].version, 1u);
  EXPECT_EQ(r->lost[0].position, 3u);
  EXPECT_EQ(r->streams_kept, 3u);
  EXPECT_TRUE(r->streams_removed.empty());
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].file, "streams/s.evs");
  EXPECT_EQ(r->damage[0].offset, v1);
  EXPECT_EQ(fs->contents("/store/lost+found/streams/s.evs@" + std::to_string(v1)),
            garbled.substr(v1, v2 - v1));
  EXPECT_NE(std::find(r->rebuilt.begin(), r->rebuilt.end(), "streams/s.evs"), r->rebuilt.end());
  EXPECT_TRUE(r->verified);

  expect_opens_and_verifies_clean();
  auto expected = before;
  for (std::string& line : expected) {
    if (line.find("s v1 @3") != std::string::npos) line = line.substr(0, line.find(" C ")) + " $lost null";
  }
  EXPECT_EQ(everything(), expected);
  auto s = open();
  ASSERT_TRUE(s);
  auto page = s->read("s", {.from = 1, .max_count = 1});
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.at(0).metadata,
            "{\"lost\":{\"file\":\"streams/s.evs\",\"offset\":" + std::to_string(v1) + "}}");
  // The store goes on after the placeholder.
  auto again = append_wait(*s, "s", make_events(1), expect::exactly(5));
  ASSERT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.result.position, 9u);
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}

// The first 4 KiB block of a partition zeroed: the header is rewritten with
// the catalog's id and the records it held keep their places.
TEST_F(repair_test, zeroed_start_of_a_partition_rewrites_the_header_and_keeps_the_records_places) {
  build();
  const auto before = everything();
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t v1 = record_offset("/store/streams/s.evs", 1);
  fs->set_contents("/store/streams/s.evs", std::string(v1 + 10, '\0') + part.substr(v1 + 10));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  ASSERT_EQ(r->lost.size(), 2u);
  EXPECT_EQ(r->lost[0].position, 0u);
  EXPECT_EQ(r->lost[1].position, 3u);
  EXPECT_EQ(r->events_kept, 7u);
  EXPECT_EQ(fs->contents("/store/streams/s.evs").substr(0, format::file_header_size),
            part.substr(0, format::file_header_size));
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  auto expected = before;
  for (std::string& line : expected) {
    if (line.find("s v0 @0") != std::string::npos) line = line.substr(0, line.find(" A ")) + " $lost null";
    if (line.find("s v1 @3") != std::string::npos) line = line.substr(0, line.find(" C ")) + " $lost null";
  }
  EXPECT_EQ(everything(), expected);
}

// With $all and the stream's index gone too, the lost event's place follows
// from the stream's intact records around it and the one free position there.
TEST_F(repair_test, lost_event_without_any_index_entry_is_placed_by_elimination) {
  build();
  const auto before = everything();
  flip("/store/streams/s.evs", record_offset("/store/streams/s.evs", 2) + 84);  // s v2 @4
  ASSERT_FALSE(fs->remove("/store/index/$all.idx"));
  ASSERT_FALSE(fs->remove("/store/index/s.idx"));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].stream, "s");
  EXPECT_EQ(r->lost[0].version, 2u);
  EXPECT_EQ(r->lost[0].position, 4u);
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  auto expected = before;
  for (std::string& line : expected) {
    if (line.find("s v2 @4") != std::string::npos) line = line.substr(0, line.find(" C ")) + " $lost null";
  }
  EXPECT_EQ(everything(), expected);
  // A repaired store needs no second repair: placeholders are ordinary records.
  auto again = repair();
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->needed);
}

class rebuilt_index : public repair_test,
                      public ::testing::WithParamInterface<std::tuple<const char*, bool>> {};

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
                         ::testing::Combine(::testing::Values("index/$all.idx", "index/s.idx",
                                                              "index/catalog"),
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

// Stream ids follow creation order, the order of first positions.
TEST_F(repair_test, damaged_header_without_any_other_source_takes_the_id_its_first_position_gives) {
  build();
  const auto before = everything();
  flip("/store/streams/u.evs", 30);
  ASSERT_FALSE(fs->remove("/store/index/catalog"));
  ASSERT_FALSE(fs->remove("/store/index/$all.idx"));
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->events_kept, 9u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_TRUE(r->streams_removed.empty());
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  EXPECT_EQ(everything(), before);
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
  EXPECT_EQ(r->events_kept, 8u);
  auto s = open();
  ASSERT_TRUE(s);
  // $et-C: s v1-3; $et-E: s v5 (v4 is the placeholder), $et-$lost: s v4.
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 9u; }));
  auto c = s->read("$et-C");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->events.size(), 3u);
  auto e = s->read("$et-E");
  ASSERT_TRUE(e) << e.error().message();
  ASSERT_EQ(e->events.size(), 1u);
  EXPECT_EQ(e->events[0].version, 5u);
  auto lost = s->read("$et-$lost");
  ASSERT_TRUE(lost) << lost.error().message();
  ASSERT_EQ(lost->events.size(), 1u);
  EXPECT_EQ(lost->events[0].position, 7u);
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
  // A torn last append past the checkpoint (position 7): s keeps v0-3.
  const std::string part = fs->contents("/store/streams/s.evs");
  fs->set_contents("/store/streams/s.evs", part.substr(0, record_offset("/store/streams/s.evs", 5) + 30));
  checkpoint_at(7, 3);
  ASSERT_FALSE(fs->remove("/store/index/catalog"));
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

namespace {

struct stored {
  std::string stream, type, data;
  std::uint64_t version = 0, position = 0;
  friend bool operator==(const stored&, const stored&) = default;
};

// Issue 9's store: 10,000 events over 10 streams, appended 1-4 at a time in a
// seeded order, so appends of different streams interleave in $all.
struct ten_thousand : repair_test {
  std::vector<stored> original;

  void SetUp() override {
    auto s = open();
    ASSERT_TRUE(s);
    std::mt19937_64 rng(9);
    for (std::uint64_t n = 0; n < 10'000;) {
      const std::uint64_t k = std::min<std::uint64_t>(1 + rng() % 4, 10'000 - n);
      std::vector<event_data> events;
      for (std::uint64_t i = 0; i < k; ++i) {
        events.push_back(
            make_event("T" + std::to_string(rng() % 3), "{\"n\":" + std::to_string(n + i) + "}"));
      }
      ASSERT_FALSE(append_wait(*s, "s-" + std::to_string(rng() % 10), std::move(events)).ec);
      n += k;
    }
    ASSERT_FALSE(close_wait(*s));
    original = read_all();
    ASSERT_EQ(original.size(), 10'000u);
  }

  std::vector<stored> read_all() {
    auto s = open();
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return {};
    std::vector<stored> out;
    auto all = s->events("$all");
    for (const recorded_event& e : all) {
      out.push_back({std::string(e.stream), std::string(e.type), std::string(e.data), e.version, e.position});
    }
    EXPECT_FALSE(all.error()) << all.error()->message();
    EXPECT_FALSE(close_wait(*s));
    return out;
  }

  // The record of `path` that holds byte `offset`: its offset and version.
  std::pair<std::size_t, std::uint64_t> record_at(const std::string& path, std::size_t offset) {
    const std::string bytes = fs->contents(path);
    std::size_t at = format::file_header_size;
    for (std::uint64_t v = 0;; ++v) {
      const std::size_t len = format::get_u32(reinterpret_cast<const std::byte*>(bytes.data() + at));
      if (offset < at + len) return {at, v};
      at += len;
    }
  }
};

}  // namespace

TEST_F(ten_thousand, one_flipped_byte_mid_partition_loses_one_event_and_keeps_every_other_in_place) {
  const std::string path = "/store/streams/s-3.evs";
  const std::size_t middle = fs->contents(path).size() / 2;
  const auto [damaged_at, version] = record_at(path, middle);
  flip(path, middle);
  const auto lost = std::find_if(original.begin(), original.end(),
                                 [&](const stored& e) { return e.stream == "s-3" && e.version == version; });
  ASSERT_NE(lost, original.end());

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_EQ(r->events_kept, 9'999u);
  EXPECT_EQ(r->events_dropped, 0u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].stream, "s-3");
  EXPECT_EQ(r->lost[0].version, version);
  EXPECT_EQ(r->lost[0].position, lost->position);
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].file, "streams/s-3.evs");
  EXPECT_EQ(r->damage[0].offset, damaged_at);
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();

  // Every intact event at its version and position; the lost one a placeholder.
  std::vector<stored> expected = original;
  expected[lost->position].type = "$lost";
  expected[lost->position].data = "null";
  EXPECT_EQ(read_all(), expected);
  auto s = open();
  ASSERT_TRUE(s);
  auto stream = s->read("s-3");
  ASSERT_TRUE(stream) << stream.error().message();
  EXPECT_EQ(stream->events.size(), std::count_if(original.begin(), original.end(),
                                                 [](const stored& e) { return e.stream == "s-3"; }));
  const recorded_event& placeholder = stream->events.at(version);
  EXPECT_EQ(placeholder.type, "$lost");
  EXPECT_EQ(placeholder.position, lost->position);
  EXPECT_NE(placeholder.metadata.find("streams/s-3.evs"), std::string::npos) << placeholder.metadata;
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(ten_thousand, a_zeroed_4_kib_block_loses_only_the_records_it_touched) {
  const std::string path = "/store/streams/s-6.evs";
  std::string bytes = fs->contents(path);
  const std::size_t block = (bytes.size() / 2) & ~std::size_t{4095};
  const auto first = record_at(path, block), last = record_at(path, block + 4095);
  const std::size_t next = record_offset(path, last.second + 1);  // the first intact record after the block
  bytes.replace(block, 4096, 4096, '\0');
  fs->set_contents(path, bytes);

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  const std::uint64_t lost = last.second - first.second + 1;
  EXPECT_EQ(r->events_kept, 10'000u - lost);
  EXPECT_EQ(r->lost.size(), lost);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].offset, first.first);
  EXPECT_EQ(fs->contents("/store/lost+found/streams/s-6.evs@" + std::to_string(first.first)).size(),
            next - first.first);
  EXPECT_TRUE(r->verified);
  expect_opens_and_verifies_clean();
  std::vector<stored> expected = original;
  for (stored& e : expected) {
    if (e.stream == "s-6" && e.version >= first.second && e.version <= last.second) {
      e.type = "$lost";
      e.data = "null";
    }
  }
  EXPECT_EQ(read_all(), expected);
}

// Damage outside the partitions loses nothing: what it held is rebuilt from them.
TEST_F(ten_thousand, a_flipped_byte_in_the_catalog_or_an_index_loses_nothing) {
  const image clean = snapshot();
  for (const std::string file : {"index/catalog", "index/$all.idx", "index/s-4.idx"}) {
    fs = std::make_shared<memory_file_system>();
    for (const auto& [path, bytes] : clean) {
      ASSERT_FALSE(fs->create_directories(path.substr(0, path.rfind('/'))));
      fs->set_contents(path, bytes);
    }
    const std::string path = std::string(dir) + "/" + file;
    const std::size_t size = fs->contents(path).size();
    flip(path, format::file_header_size + (size - format::file_header_size) / 2);

    auto r = repair();
    ASSERT_TRUE(r) << file << ": " << r.error().message();
    EXPECT_TRUE(r->needed) << file;
    EXPECT_EQ(r->events_kept, 10'000u) << file;
    EXPECT_TRUE(r->lost.empty()) << file;
    EXPECT_TRUE(r->dropped.empty()) << file << ": " << drops(*r).front();
    EXPECT_TRUE(r->verified) << file;
    EXPECT_EQ(read_all(), original) << file;
  }
}

// Without a checkpoint all of $all is "tail" to an open, which would take the
// damaged record for a torn write and cut every stream after it (keeping 5,041
// events here). Repair sees that first, read-only, and salvages instead.
TEST_F(ten_thousand, without_a_checkpoint_damage_is_not_cut_as_a_torn_tail) {
  ASSERT_FALSE(fs->remove("/store/index/checkpoint"));
  const std::string path = "/store/streams/s-3.evs";
  flip(path, fs->contents(path).size() / 2);

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_EQ(r->events_kept, 9'999u);
  EXPECT_EQ(r->lost.size(), 1u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_TRUE(r->verified);
  const auto after = read_all();
  ASSERT_EQ(after.size(), original.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (after[i].type != "$lost") {
      EXPECT_EQ(after[i], original[i]) << i;
    }
  }
}
