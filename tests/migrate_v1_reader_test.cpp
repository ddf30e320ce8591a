// The format-1 reader of `evstore migrate` (engine/src/migrate/v1_reader.hpp)
// on stores the format-1 engine writes: it returns what the store reads, in
// $all order with every field, through the journal of a store that was not
// closed, without writing a byte; it leaves a torn tail out and says so, and
// refuses damage, failed reads and stores of another format with the file and
// offset.
#include "format/format.hpp"
#include "migrate/v1_reader.hpp"
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;
using evstore::detail::migrate::v1_event;
using evstore::detail::migrate::v1_reader;
namespace format = evstore::detail::format;

namespace {

const std::string dir = "/s";
// 200 upper-case bytes encode to 600 ("%4C" each): a file name split into nested directories.
const std::string long_name = std::string(199, 'L') + "1";

using snapshot = std::map<std::string, std::string>;

snapshot files_of(const memory_file_system& fs) {
  snapshot out;
  for (const std::string& p : fs.files()) out[p] = fs.contents(p);
  return out;
}

std::shared_ptr<memory_file_system> disk_of(const snapshot& files) {
  auto fs = std::make_shared<memory_file_system>();
  for (const auto& [path, bytes] : files) fs->set_contents(path, bytes);
  return fs;
}

boost::system::error_code create_read_stream_wait(store& s, const std::string& name, filter f) {
  auto done = std::make_shared<std::promise<boost::system::error_code>>();
  s.create_read_stream(name, std::move(f), [done](boost::system::error_code ec) { done->set_value(ec); });
  auto fut = done->get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

// The fields the engine's reads show (commit fields are not among them).
v1_event without_commit_fields(v1_event e) {
  e.commit_first_position = 0;
  e.commit_count = 0;
  e.commit_end = false;
  return e;
}
v1_event without_commit_fields(const recorded_event& e) {
  return {std::string(e.stream),
          e.version,
          e.position,
          e.committed_at,
          e.id,
          std::string(e.type),
          std::string(e.data),
          std::string(e.metadata)};
}

// The events a test appended, as the reader must return them: $all as the
// store reads it, plus the commit fields the appends' results give.
class expected_events {
 public:
  void append(store& s, const std::string& stream, std::vector<event_data> events) {
    auto r = append_wait(s, stream, std::move(events));
    ASSERT_FALSE(r.ec) << r.ec.message();
    commits_.push_back({r.result.first_position, r.result.position});
  }

  std::vector<v1_event> read(const store& s) const {
    auto page = s.read("$all");
    EXPECT_TRUE(page) << page.error().message();
    std::vector<v1_event> out;
    for (const recorded_event& e : page->events) {
      v1_event ev = without_commit_fields(e);
      for (const auto& [first, last] : commits_) {
        if (e.position < first || e.position > last) continue;
        ev.commit_first_position = first;
        ev.commit_count = static_cast<std::uint32_t>(last - first + 1);
        ev.commit_end = e.position == last;
      }
      out.push_back(std::move(ev));
    }
    return out;
  }

 private:
  std::vector<std::pair<std::uint64_t, std::uint64_t>> commits_;
};

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

// A mix of streams and events: interleaved appends, commits of several
// events, ids and metadata or none, empty data, a very long stream name.
void append_mix(store& s, expected_events& expected, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    const std::string n = std::to_string(i);
    expected.append(
        s, "order-" + std::to_string(i % 5),
        {event_data{"Placed", R"({"n":)" + n + "}", R"({"by":"test"})", random_id()},
         event_data{"Paid", R"({"total":12.5})", {}, {}}, event_data{"Shipped", "", {}, random_id()}});
    expected.append(s, "Cart-" + std::to_string(i % 3), {make_event("Added", R"({"sku":")" + n + "\"}")});
    if (i % 4 == 0) expected.append(s, long_name, {event_data{"Long", "", R"({"m":1})", {}}});
  }
}

// A durable store whose last flushes are only in the journal: the data files
// hold what the last checkpoint covers, the journal the rest.
struct crashed_store {
  snapshot files;
  std::vector<v1_event> expected;
};

