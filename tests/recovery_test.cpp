// Torn tails are cut back to the last complete append; damage anywhere else is
// reported as corrupt_data with the file and offset, never returned as data.
#include "format/format.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <span>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";

struct memory_store_test : ::testing::Test {
  std::shared_ptr<memory_file_system> fs = std::make_shared<memory_file_system>();
  io_thread io;

  result<store> open() { return store::open(io.executor(), {.directory = dir, .file_system = fs}); }

  // Three appends to "s" (1, 3 and 2 events) plus one to "t"; returns the
  // partition size before the last append to "s".
  std::size_t build() {
    auto s = open();
    EXPECT_TRUE(s);
    EXPECT_FALSE(append_wait(*s, "s", make_events(1)).ec);
    EXPECT_FALSE(append_wait(*s, "t", make_events(2)).ec);
    EXPECT_FALSE(append_wait(*s, "s", make_events(3)).ec);
    const std::size_t before = fs->contents("/store/streams/s.evs").size();
    EXPECT_FALSE(append_wait(*s, "s", make_events(2)).ec);
    EXPECT_FALSE(close_wait(*s));
    return before;
  }

  // A crash before the next checkpoint: recovery must then check the tail.
  void forget_checkpoint() { EXPECT_FALSE(fs->remove("/store/index/checkpoint")); }

  void flip_bit(const std::string& path, std::size_t offset, int bit = 0) {
    std::string bytes = fs->contents(path);
    ASSERT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ (1 << bit));
    fs->set_contents(path, bytes);
  }
};

}  // namespace

TEST_F(memory_store_test, torn_partition_tail_is_cut_to_last_complete_append_at_every_offset) {
  const std::size_t before = build();
  const std::string full = fs->contents("/store/streams/s.evs");
  const std::string all_full = fs->contents("/store/index/$all.idx");
  const std::string idx_full = fs->contents("/store/index/s.idx");
  for (std::size_t cut = before; cut < full.size(); ++cut) {
    fs->set_contents("/store/streams/s.evs", full.substr(0, cut));
    fs->set_contents("/store/index/$all.idx", all_full);
    fs->set_contents("/store/index/s.idx", idx_full);
    forget_checkpoint();
    auto s = open();
    ASSERT_TRUE(s) << "cut " << cut << ": " << s.error().message();
    EXPECT_EQ(s->event_count(), 6u) << "cut " << cut;
    auto page = s->read("s");
    ASSERT_TRUE(page) << "cut " << cut << ": " << page.error().message();
    EXPECT_EQ(page->events.size(), 4u) << "cut " << cut;
    ASSERT_TRUE(s->read("$all"));
    // The store goes on from the cut: the next append takes the freed versions.
    auto r = append_wait(*s, "s", make_events(1), expect::exactly(3));
    ASSERT_FALSE(r.ec) << "cut " << cut << ": " << r.ec.message();
    EXPECT_EQ(r.result.position, 6u);
    EXPECT_FALSE(close_wait(*s));
  }
}

// Counts and the next append cannot see bytes left past the committed end
// (the next append overwrites some of them); the file sizes can. After
// recovery every file ends where its committed part ends: stale records and
// index entries of the cut append must not outlive it (a later, shorter
// append would leave them behind its own, and `verify` and backups copy them).
TEST_F(memory_store_test, recovery_cuts_partition_index_and_all_to_their_committed_ends) {
  const std::size_t before = build();
  const std::string full = fs->contents("/store/streams/s.evs");
  const std::string all_full = fs->contents("/store/index/$all.idx");
  const std::string idx_full = fs->contents("/store/index/s.idx");
  const std::size_t t_size = fs->contents("/store/streams/t.evs").size();
  const std::size_t t_idx_size = fs->contents("/store/index/t.idx").size();
  // Cut inside the last append (2 events) of "s", keeping its index and $all entries.
  for (std::size_t cut = before; cut < full.size(); ++cut) {
    fs->set_contents("/store/streams/s.evs", full.substr(0, cut));
    fs->set_contents("/store/index/$all.idx", all_full);
    fs->set_contents("/store/index/s.idx", idx_full);
    forget_checkpoint();
    auto s = open();
    ASSERT_TRUE(s) << "cut " << cut << ": " << s.error().message();
    ASSERT_EQ(s->event_count(), 6u) << "cut " << cut;
    EXPECT_EQ(fs->contents("/store/streams/s.evs").size(), before) << "cut " << cut << ": partition of s";
    EXPECT_EQ(fs->contents("/store/index/s.idx").size(),
              format::file_header_size + 4 * format::stream_entry_size)
        << "cut " << cut << ": index of s";
    EXPECT_EQ(fs->contents("/store/index/$all.idx").size(),
              format::file_header_size + 6 * format::all_entry_size)
        << "cut " << cut << ": $all";
    // A stream the cut append did not touch keeps its files as they were.
    EXPECT_EQ(fs->contents("/store/streams/t.evs").size(), t_size) << "cut " << cut;
    EXPECT_EQ(fs->contents("/store/index/t.idx").size(), t_idx_size) << "cut " << cut;
    EXPECT_FALSE(close_wait(*s));
    if (HasFailure()) return;
  }
}

