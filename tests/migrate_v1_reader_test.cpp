// The format-1 reader of `evstore migrate` (engine/src/migrate/v1_reader.hpp)
// on stores the format-1 engine wrote (committed fixtures: tests/data/v1,
// support/v1_fixture.hpp): it returns what that engine read from them after
// its own recovery, in $all order with every field, through the journal of a
// store that was not closed, without writing a byte; it leaves a torn tail
// out and says so, and refuses damage, failed reads and stores of another
// format with the file and offset.
//
// Nothing here runs the format-1 engine (it is gone once the engine writes
// format 2): only the fixtures, migrate/ and the format codecs.
#include "format/format.hpp"
#include "migrate/v1_reader.hpp"
#include "support/v1_fixture.hpp"
#include <evstore/read_stream.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::testing;
using evstore::detail::migrate::v1_event;
using evstore::detail::migrate::v1_reader;
using evstore::test::v1::disk_image;
using evstore::test::v1::disk_of;
using evstore::test::v1::image_of;
using evstore::test::v1::store_expectation;
namespace v1 = evstore::test::v1;
namespace format = evstore::detail::format;

namespace {

const std::string dir = "/s";
// 200 upper-case bytes encode to 600 ("%4C" each): a file name split into nested directories.
const std::string long_name = std::string(199, 'L') + "1";

// tests/data/v1/<name>.{v1img,json}, read once.
const v1::fixture& fixture(const std::string& name) {
  static std::map<std::string, v1::fixture> read;
  auto it = read.find(name);
  if (it == read.end()) {
    auto f = v1::read_fixture(name);
    if (!f) throw std::runtime_error("fixture " + name + ": " + f.error().message());
    it = read.emplace(name, std::move(*f)).first;
  }
  return it->second;
}

// Store `store` of fixture `name`: its files and what the format-1 engine read from it.
struct fixture_store {
  disk_image files;
  store_expectation expected;
};

fixture_store store_of(const std::string& name, const std::string& store) {
  const v1::fixture& f = fixture(name);
  return {f.stores.at(store), f.expected.at(store)};
}

// The fields the engine's reads show (commit fields are not among them).
v1_event without_commit_fields(v1_event e) {
  e.commit_first_position = 0;
  e.commit_count = 0;
  e.commit_end = false;
  return e;
}

// Every event the reader returns, `batch` at a time.
std::vector<v1_event> read_all(v1_reader& r, std::size_t batch) {
  std::vector<v1_event> out;
  for (;;) {
    auto n = r.next(out, batch);
    EXPECT_TRUE(n) << n.error().message();
    if (!n || *n == 0) return out;
    EXPECT_LE(*n, batch);
  }
}

void expect_same(const std::vector<v1_event>& got, const std::vector<v1_event>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "position " << i;
}

std::vector<v1_event> first(const std::vector<v1_event>& events, std::size_t n) {
  return {events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n)};
}

