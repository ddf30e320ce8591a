// evstore repair on format 2: the partition logs are the truth. Damage to a
// record keeps its place with a "$lost" placeholder below the checkpoint and
// ends $all past it (an append cut in part goes whole); damage to what is
// derived from the logs ($all's entries, the stream index, the checkpoint)
// loses nothing; cut bytes land in lost+found; the store opens and verifies
// clean afterwards, also after a crash at any write of the repair itself.
#include "format/format.hpp"
#include "log/log_layout.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";
using image = std::map<std::string, std::string>;

// A record as the logs hold it.
struct rec {
  std::string file;
  std::size_t offset = 0;  // in the segment file
  std::uint32_t size = 0;
  std::string stream, type;
  std::uint64_t version = 0, position = 0;
};

struct repair_test : ::testing::Test {
  std::shared_ptr<memory_file_system> fs = std::make_shared<memory_file_system>();
  io_thread io;
  std::uint16_t partitions = 2;
  std::uint64_t checkpoint_interval = 65536;

  result<store> open(bool fsync = false, const std::shared_ptr<file_system>& with = {}) {
    return store::open(io.executor(), {.directory = dir,
                                       .fsync_on_flush = fsync,
                                       .file_system = with ? with : fs,
                                       .checkpoint_interval = checkpoint_interval,
                                       .partitions = partitions,
                                       .segment_size = detail::min_segment_size});
  }
  result<repair_report> repair(bool dry_run = false, const std::shared_ptr<file_system>& with = {}) {
    return repair_store(dir, {.dry_run = dry_run, .file_system = with ? with : fs});
  }

