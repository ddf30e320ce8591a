// Torn tails of the partition logs are cut back to the last complete append;
// what is derived from the logs ($all's entries, the stream index) is rebuilt
// past the checkpoint; damage anywhere else is reported as corrupt_data with
// the file and offset, never returned as data.
#include "format/format.hpp"
#include "index/index_run_reader.hpp"
#include "index/index_run_writer.hpp"
#include "index/stream_key.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <span>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";
constexpr const char* log0 = "/store/log/p000-00000000.evs";
constexpr const char* all_idx = "/store/index/all.idx";

using snapshot = std::map<std::string, std::string>;

struct memory_store_test : ::testing::Test {
  std::shared_ptr<memory_file_system> fs = std::make_shared<memory_file_system>();
  io_thread io;

  result<store> open() { return store::open(io.executor(), {.directory = dir, .file_system = fs}); }

  snapshot take() const {
    snapshot s;
    for (const auto& path : fs->files()) s[path] = fs->contents(path);
    return s;
  }
  // The files as `s` holds them, and no other: a process killed at that moment.
  void restore(const snapshot& s) {
    fs = std::make_shared<memory_file_system>();
    for (const auto& [path, bytes] : s) fs->set_contents(path, bytes);
  }

  // Four appends: "s" 1 event, "t" 2, "s" 3, "s" 2 (positions 0..7), taken
  // as the disk holds them while the writer runs, before any checkpoint past
  // the empty store's. Returns the log's size before the last append.
  std::size_t build(snapshot& crashed) {
    auto s = open();
    EXPECT_TRUE(s);
    EXPECT_FALSE(append_wait(*s, "s", make_events(1)).ec);
    EXPECT_FALSE(append_wait(*s, "t", make_events(2)).ec);
    EXPECT_FALSE(append_wait(*s, "s", make_events(3)).ec);
    const std::size_t before = fs->contents(log0).size();
    EXPECT_FALSE(append_wait(*s, "s", make_events(2)).ec);
    crashed = take();
    EXPECT_FALSE(close_wait(*s));
    return before;
  }

  void flip_bit(const std::string& path, std::size_t offset, int bit = 0) {
    std::string bytes = fs->contents(path);
    ASSERT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ (1 << bit));
    fs->set_contents(path, bytes);
  }
};

}  // namespace

TEST_F(memory_store_test, torn_log_tail_is_cut_to_the_last_complete_append_at_every_offset) {
  snapshot crashed;
  const std::size_t before = build(crashed);
  const std::string full = crashed.at(log0);
  ASSERT_GT(full.size(), before);
  // Cut anywhere in the last append's bytes. Cutting only zero bytes at its
  // very end (the high bytes of the trailing length) leaves it whole: the
  // scan reads missing bytes as zeros, and recovery writes them back.
  const std::size_t last_non_zero = full.find_last_not_of('\0');
  ASSERT_LT(last_non_zero, full.size() - 1);
  for (std::size_t cut = before; cut <= last_non_zero; ++cut) {
    snapshot torn = crashed;
    torn[log0] = full.substr(0, cut);
    restore(torn);
    auto s = open();
    ASSERT_TRUE(s) << "cut " << cut << ": " << s.error().message();
    EXPECT_EQ(s->event_count(), 6u) << "cut " << cut;
    auto page = s->read("s");
    ASSERT_TRUE(page) << "cut " << cut << ": " << page.error().message();
    EXPECT_EQ(page->events.size(), 4u) << "cut " << cut;
    ASSERT_TRUE(s->read("$all"));
    // $all ends where the logs' committed part ends, and nothing of the cut
    // append is left in the log past it.
    EXPECT_EQ(fs->contents(all_idx).size(), 6 * format::all_entry2_size) << "cut " << cut;
    const std::string after = fs->contents(log0);
    EXPECT_EQ(after.find_first_not_of('\0', before), std::string::npos) << "cut " << cut;
    // The store goes on from the cut: the next append takes the freed versions.
    auto r = append_wait(*s, "s", make_events(1), expect::exactly(3));
    ASSERT_FALSE(r.ec) << "cut " << cut << ": " << r.ec.message();
    EXPECT_EQ(r.result.position, 6u);
    EXPECT_FALSE(close_wait(*s));
    if (HasFailure()) return;
  }
}