crashed_store crash_with_flushes_in_the_journal() {
  crashed_store out;
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  const store_options options{.directory = dir, .fsync_on_flush = true, .file_system = mem};
  expected_events expected;
  {
    auto s = store::open(io.executor(), options);
    EXPECT_TRUE(s) << s.error().message();
    append_mix(*s, expected, 4);
    EXPECT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), options);
  EXPECT_TRUE(s) << s.error().message();
  append_mix(*s, expected, 6);
  expected.append(*s, "new-after-checkpoint", make_events(3));
  out.expected = expected.read(*s);
  mem->power_loss(power_loss_mode::synced_only, 1);
  out.files = files_of(*mem);
  return out;
}

std::uint64_t all_entries_in(const snapshot& files) {
  return (files.at(dir + "/index/$all.idx").size() - format::file_header_size) / format::all_entry_size;
}

format::all_entry all_entry_of(const snapshot& files, std::uint64_t position) {
  const std::string& bytes = files.at(dir + "/index/$all.idx");
  auto e = format::decode_all_entry(
      std::as_bytes(std::span(bytes))
          .subspan(format::file_header_size + position * format::all_entry_size, format::all_entry_size));
  EXPECT_TRUE(e);
  return e.value_or(format::all_entry{});
}

// The files of a closed buffered store with `expected` events.
snapshot closed_store(std::vector<v1_event>& expected, store_options options = {}) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  options.directory = dir;
  options.file_system = mem;
  auto s = store::open(io.executor(), options);
  EXPECT_TRUE(s) << s.error().message();
  expected_events ex;
  append_mix(*s, ex, 6);
  expected = ex.read(*s);
  EXPECT_FALSE(close_wait(*s));
  return files_of(*mem);
}

TEST(migrate_v1_reader, returns_every_event_of_all_with_every_field_as_the_store_reads_it) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  // A small checkpoint interval: open scans the entries past the last checkpoint.
  const store_options options{.directory = dir, .file_system = mem, .checkpoint_interval = 16};
  expected_events expected;
  std::vector<v1_event> want;
  {
    auto s = store::open(io.executor(), options);
    ASSERT_TRUE(s) << s.error().message();
    append_mix(*s, expected, 10);
    for (int i = 0; i < 20; ++i) expected.append(*s, "bulk", make_events(10));
    ASSERT_FALSE(create_read_stream_wait(*s, "paid", filter::event_types({"Paid"}).where("/total", "12.5")));
    {
      auto c = s->consumer("order-1", "billing");
      ASSERT_TRUE(c) << c.error().message();
      ASSERT_FALSE(commit_wait(*c, 4, R"({"seen":4})"));
    }
    want = expected.read(*s);
    ASSERT_FALSE(close_wait(*s));
  }
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](const v1_event& e) { return e.stream == long_name; }));
  ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](const v1_event& e) { return e.data == "null"; }));

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
  EXPECT_EQ((*defs)[0].name, "paid");
  EXPECT_EQ(filter::from_json((*defs)[0].filter_json).value(),
            filter::event_types({"Paid"}).where("/total", "12.5"));
  EXPECT_NE((*defs)[0].filter_json.find("12.5"), std::string::npos) << "the value keeps its spelling";
  EXPECT_TRUE((*defs)[0].built);
  auto consumers = r->consumers();
  ASSERT_TRUE(consumers) << consumers.error().message();
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].stream, "order-1");
  EXPECT_EQ((*consumers)[0].name, "billing");
  EXPECT_EQ((*consumers)[0].position, 4u);
  EXPECT_EQ((*consumers)[0].state, R"({"seen":4})");
}

TEST(migrate_v1_reader, reads_runs_of_contiguous_records_with_one_read_each) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  expected_events expected;
  {
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 50; ++i) expected.append(*s, "bulk", make_events(20));
    ASSERT_FALSE(close_wait(*s));
  }
  fault_injecting_file_system counting(mem);
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
}

TEST(migrate_v1_reader,
     reads_a_durable_store_through_the_journal_frames_past_its_checkpoint_and_writes_nothing) {
  const crashed_store crashed = crash_with_flushes_in_the_journal();
  // The data files lack the last flushes: only the journal holds them.
  ASSERT_LT(all_entries_in(crashed.files), crashed.expected.size());
  auto fs = disk_of(crashed.files);
  {
    auto r = v1_reader::open(*fs, dir);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->event_count(), crashed.expected.size());
    EXPECT_EQ(r->left_out().events, 0u) << r->left_out().reason;
    expect_same(read_all(*r, 13), crashed.expected);
    auto consumers = r->consumers();
    ASSERT_TRUE(consumers);
    EXPECT_TRUE(consumers->empty());
  }
  EXPECT_EQ(files_of(*fs), crashed.files) << "reading must not change the source store";

  // And the engine's own recovery agrees with what the reader returned.
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir, .fsync_on_flush = true, .file_system = fs});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), crashed.expected.size());
}