  // Positions: s v0 @0 | t v0-1 @1-2 | s v1-3 @3-5 | u v0 @6 | s v4-5 @7-8.
  void build() {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "s", make_events(1, "A")).ec);
    ASSERT_FALSE(append_wait(*s, "t", make_events(2, "B")).ec);
    ASSERT_FALSE(append_wait(*s, "s", make_events(3, "C")).ec);
    ASSERT_FALSE(append_wait(*s, "u", make_events(1, "D")).ec);
    ASSERT_FALSE(append_wait(*s, "s", make_events(2, "E")).ec);
    ASSERT_FALSE(close_wait(*s));
  }

  // Appends `n` events of 300 bytes over streams a-0 .. a-4: with 8 KiB
  // segments, each log spans several.
  void build_many(int n) {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < n; ++i) {
      ASSERT_FALSE(append_wait(*s, "a-" + std::to_string(i % 5),
                               {make_event("M", "{\"n\":\"" + std::string(300, 'x') + "\"}")})
                       .ec);
    }
    ASSERT_FALSE(close_wait(*s));
  }

  image snapshot() const {
    image out;
    for (const std::string& f : fs->files()) out[f] = fs->contents(f);
    return out;
  }

  // Every record of every segment, walked by framing.
  std::vector<rec> records() const {
    std::vector<rec> out;
    for (const std::string& f : fs->files()) {
      if (f.rfind("/store/log/", 0) != 0 || !f.ends_with(".evs")) continue;
      const std::string bytes = fs->contents(f);
      const auto in = std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
      for (std::size_t at = format::segment_records_start; at < in.size();) {
        format::decoded_record r;
        if (format::decode_record(in.subspan(at), r, format::record_names::required) !=
            format::decode_status::ok)
          break;
        out.push_back({f, at, r.size, std::string(r.fields.stream), std::string(r.fields.type),
                       r.fields.version, r.fields.position});
        at += r.size;
      }
    }
    std::sort(out.begin(), out.end(), [](const rec& a, const rec& b) { return a.position < b.position; });
    return out;
  }
  rec at(std::uint64_t position) const {
    for (const rec& r : records()) {
      if (r.position == position) return r;
    }
    ADD_FAILURE() << "no record at " << position;
    return {};
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
    auto all = s->read("$all", {.max_count = 100000});
    EXPECT_TRUE(all) << all.error().message();
    if (all) {
      for (const auto& e : all->events) out.push_back("$all: " + line(e));
    }
    for (const stream_info& info : s->list_streams(0, 1000)) {
      auto page = s->read(info.name, {.max_count = 100000});
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

  void flip(const std::string& path, std::size_t offset) {
    std::string bytes = fs->contents(path);
    ASSERT_LT(offset, bytes.size()) << path;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
    fs->set_contents(path, bytes);
  }
  std::string run_file() const {
    for (const std::string& f : fs->files()) {
      if (f.ends_with(".sidx")) return f;
    }
    ADD_FAILURE() << "no run file";
    return {};
  }
};

// The lines of `lines` whose position is not `position`.
std::vector<std::string> without(const std::vector<std::string>& lines, std::uint64_t position) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (l.find(" @" + std::to_string(position) + " ") == std::string::npos) out.push_back(l);
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

TEST_F(repair_test, refuses_while_a_writer_has_the_store_open) {
  build();
  const rec r4 = at(7);
  flip(r4.file, r4.offset + 90);
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

// Below the checkpoint a damaged record was acknowledged: its place is kept
// by a placeholder at the same stream, version and position; nothing else moves.
TEST_F(repair_test, damaged_record_below_the_checkpoint_becomes_a_placeholder_and_every_other_event_stays) {
  build();
  const auto before = everything();
  const rec damaged = at(7);  // s v4
  flip(damaged.file, damaged.offset + 90);

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 8u);
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  ASSERT_EQ(r->lost.size(), 1u);
  EXPECT_EQ(r->lost[0].stream, "s");
  EXPECT_EQ(r->lost[0].version, 4u);
  EXPECT_EQ(r->lost[0].position, 7u);
  ASSERT_FALSE(r->damage.empty());
  const std::string segment = damaged.file.substr(std::string(dir).size() + 1);
  EXPECT_EQ(r->damage[0].file, segment);
  EXPECT_EQ(r->damage[0].offset, damaged.offset);
  ASSERT_EQ(r->moved.size(), 1u);
  EXPECT_EQ(r->moved[0].from, segment);
  EXPECT_EQ(r->moved[0].offset, damaged.offset);
  EXPECT_EQ(r->moved[0].size, damaged.size);
  EXPECT_EQ(fs->contents(std::string(dir) + "/" + r->moved[0].to).size(), damaged.size);
  EXPECT_TRUE(std::find(r->rebuilt.begin(), r->rebuilt.end(), segment) != r->rebuilt.end());

  const auto after = everything();
  EXPECT_EQ(without(after, 7), without(before, 7));
  auto s = open();
  ASSERT_TRUE(s);
  auto lost = s->read("s", {.from = 4, .max_count = 1});
  ASSERT_TRUE(lost) << lost.error().message();
  ASSERT_EQ(lost->events.size(), 1u);
  EXPECT_EQ(lost->events[0].type, "$lost");
  EXPECT_EQ(lost->events[0].position, 7u);
  EXPECT_EQ(lost->events[0].metadata,
            "{\"lost\":{\"file\":\"" + segment + "\",\"offset\":" + std::to_string(damaged.offset) + "}}");
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}

// $all's entries, the stream index and the checkpoint are derived from the
// logs: damage to any of them loses no event.
class derived_damage : public repair_test, public ::testing::WithParamInterface<std::string> {};
INSTANTIATE_TEST_SUITE_P(files, derived_damage,
                         ::testing::Values("all_entry", "run", "checkpoint", "manifest", "all_missing",
                                           "index_missing"));

TEST_P(derived_damage, loses_nothing) {
  build();
  const auto before = everything();
  const std::string what = GetParam();
  if (what == "all_entry") flip("/store/index/all.idx", 3 * format::all_entry2_size + 2);
  if (what == "run") flip(run_file(), 20);
  if (what == "checkpoint") fs->set_contents("/store/index/checkpoint", std::string(200, '\x5a'));
  if (what == "manifest") flip("/store/index/manifest", 12);
  if (what == "all_missing") {
    ASSERT_FALSE(fs->remove("/store/index/all.idx"));
  }
  if (what == "index_missing") {
    ASSERT_FALSE(fs->remove("/store/index/manifest"));
    ASSERT_FALSE(fs->remove(run_file()));
  }

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_TRUE(r->verified) << (r->reasons.empty() ? "" : r->reasons.back());
  EXPECT_EQ(r->events_kept, 9u);
  EXPECT_EQ(r->streams_kept, 3u);
  EXPECT_TRUE(r->lost.empty());
  EXPECT_TRUE(r->dropped.empty()) << drops(*r).front();
  EXPECT_EQ(everything(), before);
  expect_opens_and_verifies_clean();
}

// A whole segment gone: the events it held below the checkpoint keep their
// places as placeholders, their streams and versions taken from the stream
// index's run.
TEST_F(repair_test, missing_segment_keeps_its_events_places_from_the_stream_index) {
  partitions = 1;
  build_many(100);
  const auto all = records();
  const std::string gone = "/store/log/" + detail::segment_name(0, 1);
  std::vector<rec> in_gone;
  for (const rec& r : all) {
    if (r.file == gone) in_gone.push_back(r);
  }
  ASSERT_GT(in_gone.size(), 5u);
  ASSERT_TRUE(fs->exists("/store/log/" + detail::segment_name(0, 2))) << "a segment follows";
  ASSERT_FALSE(fs->remove(gone));

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 100u - in_gone.size());
  ASSERT_EQ(r->lost.size(), in_gone.size());
  for (std::size_t i = 0; i < in_gone.size(); ++i) {
    EXPECT_EQ(r->lost[i].stream, in_gone[i].stream);
    EXPECT_EQ(r->lost[i].version, in_gone[i].version);
    EXPECT_EQ(r->lost[i].position, in_gone[i].position);
  }
  EXPECT_TRUE(r->dropped.empty());
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->event_count(), 100u);
  for (int k = 0; k < 5; ++k) {
    auto v = s->stream_version("a-" + std::to_string(k));
    ASSERT_TRUE(v && *v);
    EXPECT_EQ(**v, 19u);
  }
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}