TEST(migrate_v1_reader, returns_every_event_of_all_with_every_field_as_the_store_reads_it) {
  // A small checkpoint interval: open scans the entries past the last checkpoint.
  const fixture_store mixed = store_of("mixed", "mixed");
  const std::vector<v1_event>& want = mixed.expected.events;
  ASSERT_TRUE(mixed.expected.has_commit_fields);
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](const v1_event& e) { return e.stream == long_name; }));
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](const v1_event& e) { return e.data == "null"; }));
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](const v1_event& e) { return e.commit_count > 1; }));
  auto mem = disk_of(mixed.files, dir);

  for (const std::size_t batch : {std::size_t{1}, std::size_t{7}, std::size_t{100000}}) {
    // One open partition at a time with batches of 7: every run reopens its file.
    auto r = v1_reader::open(*mem, dir, batch == 7 ? 1 : 256);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->event_count(), want.size());
    EXPECT_EQ(r->left_out().events, 0u) << r->left_out().reason;
    expect_same(read_all(*r, batch), want);
    EXPECT_EQ(r->next_position(), want.size());
  }

  auto r = v1_reader::open(*mem, dir);
  ASSERT_TRUE(r) << r.error().message();
  auto defs = r->read_streams();
  ASSERT_TRUE(defs) << defs.error().message();
  ASSERT_EQ(defs->size(), 1u);
  ASSERT_EQ(mixed.expected.read_streams.size(), 1u);
  EXPECT_EQ((*defs)[0].name, "paid");
  EXPECT_EQ((*defs)[0].name, mixed.expected.read_streams[0].name);
  EXPECT_EQ(filter::from_json((*defs)[0].filter_json).value(),
            filter::event_types({"Paid"}).where("/total", "12.5"));
  EXPECT_EQ((*defs)[0].filter_json, mixed.expected.read_streams[0].filter_json);
  EXPECT_NE((*defs)[0].filter_json.find("12.5"), std::string::npos) << "the value keeps its spelling";
  EXPECT_TRUE((*defs)[0].built);
  auto consumers = r->consumers();
  ASSERT_TRUE(consumers) << consumers.error().message();
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].stream, "order-1");
  EXPECT_EQ((*consumers)[0].name, "billing");
  EXPECT_EQ((*consumers)[0].position, 4u);
  EXPECT_EQ((*consumers)[0].state, R"({"seen":4})");
  ASSERT_EQ(mixed.expected.consumers.size(), 1u);
  EXPECT_EQ((*consumers)[0].position, mixed.expected.consumers[0].position);
  EXPECT_EQ((*consumers)[0].state, mixed.expected.consumers[0].state);
}

TEST(migrate_v1_reader, reads_runs_of_contiguous_records_with_one_read_each) {
  // One stream, 50 appends of 20 events.
  const fixture_store bulk = store_of("bulk", "bulk");
  ASSERT_EQ(bulk.expected.events.size(), 1000u);
  fault_injecting_file_system counting(disk_of(bulk.files, dir));
  auto r = v1_reader::open(counting, dir);
  ASSERT_TRUE(r) << r.error().message();
  const std::uint64_t before = counting.read_count();
  std::vector<v1_event> out;
  auto n = r->next(out, 1000);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 1000u);
  // One read of the 1000 $all entries, the partition's open, size and header,
  // and one read per 4 MiB of records: not a read per event.
  EXPECT_LE(counting.read_count() - before, 8u);
  expect_same(out, bulk.expected.events);
}

TEST(migrate_v1_reader,
     reads_a_durable_store_through_the_journal_frames_past_its_checkpoint_and_writes_nothing) {
  // Closed, reopened, appended to, power lost: its expected events are what
  // the engine's own recovery read.
  const fixture_store crashed = store_of("journal", "journal");
  // The data files lack the last flushes: only the journal holds them.
  ASSERT_LT(v1::all_entries(crashed.files), crashed.expected.events.size());
  auto fs = disk_of(crashed.files, dir);
  {
    auto r = v1_reader::open(*fs, dir);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->event_count(), crashed.expected.events.size());
    EXPECT_EQ(r->left_out().events, 0u) << r->left_out().reason;
    expect_same(read_all(*r, 13), crashed.expected.events);
    auto consumers = r->consumers();
    ASSERT_TRUE(consumers);
    EXPECT_TRUE(consumers->empty());
  }
  EXPECT_EQ(image_of(*fs, dir), crashed.files) << "reading must not change the source store";
}

// The files of a buffered store as a process crash left them (no close, no
// checkpoint past its open) after a mix of appends and a last append of
// `last_events` events (1 to 3) to stream "last".
fixture_store crashed_buffered_store(std::size_t last_events) {
  return store_of("buffered_crash", "last" + std::to_string(last_events));
}