TEST_F(memory_store_test, torn_all_index_tail_is_cut_to_last_complete_append_at_every_offset) {
  build();
  const std::string all_full = fs->contents("/store/index/$all.idx");
  const std::string part_full = fs->contents("/store/streams/s.evs");
  const std::size_t last_append_at = format::file_header_size + 6 * format::all_entry_size;
  for (std::size_t cut = last_append_at; cut < all_full.size(); ++cut) {
    fs->set_contents("/store/index/$all.idx", all_full.substr(0, cut));
    fs->set_contents("/store/streams/s.evs", part_full);
    forget_checkpoint();
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->event_count(), 6u) << "cut " << cut;
    auto page = s->read("s");
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_EQ(page->events.size(), 4u) << "cut " << cut;
    EXPECT_FALSE(close_wait(*s));
  }
}

// $all after the checkpoint is trusted only where each entry matches the
// record it points at, position and version included: an entry with a valid
// checksum that repeats another (a misdirected or replayed write) or names the
// wrong version ends the log there, as a torn entry does.
TEST_F(memory_store_test, recovery_ends_the_log_at_a_checksum_valid_all_entry_that_is_not_its_record) {
  build();
  std::map<std::string, std::string> built;
  for (const auto& path : fs->files()) built[path] = fs->contents(path);
  const std::string all_path = "/store/index/$all.idx";
  const std::string all_full = fs->contents(all_path);
  const std::size_t entry7 = format::file_header_size + 7 * format::all_entry_size;
  ASSERT_EQ(all_full.size(), entry7 + format::all_entry_size);
  const auto as_bytes = [](const std::string& s, std::size_t at) {
    return std::span(reinterpret_cast<const std::byte*>(s.data()) + at, format::all_entry_size);
  };
  const auto last = format::decode_all_entry(as_bytes(all_full, entry7));
  ASSERT_TRUE(last);

  // Entry 8 repeats entry 7: it points at the record of position 7.
  fs->set_contents(all_path, all_full + all_full.substr(entry7));
  forget_checkpoint();
  {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->event_count(), 8u) << "a repeated entry was taken for position 8";
    auto r = append_wait(*s, "t", make_events(1));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.result.position, 8u);
    auto all = s->read("$all");
    ASSERT_TRUE(all) << all.error().message();
    EXPECT_EQ(all->events.size(), 9u);
    EXPECT_FALSE(close_wait(*s));
  }

  // Entry 7 names version 4 of "s" where its record is version 5: the last
  // append (versions 4 and 5) is then incomplete and cut as a whole.
  for (const auto& [path, bytes] : built) fs->set_contents(path, bytes);
  auto forged = *last;
  forged.version += 1;
  std::string all = all_full;
  std::array<std::byte, format::all_entry_size> entry{};
  format::encode_all_entry(forged, entry);
  all.replace(entry7, entry.size(), reinterpret_cast<const char*>(entry.data()), entry.size());
  fs->set_contents(all_path, all);
  forget_checkpoint();
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 6u);
  auto page = s->read("s");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 4u);
}

TEST_F(memory_store_test, lost_stream_index_entries_are_rebuilt_from_all) {
  build();
  // Drop the stream index entries of the last append: the flush writes them last.
  std::string idx = fs->contents("/store/index/s.idx");
  idx.resize(format::file_header_size + 4 * format::stream_entry_size);
  fs->set_contents("/store/index/s.idx", idx);
  forget_checkpoint();
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  auto page = s->read("s");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 6u);
  EXPECT_EQ(s->event_count(), 8u);
}

TEST_F(memory_store_test, garbage_after_the_last_record_is_ignored) {
  build();
  std::string part = fs->contents("/store/streams/s.evs");
  fs->set_contents("/store/streams/s.evs", part + std::string(4096, '\0') + "garbage");
  std::string all = fs->contents("/store/index/$all.idx");
  fs->set_contents("/store/index/$all.idx", all + std::string(100, '\x5a'));
  forget_checkpoint();
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 8u);
  EXPECT_EQ(s->read("s")->events.size(), 6u);
}