// Past the acknowledged end nothing was promised: the first damaged record
// ends $all, and the append it was part of goes whole, in every log. (A
// buffered writer's open would cut such a tail itself; here the checkpoint is
// gone too, so the open fails and the stream index's runs tell what was
// acknowledged.)
TEST_F(repair_test, damage_past_the_checkpoint_ends_all_before_the_append_it_cuts) {
  build();
  const image checkpointed = snapshot();
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "s", make_events(3, "F")).ec);  // @9-11
    ASSERT_FALSE(append_wait(*s, "t", make_events(1, "G")).ec);  // @12
    ASSERT_FALSE(close_wait(*s));
  }
  // The checkpoint and the stream index as they were at 9 events.
  for (const std::string& f : fs->files()) {
    if (f.ends_with(".sidx") && !checkpointed.count(f)) {
      ASSERT_FALSE(fs->remove(f));
    }
  }
  fs->set_contents("/store/index/checkpoint", std::string(200, '\0'));
  fs->set_contents("/store/index/manifest", checkpointed.at("/store/index/manifest"));
  const rec damaged = at(10);
  flip(damaged.file, damaged.offset + 90);

  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 9u);
  EXPECT_TRUE(r->lost.empty());
  EXPECT_EQ(drops(*r), (std::vector<std::string>{"s from 6 x2", "t from 2 x1"}));
  EXPECT_EQ(r->events_dropped, 3u);
  // The damaged record and the three intact ones cut: each in lost+found.
  EXPECT_EQ(r->moved.size(), 4u);
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->event_count(), 9u);
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}

TEST_F(repair_test, dry_run_changes_no_byte_and_reports_what_the_repair_does) {
  build();
  const rec damaged = at(4);
  flip(damaged.file, damaged.offset + 90);
  flip("/store/index/all.idx", 5);
  const image before = snapshot();

  auto dry = repair(true);
  ASSERT_TRUE(dry) << dry.error().message();
  EXPECT_TRUE(dry->dry_run);
  EXPECT_TRUE(dry->needed);
  EXPECT_FALSE(dry->verified);
  EXPECT_EQ(snapshot(), before);

  auto real = repair();
  ASSERT_TRUE(real) << real.error().message();
  EXPECT_TRUE(real->verified);
  EXPECT_EQ(drops(*dry), drops(*real));
  EXPECT_EQ(dry->events_kept, real->events_kept);
  EXPECT_EQ(dry->lost.size(), real->lost.size());
  ASSERT_EQ(dry->moved.size(), real->moved.size());
  for (std::size_t i = 0; i < dry->moved.size(); ++i) EXPECT_EQ(dry->moved[i].to, real->moved[i].to);
  EXPECT_EQ(dry->rebuilt.size() + 3, real->rebuilt.size()) << "all.idx, the manifest and the checkpoint";
}