TEST(migrate_v1_reader, leaves_out_a_commit_cut_in_the_middle_and_says_how_many_events_and_why) {
  fixture_store crashed = crashed_buffered_store(3);
  const std::vector<v1_event>& all = crashed.expected.events;
  // The process died while the last append's $all entries were written: its
  // commit-end entry never reached the file.
  v1::cut_last_all_entry(crashed.files);
  auto fs = disk_of(crashed.files, dir);

  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->event_count(), all.size() - 3);
  EXPECT_EQ(r->left_out().events, 2u);
  EXPECT_NE(r->left_out().reason.find("append whose last event is missing or damaged"), std::string::npos)
      << r->left_out().reason;
  expect_same(read_all(*r, 5), first(all, all.size() - 3));
  // Where the format-1 recovery ended $all.
  const v1::recovery_outcome& recovery = crashed.expected.damaged.at("cut_last_all_entry");
  ASSERT_TRUE(recovery.opens) << recovery.error;
  EXPECT_EQ(r->event_count(), recovery.event_count);
}

TEST(migrate_v1_reader, leaves_out_a_torn_last_record_and_names_where_it_is) {
  fixture_store crashed = crashed_buffered_store(2);
  const std::vector<v1_event>& all = crashed.expected.events;
  // The last record was written only in part.
  const v1::damage_site torn = v1::tear_last_record(crashed.files, "last");
  ASSERT_EQ(torn.file, "streams/last.evs");
  auto fs = disk_of(crashed.files, dir);

  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->event_count(), all.size() - 2);
  EXPECT_EQ(r->left_out().events, 2u);
  EXPECT_NE(r->left_out().reason.find("streams/last.evs at offset " + std::to_string(torn.offset)),
            std::string::npos)
      << r->left_out().reason;
  expect_same(read_all(*r, 1000), first(all, all.size() - 2));
  const v1::recovery_outcome& recovery = crashed.expected.damaged.at("tear_last_record");
  ASSERT_TRUE(recovery.opens) << recovery.error;
  EXPECT_EQ(r->event_count(), recovery.event_count);
}

TEST(migrate_v1_reader, refuses_a_damaged_catalog_record_before_an_acknowledged_stream_as_recovery_does) {
  fixture_store crashed = crashed_buffered_store(1);
  // No checkpoint covers these streams, but the published head does: damage
  // to the second catalog record is no torn tail.
  const v1::damage_site flipped =
      v1::flip_second_catalog_record(crashed.files, crashed.expected.events[0].stream);
  ASSERT_EQ(flipped.offset,
            format::file_header_size + format::catalog_record_size(crashed.expected.events[0].stream.size()));

  // The format-1 recovery refused it as damage.
  const v1::recovery_outcome& recovery = crashed.expected.damaged.at("flip_second_catalog_record");
  EXPECT_FALSE(recovery.opens);
  EXPECT_EQ(recovery.error.rfind(make_error_code(errc::corrupt_data).message(), 0), 0u) << recovery.error;
  auto r = v1_reader::open(*disk_of(crashed.files, dir), dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::corrupt_data);
  EXPECT_NE(r.error().detail.find("index/catalog at offset " + std::to_string(flipped.offset)),
            std::string::npos)
      << r.error().detail;
}