class record_corruption : public memory_store_test, public ::testing::WithParamInterface<std::size_t> {};

// A bit flip in the length, the CRC or the payload of a record in the middle of
// a partition: refused with the file and the record's offset.
TEST_P(record_corruption, bit_flip_in_middle_record_is_detected_and_never_returned) {
  build();
  // The second record of "s" (version 1) starts after the header and the first record.
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t first_size =
      format::get_u32(reinterpret_cast<const std::byte*>(part.data()) + format::file_header_size);
  const std::size_t record_at = format::file_header_size + first_size;
  flip_bit("/store/streams/s.evs", record_at + GetParam(), 3);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  auto page = s->read("s");
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code, errc::corrupt_data);
  EXPECT_NE(page.error().detail.find("streams/s.evs at offset " + std::to_string(record_at)),
            std::string::npos)
      << page.error().detail;
  auto all = s->read("$all");
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, errc::corrupt_data);
  // Undamaged ranges are still served.
  auto first = s->read("s", {.from = 0, .max_count = 1});
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->events.size(), 1u);
  EXPECT_EQ(s->read("t")->events.size(), 2u);
  // Iteration stops with the error rather than yielding damaged bytes.
  std::size_t seen = 0;
  auto range = s->events("s");
  for (const auto& e : range) {
    (void)e;
    ++seen;
  }
  ASSERT_TRUE(range.error().has_value());
  EXPECT_EQ(range.error()->code, errc::corrupt_data);
}

// Offsets into the record: length (0), crc (4), position (16), type byte (80), data byte (90).
INSTANTIATE_TEST_SUITE_P(fields, record_corruption, ::testing::Values(0u, 1u, 4u, 7u, 16u, 80u, 90u));

TEST_F(memory_store_test, damaged_stream_index_entry_is_reported) {
  build();
  flip_bit("/store/index/s.idx", format::file_header_size + format::stream_entry_size + 2);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  auto page = s->read("s", {.from = 1});
  // Either the damaged entry ends the index (lazy load) or reading it is refused;
  // in neither case are wrong bytes returned as version 1.
  if (page) {
    for (const auto& e : page->events) EXPECT_NE(e.version, 1u);
  } else {
    EXPECT_EQ(page.error().code, errc::corrupt_data);
  }
}

// An index entry can be wrong with a valid checksum: a misdirected write, or
// a sector of another file's bytes. Each record read through an entry must be
// the one the entry is for (its version and position), never a neighbour.
TEST_F(memory_store_test, a_checksum_valid_index_entry_pointing_at_another_record_is_corrupt_data) {
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "u", make_events(8)).ec);
  ASSERT_EQ(s->read("u")->events.size(), 8u);  // loaded: reads now go through the index

  // Entry 3 copied over entry 2: both checksums are valid, entries still increase.
  const std::string path = "/store/index/u.idx";
  std::string idx = fs->contents(path);
  const std::size_t entry2 = format::file_header_size + 2 * format::stream_entry_size;
  idx.replace(entry2, format::stream_entry_size,
              idx.substr(entry2 + format::stream_entry_size, format::stream_entry_size));
  fs->set_contents(path, idx);

  const auto refused = [&](const read_options& o, const char* what) {
    auto page = s->read("u", o);
    if (page) {
      std::string versions;
      for (const auto& e : page->events) versions += std::to_string(e.version) + " ";
      ADD_FAILURE() << what << ": served versions " << versions;
      return;
    }
    EXPECT_EQ(page.error().code, errc::corrupt_data) << what << ": " << page.error().message();
  };
  refused({.from = 2, .max_count = 1}, "forward from 2, one event");
  refused({.from = 2, .max_count = 1, .direction = direction::backward}, "backward from 2, one event");
  refused({.from = 2, .direction = direction::backward}, "backward from 2");
  refused({}, "the whole stream");
  // What the damage does not touch is still served: versions 3.. and $all.
  auto rest = s->read("u", {.from = 3});
  ASSERT_TRUE(rest) << rest.error().message();
  ASSERT_EQ(rest->events.size(), 5u);
  EXPECT_EQ(rest->events.front().version, 3u);
  auto all = s->read("$all");
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->events.size(), 8u);
  EXPECT_FALSE(close_wait(*s));
}