TEST_F(repair_test, links_are_rebuilt_from_all_on_the_next_open) {
  build();
  const rec damaged = at(7);
  flip(damaged.file, damaged.offset + 90);
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->events_kept, 8u);
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(wait_until([&] { return s->statistics().indexed == 9u; }));
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
  const image checkpointed = snapshot();
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "s", make_events(3, "F")).ec);  // @9-11
    for (auto [stream, position] : {std::pair<std::string, std::uint64_t>{"s", 9}, {"t", 2}, {"$all", 12}}) {
      auto c = s->consumer(stream, "projector");
      ASSERT_TRUE(c) << c.error().message();
      ASSERT_FALSE(commit_wait(*c, position, "{}"));
    }
    ASSERT_FALSE(close_wait(*s));
  }
  for (const std::string& f : fs->files()) {
    if (f.ends_with(".sidx") && !checkpointed.count(f)) {
      ASSERT_FALSE(fs->remove(f));
    }
  }
  fs->set_contents("/store/index/checkpoint", std::string(200, '\0'));
  fs->set_contents("/store/index/manifest", checkpointed.at("/store/index/manifest"));
  const rec damaged = at(10);
  flip(damaged.file, damaged.offset + 90);
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->verified);
  ASSERT_EQ(r->consumers_ahead.size(), 2u);
  std::sort(r->consumers_ahead.begin(), r->consumers_ahead.end(),
            [](const auto& a, const auto& b) { return a.stream < b.stream; });
  EXPECT_EQ(r->consumers_ahead[0].stream, "$all");
  EXPECT_EQ(r->consumers_ahead[0].position, 12u);
  EXPECT_EQ(r->consumers_ahead[0].stream_end, 9u);
  EXPECT_EQ(r->consumers_ahead[1].stream, "s");
  EXPECT_EQ(r->consumers_ahead[1].position, 9u);
  EXPECT_EQ(r->consumers_ahead[1].stream_end, 6u);
  auto s = open();
  ASSERT_TRUE(s);
  auto kept = s->consumer_state("s", "projector");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->position, 9u) << "repair does not move a consumer's checkpoint";
  ASSERT_FALSE(close_wait(*s));
}

// A crash at every file operation of the repair, then a power loss (synced
// writes only, or a random prefix of the unsynced ones): running repair again
// ends in the same store as an uninterrupted repair.
TEST_F(repair_test, a_crash_at_any_write_of_the_repair_is_finished_by_the_next_repair) {
  partitions = 1;
  build_many(60);
  const auto all = records();
  const std::string segment = "/store/log/" + detail::segment_name(0, 1);
  rec damaged;
  for (const rec& r : all) {
    if (r.file == segment) {
      damaged = r;
      break;
    }
  }
  ASSERT_FALSE(damaged.file.empty());
  flip(damaged.file, damaged.offset + 90);
  const image start = snapshot();

  // The uninterrupted repair.
  auto whole = repair();
  ASSERT_TRUE(whole) << whole.error().message();
  ASSERT_TRUE(whole->verified);
  ASSERT_EQ(whole->lost.size(), 1u);
  const auto expected = everything();

  int points = 0;
  for (std::uint64_t k = 0;; ++k) {
    bool finished = false;
    for (auto mode : {power_loss_mode::synced_only, power_loss_mode::random_prefix}) {
      SCOPED_TRACE("crash after " + std::to_string(k) +
                   (mode == power_loss_mode::synced_only ? ", synced only" : ", random prefix"));
      fs = std::make_shared<memory_file_system>();
      for (const auto& [p, bytes] : start) fs->set_contents(p, bytes);
      auto fault = std::make_shared<fault_injecting_file_system>(fs);
      fault->crash_after(k);
      auto first = repair(false, fault);
      finished = first.has_value();
      fs->power_loss(mode, k);
      if (!finished) {
        auto again = repair();
        ASSERT_TRUE(again) << again.error().message();
        EXPECT_TRUE(!again->needed || again->verified);
      }
      EXPECT_EQ(everything(), expected);
      expect_opens_and_verifies_clean();
    }
    ++points;
    if (finished) break;
    ASSERT_LT(k, 400u);
  }
  std::printf("[repair crash] %d crash points\n", points);
}

// A damaged segment header: reads never need it, verify and repair do. The
// records behind it are intact and kept; the segment is written anew.
TEST_F(repair_test, damaged_segment_header_is_rewritten_and_nothing_is_lost) {
  partitions = 1;
  build_many(40);
  const auto before = everything();
  const std::string segment = "/store/log/" + detail::segment_name(0, 1);
  flip(segment, 30);
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->needed);
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 40u);
  EXPECT_TRUE(r->lost.empty());
  ASSERT_FALSE(r->damage.empty());
  EXPECT_EQ(r->damage[0].file, "log/" + detail::segment_name(0, 1));
  EXPECT_EQ(r->damage[0].problem, "damaged segment header");
  EXPECT_EQ(everything(), before);
  expect_opens_and_verifies_clean();
}