// tests/data/v1/realistic: the store migration tests use once format 1 can
// no longer be written; the reader must return all of it as the engine did.
TEST(migrate_v1_reader, reads_the_realistic_fixture_as_the_format_1_engine_read_it) {
  const fixture_store realistic = store_of("realistic", "realistic");
  const store_expectation& want = realistic.expected;
  ASSERT_GE(want.events.size(), 200u);
  auto fs = disk_of(realistic.files, dir);
  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->event_count(), want.events.size());
  EXPECT_EQ(r->left_out().events, 0u) << r->left_out().reason;
  expect_same(read_all(*r, 64), want.events);
  auto defs = r->read_streams();
  ASSERT_TRUE(defs) << defs.error().message();
  ASSERT_EQ(defs->size(), want.read_streams.size());
  for (std::size_t i = 0; i < defs->size(); ++i) {
    EXPECT_EQ((*defs)[i].name, want.read_streams[i].name);
    EXPECT_EQ((*defs)[i].filter_json, want.read_streams[i].filter_json);
    EXPECT_EQ((*defs)[i].built, want.read_streams[i].built);
  }
  auto consumers = r->consumers();
  ASSERT_TRUE(consumers) << consumers.error().message();
  ASSERT_EQ(consumers->size(), want.consumers.size());
  for (std::size_t i = 0; i < consumers->size(); ++i) {
    EXPECT_EQ((*consumers)[i].stream, want.consumers[i].stream);
    EXPECT_EQ((*consumers)[i].name, want.consumers[i].name);
    EXPECT_EQ((*consumers)[i].position, want.consumers[i].position);
    EXPECT_EQ((*consumers)[i].state, want.consumers[i].state);
  }
  EXPECT_EQ(image_of(*fs, dir), realistic.files) << "reading must not change the source store";
}

// The files of a closed buffered store (a mix of appends) and its events.
disk_image closed_store(std::vector<v1_event>& expected) {
  fixture_store closed = store_of("closed", "closed");
  expected = closed.expected.events;
  return closed.files;
}

TEST(migrate_v1_reader, refuses_a_damaged_record_that_all_covers_naming_the_file_and_offset) {
  std::vector<v1_event> want;
  disk_image files = closed_store(want);
  const std::uint64_t damaged = want.size() / 2;
  ASSERT_EQ(want[damaged].stream.rfind("order-", 0), 0u);
  const format::all_entry e = v1::all_entry(files, damaged);
  const std::string partition = "streams/order-" + want[damaged].stream.substr(6) + ".evs";
  files.at(partition)[e.offset + format::record_header_size + 1] ^= 0x20;
  auto fs = disk_of(files, dir);

  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();  // $all's checkpoint covers it: open does not read it
  EXPECT_EQ(r->event_count(), want.size());
  std::vector<v1_event> out;
  std::optional<error> failed;
  while (!failed) {
    auto n = r->next(out, 4);
    if (!n) failed = n.error();
    if (n && *n == 0) break;
  }
  ASSERT_TRUE(failed) << "a damaged record must never be skipped";
  EXPECT_EQ(failed->code, errc::corrupt_data);
  EXPECT_NE(failed->detail.find(partition + " at offset " + std::to_string(e.offset)), std::string::npos)
      << failed->detail;
  // Everything before it was returned, nothing after it.
  expect_same(
      out, std::vector<v1_event>(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(damaged / 4 * 4)));
  EXPECT_EQ(r->next_position(), damaged / 4 * 4);
}

TEST(migrate_v1_reader, reports_a_failed_read_with_its_file_and_offset_and_can_go_on_after_it) {
  std::vector<v1_event> want;
  auto mem = disk_of(closed_store(want), dir);
  fault_injecting_file_system fs(mem);
  auto r = v1_reader::open(fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  std::vector<v1_event> out;
  ASSERT_TRUE(r->next(out, 3));

  fs.fail_read(1, make_error_code(boost::system::errc::io_error), false);
  auto failed = r->next(out, 3);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, boost::system::errc::io_error);
  EXPECT_NE(failed.error().detail.find("index/$all.idx at offset " +
                                       std::to_string(format::file_header_size + 3 * format::all_entry_size)),
            std::string::npos)
      << failed.error().detail;
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(r->next_position(), 3u);

  expect_same(
      [&] {
        auto rest = read_all(*r, 5);
        rest.insert(rest.begin(), out.begin(), out.end());
        return rest;
      }(),
      want);
}