TEST_F(memory_store_test, damaged_all_entry_before_checkpoint_is_reported) {
  build();
  flip_bit("/store/index/$all.idx", format::file_header_size + 2 * format::all_entry_size + 9);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  auto all = s->read("$all");
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, errc::corrupt_data);
  EXPECT_NE(all.error().detail.find("$all.idx at offset " +
                                    std::to_string(format::file_header_size + 2 * format::all_entry_size)),
            std::string::npos)
      << all.error().detail;
}

TEST_F(memory_store_test, catalog_shorter_than_checkpoint_refuses_to_open) {
  build();
  std::string catalog = fs->contents("/store/index/catalog");
  catalog.resize(format::file_header_size + 5);  // the second stream's record is gone
  fs->set_contents("/store/index/catalog", catalog);
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().detail.find("index/catalog"), std::string::npos) << s.error().detail;
}

TEST_F(memory_store_test, unknown_format_version_is_refused) {
  build();
  fs->set_contents("/store/store.json", "{\"format\":\"evstore\",\"version\":99}\n");
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::format_mismatch);
}

TEST_F(memory_store_test, open_reads_no_events) {
  // Opening a store with many events touches the catalog, checkpoint and $all
  // tail only: a corrupted middle record goes unnoticed until it is read.
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(append_wait(*s, "m", make_events(50)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  flip_bit("/store/streams/m.evs", format::file_header_size + 100);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 1000u);
  EXPECT_FALSE(s->read("m"));
}

TEST_F(memory_store_test, verify_reports_exactly_the_damaged_record_and_a_clean_store_is_clean) {
  build();
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto report = verify_store(*s);
    EXPECT_TRUE(report.clean()) << report.damage.front().message();
    EXPECT_EQ(report.events_checked, 8u);
    EXPECT_EQ(report.streams_checked, 2u);
    ASSERT_FALSE(close_wait(*s));
  }
  const std::string part = fs->contents("/store/streams/s.evs");
  const std::size_t first_size =
      format::get_u32(reinterpret_cast<const std::byte*>(part.data()) + format::file_header_size);
  flip_bit("/store/streams/s.evs", format::file_header_size + first_size + 85);
  auto s = open();
  ASSERT_TRUE(s);
  auto report = verify_store(*s);
  ASSERT_FALSE(report.clean());
  // Found through $all and through the stream: the same record, one report.
  ASSERT_EQ(report.damage.size(), 2u);
  for (const auto& d : report.damage) {
    EXPECT_EQ(d.code, errc::corrupt_data);
    EXPECT_NE(
        d.detail.find("streams/s.evs at offset " + std::to_string(format::file_header_size + first_size)),
        std::string::npos)
        << d.detail;
  }
  EXPECT_EQ(report.events_checked, 7u);
}

// --- Catalog: a torn tail is cut, damage before a valid record is refused

TEST_F(memory_store_test, torn_catalog_tail_is_cut) {
  build();
  const std::string catalog = fs->contents("/store/index/catalog");
  fs->set_contents("/store/index/catalog", catalog + "\x17torn record");
  forget_checkpoint();
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 8u);
  EXPECT_EQ(fs->contents("/store/index/catalog"), catalog);
}

TEST_F(memory_store_test, damaged_catalog_record_before_a_valid_one_refuses_to_open_and_cuts_nothing) {
  build();
  forget_checkpoint();  // so that the checkpoint's stream count does not catch it first
  // The first record (stream "s"): a flipped bit in its name; "t" follows intact.
  flip_bit("/store/index/catalog", format::file_header_size + 24);
  const std::string catalog = fs->contents("/store/index/catalog");
  const std::string all = fs->contents("/store/index/$all.idx");
  auto s = open();
  ASSERT_FALSE(s) << "opened with " << s->event_count() << " events";
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().detail.find("index/catalog at offset 256"), std::string::npos) << s.error().detail;
  EXPECT_EQ(fs->contents("/store/index/catalog"), catalog) << "acknowledged streams cut";
  EXPECT_EQ(fs->contents("/store/index/$all.idx"), all) << "acknowledged events cut";
}

// --- Files of the streams recovery cuts