// Damage in both logs at once, and to $all's entries and the checkpoint:
// each damaged record keeps its place, every other event stays.
TEST_F(repair_test, damage_in_every_log_and_every_derived_file_at_once) {
  build();
  const auto before = everything();
  const rec in_t = at(2);  // t v1
  rec other;               // a record of the other log
  for (const rec& r : records()) {
    if (r.file != in_t.file) other = r;
  }
  ASSERT_FALSE(other.file.empty()) << "the streams live in both partitions";
  flip(in_t.file, in_t.offset + 90);
  flip(other.file, other.offset + 90);
  flip("/store/index/all.idx", 5);
  flip("/store/index/checkpoint", 20);
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 7u);
  ASSERT_EQ(r->lost.size(), 2u);
  EXPECT_EQ(r->lost[0].stream + " v" + std::to_string(r->lost[0].version), "t v1");
  EXPECT_EQ(r->lost[1].stream, other.stream);
  EXPECT_EQ(r->lost[1].version, other.version);
  EXPECT_EQ(r->lost[1].position, other.position);
  EXPECT_EQ(without(without(everything(), 2), other.position), without(without(before, 2), other.position));
  expect_opens_and_verifies_clean();
}

// A failed read is no damage: at every read of the repair, an I/O error
// fails it with that error (never cutting or placing what it could not read),
// and a repair without the fault then ends where an undisturbed one does.
TEST_F(repair_test, a_read_error_at_any_read_fails_the_repair_and_is_never_taken_for_damage) {
  build();
  const rec damaged = at(7);
  flip(damaged.file, damaged.offset + 90);
  const image start = snapshot();
  auto whole = repair();
  ASSERT_TRUE(whole) << whole.error().message();
  const auto expected = everything();

  int failed = 0;
  for (std::uint64_t k = 0;; ++k) {
    SCOPED_TRACE("read error at read " + std::to_string(k));
    fs = std::make_shared<memory_file_system>();
    for (const auto& [p, bytes] : start) fs->set_contents(p, bytes);
    auto fault = std::make_shared<fault_injecting_file_system>(fs);
    fault->fail_read(k, make_error_code(boost::system::errc::io_error), true);
    auto r = repair(false, fault);
    if (r) {
      EXPECT_TRUE(r->lost.size() <= 1u);
      if (r->needed && r->verified) {
        EXPECT_EQ(everything(), expected);
        break;  // the fault came after every read of the repair
      }
    } else {
      EXPECT_NE(r.error().code, errc::corrupt_data) << r.error().message();
      ++failed;
    }
    auto again = repair();
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_TRUE(!again->needed || again->verified);
    EXPECT_EQ(everything(), expected);
    ASSERT_LT(k, 2000u);
  }
  EXPECT_GT(failed, 10);
  std::printf("[repair read errors] %d failed reads handled\n", failed);
}

// Without a checkpoint or a stream index nothing tells what was acknowledged:
// the first damaged record ends $all, back to the start of its append, and
// a stream left without events is reported removed.
TEST_F(repair_test, without_a_checkpoint_or_runs_the_first_damage_ends_all_at_a_whole_append) {
  build();
  const rec damaged = at(4);  // s v2, in the append of s v1-3 @3-5
  flip(damaged.file, damaged.offset + 90);
  ASSERT_FALSE(fs->remove("/store/index/checkpoint"));
  ASSERT_FALSE(fs->remove("/store/index/manifest"));
  ASSERT_FALSE(fs->remove(run_file()));
  auto r = repair();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 3u);
  EXPECT_TRUE(r->lost.empty());
  EXPECT_EQ(drops(*r), (std::vector<std::string>{"s from 1 x4", "u from 0 x1"}));
  EXPECT_EQ(r->events_dropped, 5u);
  EXPECT_EQ(r->streams_removed, (std::vector<std::string>{"u"}));
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->event_count(), 3u);
  EXPECT_EQ(s->stream_count(), 2u);
  ASSERT_FALSE(close_wait(*s));
  expect_opens_and_verifies_clean();
}