// The files of a buffered store as a process crash leaves them (no close,
// no checkpoint past its open) after a mix of appends and a last append of
// `last_events` events to stream "last".
snapshot crashed_buffered_store(std::size_t last_events, std::vector<v1_event>& expected) {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  expected_events ex;
  auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
  EXPECT_TRUE(s) << s.error().message();
  append_mix(*s, ex, 3);
  ex.append(*s, "last", make_events(last_events));
  expected = ex.read(*s);
  return files_of(*mem);
}

TEST(migrate_v1_reader, leaves_out_a_commit_cut_in_the_middle_and_says_how_many_events_and_why) {
  std::vector<v1_event> all;
  snapshot files = crashed_buffered_store(3, all);
  // The process died while the last append's $all entries were written: its
  // commit-end entry never reached the file.
  std::string& index = files.at(dir + "/index/$all.idx");
  index.resize(index.size() - format::all_entry_size);
  auto fs = disk_of(files);

  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->event_count(), all.size() - 3);
  EXPECT_EQ(r->left_out().events, 2u);
  EXPECT_NE(r->left_out().reason.find("append whose last event is missing or damaged"), std::string::npos)
      << r->left_out().reason;
  expect_same(read_all(*r, 5), std::vector<v1_event>(all.begin(), all.end() - 3));
}

TEST(migrate_v1_reader, leaves_out_a_torn_last_record_and_names_where_it_is) {
  std::vector<v1_event> all;
  snapshot files = crashed_buffered_store(2, all);
  // The last record was written only in part.
  const format::all_entry last = all_entry_of(files, all.size() - 1);
  std::string& partition = files.at(dir + "/streams/last.evs");
  partition.resize(last.offset + last.size / 2);
  auto fs = disk_of(files);

  auto r = v1_reader::open(*fs, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->event_count(), all.size() - 2);
  EXPECT_EQ(r->left_out().events, 2u);
  EXPECT_NE(r->left_out().reason.find("streams/last.evs at offset " + std::to_string(last.offset)),
            std::string::npos)
      << r->left_out().reason;
  expect_same(read_all(*r, 1000), std::vector<v1_event>(all.begin(), all.end() - 2));
}

TEST(migrate_v1_reader, refuses_a_damaged_catalog_record_before_an_acknowledged_stream_as_recovery_does) {
  std::vector<v1_event> all;
  snapshot files = crashed_buffered_store(1, all);
  // No checkpoint covers these streams, but the published head does: damage
  // to the second catalog record is no torn tail.
  std::string& catalog = files.at(dir + "/index/catalog");
  const std::size_t second = format::file_header_size + format::catalog_record_size(all[0].stream.size());
  catalog[second + format::catalog_record_header_size] ^= 0x20;

  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir, .file_system = disk_of(files)});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  auto r = v1_reader::open(*disk_of(files), dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::corrupt_data);
  EXPECT_NE(r.error().detail.find("index/catalog at offset " + std::to_string(second)), std::string::npos)
      << r.error().detail;
}

TEST(migrate_v1_reader, refuses_a_damaged_record_that_all_covers_naming_the_file_and_offset) {
  std::vector<v1_event> want;
  snapshot files = closed_store(want);
  const std::uint64_t damaged = want.size() / 2;
  ASSERT_EQ(want[damaged].stream.rfind("order-", 0), 0u);
  const format::all_entry e = all_entry_of(files, damaged);
  const std::string partition = "streams/order-" + want[damaged].stream.substr(6) + ".evs";
  files.at(dir + "/" + partition)[e.offset + format::record_header_size + 1] ^= 0x20;
  auto fs = disk_of(files);

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
  auto mem = disk_of(closed_store(want));
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
  auto mem = disk_of(closed_store(want));
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
  snapshot files = closed_store(want);
  files[dir + "/store.json"] = R"({"format":"evstore","version":2})";
  auto fs = disk_of(files);
  auto r = v1_reader::open(*fs, dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::format_mismatch);
  EXPECT_NE(r.error().detail.find("format version 2"), std::string::npos) << r.error().detail;
}