// $all's entries and the stream index are derived from the logs: past the
// checkpoint a crash may have lost any of them, and recovery rebuilds them
// from the records, which carry their stream, version and position.
TEST_F(memory_store_test, all_entries_lost_past_the_checkpoint_are_rebuilt_from_the_logs) {
  snapshot crashed;
  build(crashed);
  const std::string all_full = crashed.at(all_idx);
  ASSERT_EQ(all_full.size(), 8 * format::all_entry2_size);
  for (std::size_t cut = 0; cut <= all_full.size(); cut += 5) {
    snapshot torn = crashed;
    torn[all_idx] = all_full.substr(0, cut) + std::string(cut % 3 == 0 ? 7 : 0, '\x5a');
    restore(torn);
    auto s = open();
    ASSERT_TRUE(s) << "cut " << cut << ": " << s.error().message();
    EXPECT_EQ(s->event_count(), 8u) << "cut " << cut;
    EXPECT_EQ(fs->contents(all_idx), all_full) << "cut " << cut;
    auto page = s->read("s");
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_EQ(page->events.size(), 6u);
    auto all = s->read("$all");
    ASSERT_TRUE(all) << all.error().message();
    EXPECT_EQ(all->events.size(), 8u);
    EXPECT_FALSE(close_wait(*s));
    if (HasFailure()) return;
  }
}

// A read trusts the stream index only as far as the record agrees: an entry
// that points at another stream's record (a bug, or a run damaged under a
// valid checksum) is corrupt_data naming the record, never that record
// served as this stream's event.
TEST_F(memory_store_test, a_stream_index_entry_pointing_at_another_streams_record_is_corrupt_data) {
  {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "s", make_events(1)).ec);
    ASSERT_FALSE(append_wait(*s, "t", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  std::string run_path;
  for (const auto& path : fs->files()) {
    if (path.find("/index/run-") != std::string::npos) run_path = path;
  }
  ASSERT_FALSE(run_path.empty()) << "close wrote no run of the stream index";
  auto run = evstore::detail::index_run_reader::open(*fs, run_path);
  ASSERT_TRUE(run) << run.error().message();
  const auto header = (*run)->header();
  ASSERT_EQ(header.end_position, 2u);
  run->reset();
  // The same run with the two streams' positions swapped: "s" at 1, "t" at 0.
  std::vector<std::pair<std::string, std::uint64_t>> swapped{{"s", 1}, {"t", 0}};
  std::sort(swapped.begin(), swapped.end(), [](const auto& a, const auto& b) {
    return evstore::detail::stream_key_view{evstore::detail::stream_hash(a.first), a.first, 0} <
           evstore::detail::stream_key_view{evstore::detail::stream_hash(b.first), b.first, 0};
  });
  auto w = evstore::detail::index_run_writer::create(*fs, run_path, header);
  ASSERT_TRUE(w) << w.error().message();
  for (const auto& [name, position] : swapped) {
    const std::uint64_t at[] = {position};
    ASSERT_TRUE(w->add(evstore::detail::stream_hash(name), name, 0, at));
  }
  ASSERT_TRUE(w->finish());

  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  for (const char* stream : {"s", "t"}) {
    auto page = s->read(stream);
    ASSERT_FALSE(page) << stream << " served another stream's record";
    EXPECT_EQ(page.error().code, errc::corrupt_data);
    EXPECT_NE(page.error().message().find("record does not match the stream index"), std::string::npos)
        << page.error().message();
  }
  auto all = s->read("$all");
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->events.size(), 2u);
  EXPECT_EQ(all->events[0].stream, "s");
  EXPECT_EQ(all->events[1].stream, "t");
  EXPECT_FALSE(close_wait(*s));
}

TEST_F(memory_store_test, garbage_after_the_last_record_is_cut) {
  snapshot crashed;
  build(crashed);
  crashed[log0] += std::string(4096, '\0') + "garbage";
  restore(crashed);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 8u);
  EXPECT_EQ(s->read("s")->events.size(), 6u);
  EXPECT_EQ(fs->contents(log0).find("garbage"), std::string::npos);
}

// A record of the tail whose position does not follow (a misdirected write
// of an earlier record) ends the log there, as a torn record does.
TEST_F(memory_store_test, a_tail_record_out_of_position_ends_the_log) {
  snapshot crashed;
  const std::size_t before = build(crashed);
  const std::string full = crashed.at(log0);
  // The last append's two records replaced by a copy of the first record of
  // the log (position 0), which is valid by itself.
  const std::size_t first = format::file_header_size;
  std::uint32_t size = 0;
  ASSERT_EQ(format::check_record_framing(std::as_bytes(std::span(full)).subspan(first), size),
            format::decode_status::ok);
  crashed[log0] = full.substr(0, before) + full.substr(first, size);
  restore(crashed);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 6u);
  EXPECT_EQ(s->read("s")->events.size(), 4u);
}

class record_corruption : public memory_store_test, public ::testing::WithParamInterface<std::size_t> {};