TEST_F(memory_store_test, recovery_removes_the_files_of_streams_it_cuts) {
  build();
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(append_wait(*s, "u", make_events(2)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  // A crash before u's $all entries reached the disk: its catalog record and
  // its files are there, its events are not committed.
  std::string all = fs->contents("/store/index/$all.idx");
  all.resize(format::file_header_size + 8 * format::all_entry_size);
  fs->set_contents("/store/index/$all.idx", all);
  forget_checkpoint();
  ASSERT_TRUE(fs->exists("/store/streams/u.evs"));
  {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->stream_count(), 2u);
    EXPECT_FALSE(fs->exists("/store/streams/u.evs")) << "stale partition of a cut stream";
    EXPECT_FALSE(fs->exists("/store/index/u.idx")) << "stale index of a cut stream";
    // A new stream takes the cut stream's id.
    ASSERT_FALSE(append_wait(*s, "v", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  // Repair, which trusts partitions, finds nothing of u to bring back.
  auto r = repair_store(dir, {.file_system = fs});
  ASSERT_TRUE(r) << r.error().message();
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 9u);
  EXPECT_FALSE(s->stream_version("u").value()) << "a cut stream came back";
  EXPECT_EQ(s->read("v")->events.size(), 1u);
}

// --- Followers over a head the writer is rewriting

TEST_F(memory_store_test, follower_opens_over_a_torn_or_missing_head) {
  build();
  const std::string head = fs->contents("/store/index/head");
  ASSERT_EQ(head.size(), format::head_size);
  std::string garbled = head;
  garbled[10] = static_cast<char>(garbled[10] ^ 0x40);
  for (const std::string& torn :
       {head.substr(0, 7), head.substr(0, 20), garbled, std::string(), std::string(24, '\0')}) {
    fs->set_contents("/store/index/head", torn);
    auto f =
        store::open(io.executor(), {.directory = dir, .read_only = true, .file_system = fs, .follow = false});
    ASSERT_TRUE(f) << "head of " << torn.size() << " bytes: " << f.error().message();
    EXPECT_EQ(f->event_count(), 8u);
    auto r = f->refresh();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, 8u);
  }
  ASSERT_FALSE(fs->remove("/store/index/head"));
  auto f =
      store::open(io.executor(), {.directory = dir, .read_only = true, .file_system = fs, .follow = false});
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->event_count(), 8u);
}

// --- The record format's size limit

TEST(event_size, max_event_bytes_beyond_the_record_format_is_refused_at_open) {
  io_thread io;
  auto fs = std::make_shared<memory_file_system>();
  auto s = store::open(
      io.executor(), {.directory = dir, .file_system = fs, .max_event_bytes = format::max_event_payload + 1});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_argument);
  EXPECT_NE(s.error().detail.find("max_event_bytes"), std::string::npos) << s.error().detail;
  EXPECT_TRUE(fs->files().empty()) << "a refused open wrote";
  auto at_limit = store::open(
      io.executor(), {.directory = dir, .file_system = fs, .max_event_bytes = format::max_event_payload});
  ASSERT_TRUE(at_limit) << at_limit.error().message();
  (void)close_wait(*at_limit);
}

// The largest event survives a crash; one whose *encoded* record would pass
// the limit (empty data is stored as `null`) is refused and writes nothing.
TEST(event_size, event_at_the_record_limit_survives_a_crash_and_one_past_it_is_refused) {
  temp_dir tmp;
  io_thread io;
  auto faulty = std::make_shared<fault_injecting_file_system>(posix_file_system());
  const store_options options{.directory = tmp.path(),
                              .file_system = faulty,
                              .system_streams = false,
                              .max_event_bytes = format::max_event_payload};
  {
    auto s = store::open(io.executor(), options);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "a", {make_event("Small")}).ec);
    event_data over = make_event("T", "");
    over.metadata =
        "\"" + std::string(format::max_event_payload - 3, 'm') + "\"";  // type + metadata = the limit
    const std::uint64_t ops = faulty->operation_count();
    EXPECT_EQ(append_wait(*s, "over", {std::move(over)}).ec, errc::invalid_event);
    EXPECT_EQ(faulty->operation_count(), ops) << "a refused append wrote";
    const std::string big =
        "\"" + std::string(format::max_event_payload - 3, 'x') + "\"";  // "T" + big = the limit
    ASSERT_FALSE(append_wait(*s, "big", {make_event("T", big)}).ec);
    ASSERT_FALSE(append_wait(*s, "a", {make_event("Small")}).ec);
    auto page = s->read("big");
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_EQ(page->events.at(0).data.size(), big.size());
    faulty->crash_after(0);  // kill -9 after the acks: no checkpoint at close
    (void)close_wait(*s);
  }
  auto s = store::open(
      io.executor(),
      {.directory = tmp.path(), .system_streams = false, .max_event_bytes = format::max_event_payload});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 3u) << "acknowledged events lost by recovery";
  EXPECT_EQ(s->read("a")->events.size(), 2u);
  (void)close_wait(*s);
}