TEST(migrate_v1_reader, reports_a_failed_read_of_a_partition_with_its_file_and_offset) {
  std::vector<v1_event> want;
  auto mem = disk_of(closed_store(want), dir);
  fault_injecting_file_system fs(mem);
  auto r = v1_reader::open(fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  // Every read after the $all entries' fails: the first partition's open.
  fs.fail_read(2, make_error_code(boost::system::errc::io_error), true);
  std::vector<v1_event> out;
  auto failed = r->next(out, 10);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, boost::system::errc::io_error);
  EXPECT_NE(failed.error().detail.find("reading streams/" + std::string("order-0.evs at offset 0")),
            std::string::npos)
      << failed.error().detail;
}

TEST(migrate_v1_reader, refuses_a_store_of_format_2_naming_the_version_it_found) {
  std::vector<v1_event> want;
  disk_image files = closed_store(want);
  files["store.json"] = R"({"format":"evstore","version":2})";
  auto fs = disk_of(files, dir);
  auto r = v1_reader::open(*fs, dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::format_mismatch);
  EXPECT_NE(r.error().detail.find("format version 2"), std::string::npos) << r.error().detail;
}

TEST(migrate_v1_reader, refuses_a_damaged_or_missing_store_json_saying_what_it_found) {
  std::vector<v1_event> want;
  disk_image files = closed_store(want);
  files["store.json"] = "{\"format\":\"evst\x01";
  auto fs = disk_of(files, dir);
  auto r = v1_reader::open(*fs, dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::corrupt_data);
  EXPECT_NE(r.error().detail.find(R"(found "{"format":"evst\x01")"), std::string::npos) << r.error().detail;

  files.erase("store.json");
  auto missing = v1_reader::open(*disk_of(files, dir), dir);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::invalid_argument);
  EXPECT_NE(missing.error().detail.find("no store.json"), std::string::npos) << missing.error().detail;
}

// The fixtures themselves: a cut or damaged archive, or expectations that do
// not match its stores, are refused with the file (and offset), never read
// as a smaller store.
TEST(migrate_v1_fixture, refuses_a_cut_or_mismatched_fixture_naming_the_file) {
  const v1::fixture& closed = fixture("closed");
  const std::string archive = v1::to_archive(closed.stores);
  const std::string json = v1::to_json(closed.expected);
  auto whole = v1::parse_fixture("closed", archive, json);
  ASSERT_TRUE(whole) << whole.error().message();
  EXPECT_EQ(whole->stores, closed.stores);
  ASSERT_EQ(whole->expected.at("closed").events, closed.expected.at("closed").events);

  auto cut = v1::parse_fixture("closed", archive.substr(0, archive.size() - 1), json);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, errc::corrupt_data);
  EXPECT_NE(cut.error().detail.find("closed.v1img at offset "), std::string::npos) << cut.error().detail;

  auto not_an_archive = v1::parse_fixture("closed", "PK\x03\x04", json);
  ASSERT_FALSE(not_an_archive);
  EXPECT_NE(not_an_archive.error().detail.find("closed.v1img at offset 0"), std::string::npos)
      << not_an_archive.error().detail;

  auto bad_json = v1::parse_fixture("closed", archive, json.substr(0, json.size() / 2));
  ASSERT_FALSE(bad_json);
  EXPECT_EQ(bad_json.error().code, errc::corrupt_data);
  EXPECT_NE(bad_json.error().detail.find("closed.json"), std::string::npos) << bad_json.error().detail;

  auto other_store =
      v1::parse_fixture("closed", archive, v1::to_json({{"other", closed.expected.at("closed")}}));
  ASSERT_FALSE(other_store);
  EXPECT_NE(other_store.error().detail.find("no store closed"), std::string::npos)
      << other_store.error().detail;
}

// ---------------------------------------------------------------------------
// After a crash at any write, the reader ends $all where the engine's own
// recovery did and returns what the recovered store read. GetParam():
// fsync_on_flush. The fixtures hold a sample of crash points of 30 rounds of
// appends to 3 streams at once (checkpoint interval 8), power lost or not
// (tests/data/v1/README.md). No crash state holds a commit cut in $all, so
// the process crashes of a buffered store are also read with the last $all
// entry cut, as recovery read them.