// Below the checkpoint nothing is scanned at open: a damaged record is found
// when read, reported with its file and offset, and never returned.
TEST_P(record_corruption, bit_flip_below_the_checkpoint_is_detected_and_never_returned) {
  snapshot crashed;
  build(crashed);  // closed: the close wrote a checkpoint covering all 8 events
  const std::string full = fs->contents(log0);
  // The second record of the log (version 0 of "t").
  std::uint32_t size0 = 0;
  ASSERT_EQ(
      format::check_record_framing(std::as_bytes(std::span(full)).subspan(format::file_header_size), size0),
      format::decode_status::ok);
  const std::size_t at = format::file_header_size + size0 + GetParam();
  flip_bit(log0, at, static_cast<int>(GetParam() % 8));
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 8u);
  auto t = s->read("t");
  ASSERT_FALSE(t) << "a damaged record was returned";
  EXPECT_EQ(t.error().code, errc::corrupt_data);
  EXPECT_NE(t.error().detail.find("p000-00000000.evs"), std::string::npos) << t.error().detail;
  auto all = s->read("$all");
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, errc::corrupt_data);
  // The other stream reads.
  auto page = s->read("s");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 6u);
}

INSTANTIATE_TEST_SUITE_P(offsets, record_corruption, ::testing::Values(0, 5, 17, 40, 70, 90, 100));

TEST_F(memory_store_test, damaged_all_entry_below_the_checkpoint_is_reported) {
  snapshot crashed;
  build(crashed);
  flip_bit(all_idx, 3 * format::all_entry2_size + 2);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  auto all = s->read("$all");
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, errc::corrupt_data);
  EXPECT_NE(all.error().detail.find("all.idx"), std::string::npos) << all.error().detail;
}

TEST_F(memory_store_test, a_log_shorter_than_its_checkpointed_end_refuses_to_open) {
  snapshot crashed;
  build(crashed);
  const std::string full = fs->contents(log0);
  fs->set_contents(log0, full.substr(0, full.size() - 10));
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().detail.find("p000-00000000.evs"), std::string::npos) << s.error().detail;
}

TEST_F(memory_store_test, all_index_shorter_than_the_checkpoint_refuses_to_open) {
  snapshot crashed;
  build(crashed);
  fs->set_contents(all_idx, fs->contents(all_idx).substr(0, 5 * format::all_entry2_size));
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().detail.find("all.idx"), std::string::npos) << s.error().detail;
}

TEST_F(memory_store_test, unknown_format_version_is_refused) {
  snapshot crashed;
  build(crashed);
  fs->set_contents("/store/store.json", "{\"format\":\"evstore\",\"version\":99}\n");
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::format_mismatch);
}

TEST_F(memory_store_test, a_format_1_store_is_refused_naming_the_migration) {
  fs->set_contents("/store/store.json", "{\"format\":\"evstore\",\"version\":1}\n");
  auto s = open();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::format_mismatch);
  EXPECT_NE(s.error().detail.find("evstore migrate"), std::string::npos) << s.error().detail;
  EXPECT_EQ(fs->files().size(), 2u) << "a refused open wrote (store.json and the lock only)";
}

TEST_F(memory_store_test, open_reads_no_events) {
  // Opening a store with many events touches the checkpoint, the logs past it
  // and the index's footers only: a damaged middle record goes unnoticed
  // until it is read.
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(append_wait(*s, "m", make_events(50)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  flip_bit(log0, format::file_header_size + 100);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 1000u);
  EXPECT_FALSE(s->read("m"));
}

TEST_F(memory_store_test, the_stream_index_is_rebuilt_past_its_runs_after_a_crash) {
  // A checkpoint every 4 events writes runs; the crash leaves events past the
  // last one, which open adds again from the logs.
  snapshot crashed;
  {
    auto s = store::open(io.executor(), {.directory = dir, .file_system = fs, .checkpoint_interval = 4});
    ASSERT_TRUE(s);
    for (int i = 0; i < 10; ++i) {
      ASSERT_FALSE(append_wait(*s, "s" + std::to_string(i % 3), make_events(1 + i % 2)).ec);
    }
    crashed = take();
    ASSERT_FALSE(close_wait(*s));
  }
  restore(crashed);
  auto s = open();
  ASSERT_TRUE(s) << s.error().message();
  std::uint64_t total = 0;
  for (int k = 0; k < 3; ++k) {
    auto page = s->read("s" + std::to_string(k));
    ASSERT_TRUE(page) << page.error().message();
    for (std::size_t v = 0; v < page->events.size(); ++v) EXPECT_EQ(page->events[v].version, v);
    total += page->events.size();
  }
  EXPECT_EQ(total, s->event_count());
  EXPECT_EQ(total, 15u);
  EXPECT_EQ(s->stream_count(), 3u);
}

TEST_F(memory_store_test, follower_opens_over_a_torn_or_missing_head) {
  snapshot crashed;
  build(crashed);
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
  // The longest stream name takes the record to the format's limit.
  const std::string big_name = std::string(format::max_record_name, 'b');
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
    const auto big_append = append_wait(*s, big_name, {make_event("T", big)});
    ASSERT_FALSE(big_append.ec) << big_append.ec.message() << ": " << big_append.result.detail;
    ASSERT_FALSE(append_wait(*s, "a", {make_event("Small")}).ec);
    auto page = s->read(big_name);
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
  EXPECT_EQ(s->read(big_name)->events.at(0).data.size(), format::max_event_payload - 1);
  (void)close_wait(*s);
}