TEST(migrate_v1_reader, refuses_a_damaged_or_missing_store_json_saying_what_it_found) {
  std::vector<v1_event> want;
  snapshot files = closed_store(want);
  files[dir + "/store.json"] = "{\"format\":\"evst\x01";
  auto fs = disk_of(files);
  auto r = v1_reader::open(*fs, dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::corrupt_data);
  EXPECT_NE(r.error().detail.find(R"(found "{"format":"evst\x01")"), std::string::npos) << r.error().detail;

  files.erase(dir + "/store.json");
  auto missing = v1_reader::open(*disk_of(files), dir);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::invalid_argument);
  EXPECT_NE(missing.error().detail.find("no store.json"), std::string::npos) << missing.error().detail;
}

// ---------------------------------------------------------------------------
// After a crash at any write, the reader ends $all where the engine's own
// recovery does and returns what the recovered store reads. GetParam():
// fsync_on_flush.

class v1_reader_after_a_crash : public ::testing::TestWithParam<bool> {};

// Appends to three streams at once (one flush, group commit, when they land in
// one tick) until the file system fails them all or `rounds` are done.
void append_until_the_crash(store& s, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::future<boost::system::error_code>> done;
    for (const std::string& stream : {"order-" + std::to_string(round % 2), "new-" + std::to_string(round),
                                      round % 3 == 0 ? long_name : std::string("cart")}) {
      auto p = std::make_shared<std::promise<boost::system::error_code>>();
      done.push_back(p->get_future());
      s.append(stream,
               {event_data{"A", R"({"r":)" + std::to_string(round) + "}", R"({"m":1})", random_id()},
                event_data{"B", "", {}, {}}},
               expect::any, [p](boost::system::error_code ec, const append_result&) { p->set_value(ec); });
    }
    bool failed = false;
    for (auto& f : done) {
      if (f.wait_for(10s) != std::future_status::ready || f.get()) failed = true;
    }
    if (failed) return;
  }
}

TEST_P(v1_reader_after_a_crash, ends_all_where_recovery_does_and_returns_what_the_recovered_store_reads) {
  int compared = 0;
  for (std::uint64_t crash_at = 2; crash_at < 400; crash_at += 9) {
    for (const power_loss_mode mode : {power_loss_mode::random_prefix, power_loss_mode::torn_bytes}) {
      SCOPED_TRACE("crash after " + std::to_string(crash_at) + " writes, power-loss mode " +
                   std::to_string(static_cast<int>(mode)));
      auto mem = std::make_shared<memory_file_system>();
      {
        auto faulty = std::make_shared<fault_injecting_file_system>(mem);
        io_thread io;
        auto s = store::open(io.executor(), {.directory = dir,
                                             .fsync_on_flush = GetParam(),
                                             .file_system = faulty,
                                             .checkpoint_interval = 8});
        ASSERT_TRUE(s) << s.error().message();
        faulty->crash_after(crash_at);
        append_until_the_crash(*s, 30);
      }
      mem->power_loss(mode, crash_at);
      const snapshot files = files_of(*mem);

      io_thread io;
      auto recovered = store::open(io.executor(), {.directory = dir, .file_system = disk_of(files)});
      if (!recovered) continue;  // a state recovery refuses: nothing to compare with
      auto page = recovered->read("$all");
      ASSERT_TRUE(page) << page.error().message();
      auto fs = disk_of(files);
      auto r = v1_reader::open(*fs, dir);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(r->event_count(), page->events.size()) << r->left_out().reason;
      std::vector<v1_event> got = read_all(*r, 6);
      ASSERT_EQ(got.size(), page->events.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(without_commit_fields(got[i]), without_commit_fields(page->events[i])) << "position " << i;
        EXPECT_EQ(got[i].commit_end,
                  got[i].position + 1 == got[i].commit_first_position + got[i].commit_count);
      }
      if (!got.empty()) {
        EXPECT_TRUE(got.back().commit_end) << "appends are all or nothing";
      }
      EXPECT_EQ(files_of(*fs), files) << "reading must not change the source store";
      ++compared;
    }
  }
  EXPECT_GT(compared, 60);
}

INSTANTIATE_TEST_SUITE_P(migrate, v1_reader_after_a_crash, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "durable" : "buffered";
                         });

}  // namespace