class v1_reader_after_a_crash : public ::testing::TestWithParam<bool> {};

// Reads the store `files` whole and compares it with `recovered`, the events
// the format-1 recovery read from it (no commit fields); returns how many.
std::size_t expect_as_recovered(const disk_image& files, const std::vector<v1_event>& recovered) {
  auto fs = disk_of(files, dir);
  auto r = v1_reader::open(*fs, dir);
  EXPECT_TRUE(r) << r.error().message();
  if (!r) return 0;
  EXPECT_EQ(r->event_count(), recovered.size()) << r->left_out().reason;
  std::vector<v1_event> got = read_all(*r, 6);
  EXPECT_EQ(got.size(), recovered.size());
  for (std::size_t i = 0; i < std::min(got.size(), recovered.size()); ++i) {
    EXPECT_EQ(without_commit_fields(got[i]), recovered[i]) << "position " << i;
    EXPECT_EQ(got[i].commit_end, got[i].position + 1 == got[i].commit_first_position + got[i].commit_count);
  }
  if (!got.empty()) {
    EXPECT_TRUE(got.back().commit_end) << "appends are all or nothing";
  }
  EXPECT_EQ(image_of(*fs, dir), files) << "reading must not change the source store";
  return got.size();
}

// The store `files` is damage to recovery: the reader refuses it at open or
// when it reaches the damage, as corrupt_data.
void expect_refused(const disk_image& files) {
  auto fs = disk_of(files, dir);
  auto r = v1_reader::open(*fs, dir);
  if (!r) {
    EXPECT_EQ(r.error().code, errc::corrupt_data) << r.error().message();
    return;
  }
  std::vector<v1_event> out;
  for (;;) {
    auto n = r->next(out, 6);
    if (!n) {
      EXPECT_EQ(n.error().code, errc::corrupt_data) << n.error().message();
      return;
    }
    if (*n == 0) break;
  }
  ADD_FAILURE() << "read " << out.size() << " events of a store recovery could not read";
}

TEST_P(v1_reader_after_a_crash, ends_all_where_recovery_does_and_returns_what_the_recovered_store_reads) {
  const v1::fixture& crashes = fixture(GetParam() ? "crash_durable" : "crash_buffered");
  std::size_t compared = 0;
  std::size_t with_events = 0;
  std::size_t cut = 0;
  std::size_t cut_commits = 0;  // the cut left an append without its last event
  for (const auto& [state, files] : crashes.stores) {
    SCOPED_TRACE(state);
    const store_expectation& recovered = crashes.expected.at(state);
    ASSERT_FALSE(recovered.has_commit_fields);
    if (expect_as_recovered(files, recovered.events) > 0) ++with_events;
    ++compared;

    const auto damaged = recovered.damaged.find("cut_last_all_entry");
    if (damaged == recovered.damaged.end()) continue;
    SCOPED_TRACE("the last $all entry cut");
    disk_image cut_files = files;
    v1::cut_last_all_entry(cut_files);
    const v1::recovery_outcome& recovery = damaged->second;
    if (!recovery.opens || !recovery.error.empty()) {
      expect_refused(cut_files);
      continue;
    }
    ASSERT_LE(recovery.event_count, recovered.events.size());
    expect_as_recovered(cut_files, first(recovered.events, recovery.event_count));
    ++cut;
    if (recovery.event_count + 1 < recovered.events.size()) ++cut_commits;
  }
  EXPECT_GE(compared, 30u);
  EXPECT_GE(with_events, 10u) << "crash states with events to compare";
  if (!GetParam()) {
    EXPECT_GE(cut, 10u);
    EXPECT_GE(cut_commits, 3u) << "states whose cut leaves an append without its last event";
  }
}

INSTANTIATE_TEST_SUITE_P(migrate, v1_reader_after_a_crash, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "durable" : "buffered";
                         });

}  // namespace
