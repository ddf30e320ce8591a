// The format v2 partition log (engine/src/log/): segment files of a fixed size,
// a write buffer flushed per segment, reads by locator, the recovery scan that
// tells a clean end, a torn tail and damage apart, and truncation. Runs on the
// in-memory disk (power loss) and the fault-injecting wrapper (I/O errors).
// One file over 500 lines on purpose: the cases share the record maker, the
// counting file system and the scan helper, and read as one contract.
#include "format/format.hpp"
#include "io/file_cache.hpp"
#include "log/log_layout.hpp"
#include "log/partition_reader.hpp"
#include "log/partition_scan.hpp"
#include "log/partition_truncate.hpp"
#include "log/partition_writer.hpp"
#include "log/segment_file.hpp"
#include "support/forwarding_file_system.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace evstore;
using namespace evstore::detail;
using namespace evstore::testing;

namespace {

constexpr std::uint64_t small_segment = 64 * 1024;
const log_geometry geometry{small_segment};
const std::string dir = "/s";
using record_bytes = std::vector<std::byte>;

// A framed event record of exactly `size` bytes (>= record_overhead + 1).
record_bytes make_record(std::mt19937_64& rng, std::size_t size) {
  std::string data(size - format::record_overhead - 1, '\0');
  for (char& c : data) c = static_cast<char>('a' + rng() % 26);
  format::record_fields f;
  f.type = "t";
  f.data = data;
  f.position = rng();
  record_bytes out(size);
  format::encode_record(f, out);
  return out;
}

std::size_t random_size(std::mt19937_64& rng, std::size_t max = 4000) {
  return format::record_overhead + 1 + rng() % (max - format::record_overhead);
}

std::unique_ptr<partition_writer> open_writer(std::shared_ptr<file_system> fs, std::uint64_t end,
                                              std::uint64_t window = default_unsynced_window,
                                              log_geometry g = geometry) {
  auto w = partition_writer::open(
      {.fs = std::move(fs), .directory = dir, .geometry = g, .unsynced_window = window}, end);
  EXPECT_TRUE(w) << w.error().message();
  return w ? std::move(*w) : nullptr;
}

struct scanned {
  log_scan scan;
  std::vector<log_locator> at;
  std::vector<record_bytes> records;
};

result<scanned> scan(file_system& fs, std::uint64_t from = 0, std::uint64_t window = default_unsynced_window,
                     log_geometry g = geometry) {
  scanned out;
  auto r = scan_partition_tail(fs, dir, 0, g, from,
                               [&](log_locator at, format::bytes record) {
                                 out.at.push_back(at);
                                 out.records.emplace_back(record.begin(), record.end());
                               },
                               {.unsynced_window = window});
  if (!r) return r.error();
  out.scan = *r;
  return out;
}

std::string seg(std::uint64_t s) { return dir + "/log/" + segment_name(0, s); }

// Overwrites bytes of a file of the memory disk (durably), as damage would.
void poke(memory_file_system& mem, const std::string& path, std::uint64_t at, const std::string& bytes) {
  std::string c = mem.contents(path);
  ASSERT_LE(at + bytes.size(), c.size());
  c.replace(at, bytes.size(), bytes);
  mem.set_contents(path, c);
}

// Counts allocate(), write and sync calls: what a flush and a roll-over cost.
struct io_counts {
  std::atomic<int> allocations{0};
  std::atomic<int> writes{0};
  std::atomic<int> syncs{0};
};

class counting_file final : public file {
 public:
  counting_file(std::unique_ptr<file> base, io_counts& counts) : base_(std::move(base)), counts_(counts) {}
  boost::system::result<std::size_t> read_at(std::uint64_t o, std::span<std::byte> b) override {
    return base_->read_at(o, b);
  }
  error_code write_at(std::uint64_t o, const_buffer_span b) override {
    ++counts_.writes;
    return base_->write_at(o, b);
  }
  error_code write_gather(std::uint64_t o, std::span<const const_buffer_span> b) override {
    ++counts_.writes;
    return base_->write_gather(o, b);
  }
  error_code sync() override {
    ++counts_.syncs;
    return base_->sync();
  }
  boost::system::result<std::uint64_t> size() override { return base_->size(); }
  error_code truncate(std::uint64_t s) override { return base_->truncate(s); }
  error_code allocate(std::uint64_t s) override {
    ++counts_.allocations;
    return base_->allocate(s);
  }

 private:
  std::unique_ptr<file> base_;
  io_counts& counts_;
};

// Counts the writes, syncs and allocations of the files it opens; every
// other call goes straight through (forwarding_file_system).
class counting_file_system final : public test::forwarding_file_system {
 public:
  using test::forwarding_file_system::forwarding_file_system;
  boost::system::result<std::unique_ptr<file>> open(const std::string& p, open_mode m) override {
    auto f = base_->open(p, m);
    if (!f) return f.error();
    return std::unique_ptr<file>(std::make_unique<counting_file>(std::move(*f), counts));
  }

  io_counts counts;
};

const error_code eio(EIO, boost::system::system_category());

}  // namespace

TEST(partition_log, segment_names_parse_back_and_list_per_partition_in_order) {
  EXPECT_EQ(segment_name(7, 42), "p007-00000042.evs");
  EXPECT_EQ(segment_path("/s", 0, 3), "/s/log/p000-00000003.evs");
  const auto id = parse_segment_name("p999-99999999.evs");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (segment_id{999, 99999999}));
  for (const char* bad : {"p07-00000042.evs", "p007-0000042.evs", "p007-00000042.evx", "q007-00000042.evs",
                          "p0a7-00000042.evs", "p007_00000042.evs", "p007-00000042.evs.tmp"}) {
    EXPECT_FALSE(parse_segment_name(bad)) << bad;
  }
  auto mem = std::make_shared<memory_file_system>();
  for (const auto& [p, s] : {std::pair{0, 10}, {0, 2}, {1, 0}, {0, 9}}) {
    ASSERT_TRUE(
        create_segment(*mem, dir, static_cast<std::uint16_t>(p), static_cast<std::uint64_t>(s), geometry));
  }
  mem->set_contents(dir + "/log/notes.txt", "x");
  auto listed = list_segments(*mem, dir, 0);
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed, (std::vector<std::uint64_t>{2, 9, 10}));
  auto none = list_segments(*mem, "/elsewhere", 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "no log directory is an empty log";
}

TEST(partition_log,
     a_segment_header_names_its_partition_number_and_size_and_other_kinds_keep_reserved_zeros) {
  auto mem = std::make_shared<memory_file_system>();
  ASSERT_TRUE(create_segment(*mem, dir, 5, 17, geometry));
  const std::string c = mem->contents(dir + "/log/p005-00000017.evs");
  ASSERT_EQ(c.size(), small_segment) << "created at its full size";
  const format::bytes b(reinterpret_cast<const std::byte*>(c.data()), c.size());
  const auto h = format::decode_file_header(b, format::file_kind::segment);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->stream_id, 5u);
  EXPECT_EQ(h->segment, 17u);
  EXPECT_EQ(h->segment_size, small_segment);
  EXPECT_TRUE(format::all_zero(b.subspan(format::file_header_size))) << "zeros after the header";
  EXPECT_FALSE(format::decode_file_header(b, format::file_kind::partition)) << "its own magic";
  // A partition header with the segment fields set is not a form the format makes.
  std::array<std::byte, format::file_header_size> other{};
  format::encode_file_header({.kind = format::file_kind::partition, .name = "x", .segment = 1}, other);
  EXPECT_FALSE(format::decode_file_header(other, format::file_kind::partition));
  format::encode_file_header({.kind = format::file_kind::partition, .name = "x"}, other);
  EXPECT_TRUE(format::decode_file_header(other, format::file_kind::partition));
}

TEST(partition_log, records_of_random_sizes_across_many_segments_read_back_and_rescan_identically) {
  auto mem = std::make_shared<memory_file_system>();
  std::mt19937_64 rng(7);
  std::vector<record_bytes> records;
  std::vector<log_locator> at;
  std::uint64_t end = 0;
  {
    auto w = open_writer(mem, 0);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->end(), format::segment_records_start) << "an empty log ends at the first record's offset";
    for (int i = 0; i < 2000; ++i) {
      records.push_back(make_record(rng, random_size(rng)));
      auto l = w->append(records.back());
      ASSERT_TRUE(l) << l.error().message();
      at.push_back(*l);
      if (rng() % 10 == 0) {
        ASSERT_TRUE(w->flush(rng() % 2 == 0));
      }
      if (w->should_prepare_next()) {
        ASSERT_TRUE(w->prepare_next());
      }
    }
    ASSERT_TRUE(w->flush(true));
    end = w->end();
    EXPECT_EQ(w->synced_end(), end);
  }
  ASSERT_GT(geometry.segment_of(end), 30u) << "the records span many segments";
  for (std::size_t i = 1; i < at.size(); ++i) {
    const bool same_segment = geometry.segment_of(at[i].offset) == geometry.segment_of(at[i - 1].offset);
    EXPECT_EQ(at[i].offset, same_segment ? at[i - 1].offset + records[i - 1].size()
                                         : geometry.records_start(geometry.segment_of(at[i - 1].offset) + 1));
  }
  const partition_reader reader(std::make_shared<file_cache>(mem, false, 8), dir, geometry);
  for (std::size_t i = 0; i < records.size(); ++i) {
    record_bytes got(records[i].size());
    ASSERT_TRUE(reader.read_record(at[i], got)) << i;
    ASSERT_EQ(got, records[i]) << i;
  }
  auto s = scan(*mem);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->scan.how, log_end_kind::clean) << s->scan.detail;
  EXPECT_EQ(s->scan.end, end);
  EXPECT_EQ(s->records, records);
  EXPECT_EQ(s->at, at);
  for (const std::string& p : mem->files()) EXPECT_EQ(mem->contents(p).size(), small_segment) << p;
  // A scan from a later record boundary (a checkpoint's) sees the rest.
  auto from_middle = scan(*mem, at[1000].offset);
  ASSERT_TRUE(from_middle);
  EXPECT_EQ(from_middle->records.size(), 1000u);
  EXPECT_EQ(from_middle->scan.end, end);
}

TEST(partition_log, large_segments_scan_back_whole_records_across_the_scans_read_pieces) {
  // The scan reads 1 MiB at a time: records of up to 300 KiB straddle those pieces.
  auto mem = std::make_shared<memory_file_system>();
  const log_geometry g{std::uint64_t{3} << 20};
  std::mt19937_64 rng(21);
  std::vector<record_bytes> records;
  std::vector<log_locator> at;
  auto w = open_writer(mem, 0, default_unsynced_window, g);
  ASSERT_TRUE(w);
  while (g.segment_of(w->end()) < 2) {
    records.push_back(make_record(rng, random_size(rng, rng() % 3 == 0 ? 300'000 : 3000)));
    at.push_back(w->append(records.back()).value());
  }
  ASSERT_TRUE(w->flush(true));
  auto s = scan(*mem, 0, default_unsynced_window, g);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->records, records);
  EXPECT_EQ(s->at, at);
  EXPECT_EQ(s->scan.how, log_end_kind::clean);
  EXPECT_EQ(s->scan.end, w->end());
  // A record torn in the middle of segment 1 ends the log there.
  std::size_t k = 0;
  while (k < at.size() && (g.segment_of(at[k].offset) != 1 || g.in_segment(at[k].offset) < (1u << 20))) ++k;
  ASSERT_LT(k + 1, at.size());
  const std::string path = dir + "/log/" + segment_name(0, 1);
  poke(*mem, path, g.in_segment(at[k].offset) + records[k].size() - 2, std::string(2, '\x7f'));
  auto torn = scan(*mem, 0, unlimited_window, g);
  ASSERT_TRUE(torn) << torn.error().message();
  EXPECT_EQ(torn->scan.how, log_end_kind::torn);
  EXPECT_EQ(torn->scan.end, at[k].offset);
  EXPECT_EQ(torn->records.size(), k);
  auto damaged = scan(*mem, 0, 4096, g);
  ASSERT_FALSE(damaged) << "valid records follow beyond the window";
  EXPECT_EQ(damaged.error().code, errc::corrupt_data);
}

TEST(partition_log, a_record_that_does_not_fit_starts_the_next_segment_and_the_rest_stays_zero) {
  auto mem = std::make_shared<memory_file_system>();
  const log_geometry g{8192};
  std::mt19937_64 rng(1);
  auto w = open_writer(mem, 0, default_unsynced_window, g);
  ASSERT_TRUE(w);
  const record_bytes r = make_record(rng, 3000);
  std::vector<std::uint64_t> offsets;
  offsets.reserve(5);
  for (int i = 0; i < 5; ++i) offsets.push_back(w->append(r).value().offset);
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{256, 3256, 8192 + 256, 8192 + 3256, 2 * 8192 + 256}));
  ASSERT_TRUE(w->flush(false));
  const std::string s0 = mem->contents(seg(0));
  EXPECT_EQ(s0.size(), 8192u);
  EXPECT_EQ(s0.find_first_not_of('\0', 6256), std::string::npos) << "the unused tail stays zero";
  EXPECT_EQ(mem->contents(seg(2)).size(), 8192u);
  // Bytes that would not scan back as a record would end the log there: refused.
  record_bytes damaged = make_record(rng, 300);
  damaged[150] ^= std::byte{1};
  EXPECT_EQ(w->append(damaged).error().code, errc::invalid_argument);
  EXPECT_EQ(w->append(format::bytes(r).first(200)).error().code, errc::invalid_argument)
      << "part of a record";
  const record_bytes too_big = make_record(rng, 8192 - 256 + 1);
  auto refused = w->append(too_big);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_argument);
  const record_bytes largest = make_record(rng, 8192 - 256);
  EXPECT_EQ(w->append(largest).value().offset, 3 * 8192 + 256) << "a record that fills a segment alone";
  EXPECT_EQ(w->append(r).value().offset, 4 * 8192 + 256);
  ASSERT_TRUE(w->flush(true));
  auto s = scan(*mem, 0, default_unsynced_window, g);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->records.size(), 7u);
  EXPECT_EQ(s->scan.end, w->end());
  EXPECT_EQ(s->scan.how, log_end_kind::clean);
}

TEST(partition_log, prepare_next_makes_the_roll_over_allocate_nothing) {
  for (const bool prepare : {true, false}) {
    auto counting = std::make_shared<counting_file_system>(std::make_shared<memory_file_system>());
    std::mt19937_64 rng(3);
    auto w = open_writer(counting, 0);
    ASSERT_TRUE(w);
    EXPECT_EQ(counting->counts.allocations, 1) << "the first segment";
    while (!w->should_prepare_next()) {
      ASSERT_TRUE(w->append(make_record(rng, 1000)));
      ASSERT_TRUE(w->flush(true));
    }
    EXPECT_GT(geometry.in_segment(w->end()), small_segment / 2);
    if (prepare) {
      ASSERT_TRUE(w->prepare_next());
      EXPECT_FALSE(w->should_prepare_next());
    }
    const int before = counting->counts.allocations;
    // One flush fills segment 0 and rolls over into segment 1.
    while (geometry.segment_of(w->end()) == 0) ASSERT_TRUE(w->append(make_record(rng, 1000)));
    ASSERT_TRUE(w->append(make_record(rng, 1000)));
    const int writes = counting->counts.writes;
    const int syncs = counting->counts.syncs;
    ASSERT_TRUE(w->flush(true));
    EXPECT_EQ(geometry.segment_of(w->written_end()), 1u);
    EXPECT_EQ(counting->counts.allocations - before, prepare ? 0 : 1) << "prepare " << prepare;
    // Without prepare, creating the segment writes its header and syncs it too.
    EXPECT_EQ(counting->counts.writes - writes, prepare ? 2 : 3) << "one write per segment touched";
    EXPECT_EQ(counting->counts.syncs - syncs, prepare ? 2 : 3) << "one sync per segment touched";
  }
}

TEST(partition_log, every_record_of_a_synced_flush_survives_power_loss) {
  for (const auto mode : {power_loss_mode::synced_only, power_loss_mode::random_prefix,
                          power_loss_mode::torn_sectors, power_loss_mode::torn_bytes}) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      auto mem = std::make_shared<memory_file_system>();
      auto faults = std::make_shared<fault_injecting_file_system>(mem);
      std::mt19937_64 rng(seed);
      std::vector<record_bytes> synced;
      {
        auto w = open_writer(faults, 0, 4096);
        ASSERT_TRUE(w);
        for (int i = 0; i < 60; ++i) {
          synced.push_back(make_record(rng, random_size(rng, 2000)));
          ASSERT_TRUE(w->append(synced.back()));
        }
        ASSERT_TRUE(w->flush(true));
        // The next synced flush is in flight (in pieces of the window) when the power goes.
        std::vector<record_bytes> in_flight;
        for (int i = 0; i < 10; ++i) {
          in_flight.push_back(make_record(rng, random_size(rng, 2000)));
          ASSERT_TRUE(w->append(in_flight.back()));
        }
        faults->crash_after(seed % 6);
        if (w->flush(true)) synced.insert(synced.end(), in_flight.begin(), in_flight.end());
      }
      mem->power_loss(mode, seed);
      auto s = scan(*mem, 0, 4096);
      ASSERT_TRUE(s) << s.error().message() << " mode " << static_cast<int>(mode) << " seed " << seed;
      ASSERT_GE(s->records.size(), synced.size());
      EXPECT_TRUE(std::equal(synced.begin(), synced.end(), s->records.begin()));
    }
  }
}

TEST(partition_log,
     after_power_loss_of_unsynced_flushes_the_scan_ends_at_a_record_boundary_never_a_torn_record) {
  for (const auto mode : {power_loss_mode::synced_only, power_loss_mode::random_prefix,
                          power_loss_mode::torn_sectors, power_loss_mode::torn_bytes}) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      auto mem = std::make_shared<memory_file_system>();
      std::mt19937_64 rng(seed);
      std::vector<record_bytes> written;
      std::vector<log_locator> at;
      std::size_t synced = 0;
      {
        auto w = open_writer(mem, 0);
        ASSERT_TRUE(w);
        for (int i = 0; i < 200; ++i) {
          written.push_back(make_record(rng, random_size(rng, 1500)));
          at.push_back(w->append(written.back()).value());
          if (i == 40) {
            ASSERT_TRUE(w->flush(true));
            synced = written.size();
          } else if (rng() % 8 == 0) {
            ASSERT_TRUE(w->flush(false));
          }
        }
        ASSERT_TRUE(w->flush(false));
      }
      mem->power_loss(mode, seed);
      // The owner flushed without sync: nothing past its last sync was promised.
      auto s = scan(*mem, 0, unlimited_window);
      ASSERT_TRUE(s) << s.error().message();
      const std::size_t n = s->records.size();
      ASSERT_GE(n, synced);
      ASSERT_LE(n, written.size());
      EXPECT_TRUE(std::equal(s->records.begin(), s->records.end(), written.begin()))
          << "a prefix, whole records";
      EXPECT_EQ(s->scan.end,
                n < at.size() && geometry.segment_of(at[n].offset) == geometry.segment_of(s->scan.end)
                    ? at[n].offset
                    : at[n - 1].offset + written[n - 1].size())
          << "mode " << static_cast<int>(mode) << " seed " << seed;
    }
  }
}

TEST(partition_log, a_torn_last_record_is_a_torn_tail_that_truncate_removes) {
  auto mem = std::make_shared<memory_file_system>();
  std::mt19937_64 rng(11);
  std::vector<log_locator> at;
  std::vector<record_bytes> records;
  {
    auto w = open_writer(mem, 0);
    for (int i = 0; i < 20; ++i) {
      records.push_back(make_record(rng, 500));
      at.push_back(w->append(records.back()).value());
    }
    ASSERT_TRUE(w->flush(true));
  }
  // The last record's second half never reached the disk.
  poke(*mem, seg(0), at.back().offset + 250, std::string(250, '\0'));
  auto s = scan(*mem);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->scan.how, log_end_kind::torn);
  EXPECT_EQ(s->scan.end, at.back().offset);
  EXPECT_EQ(s->records.size(), 19u);
  EXPECT_NE(s->scan.detail.find("torn record in log/p000-00000000.evs at offset " +
                                std::to_string(at.back().offset)),
            std::string::npos)
      << s->scan.detail;
  ASSERT_TRUE(truncate_partition(*mem, dir, 0, geometry, s->scan.end));
  EXPECT_EQ(mem->contents(seg(0)).find_first_not_of('\0', at.back().offset), std::string::npos);
  auto again = scan(*mem);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->scan.how, log_end_kind::clean);
  EXPECT_EQ(again->scan.end, at.back().offset);
  // The writer continues where the cut left the log.
  auto w = open_writer(mem, again->scan.end);
  const record_bytes next = make_record(rng, 700);
  EXPECT_EQ(w->append(next).value().offset, at.back().offset);
  ASSERT_TRUE(w->flush(true));
  auto after = scan(*mem);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->records.size(), 20u);
  EXPECT_EQ(after->records.back(), next);
}

TEST(partition_log, random_garbage_after_the_end_is_a_torn_tail_and_truncate_removes_later_segments) {
  auto mem = std::make_shared<memory_file_system>();
  std::mt19937_64 rng(12);
  std::uint64_t end = 0;
  {
    auto w = open_writer(mem, 0);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->append(make_record(rng, 300)));
    ASSERT_TRUE(w->flush(true));
    ASSERT_TRUE(w->prepare_next());
    end = w->end();
  }
  std::string garbage(3000, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  poke(*mem, seg(0), end, garbage);
  poke(*mem, seg(1), 256, garbage);  // junk in the prepared next segment too
  auto s = scan(*mem);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->scan.how, log_end_kind::torn);
  EXPECT_EQ(s->scan.end, end);
  EXPECT_EQ(s->records.size(), 10u);
  ASSERT_TRUE(truncate_partition(*mem, dir, 0, geometry, end));
  EXPECT_FALSE(mem->exists(seg(1))) << "later segments go";
  auto again = scan(*mem);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->scan.how, log_end_kind::clean);
  EXPECT_EQ(again->scan.end, end);
}

TEST(partition_log, a_flipped_byte_in_the_middle_with_valid_records_after_it_is_corrupt_data_not_a_cut) {
  auto mem = std::make_shared<memory_file_system>();
  std::mt19937_64 rng(13);
  std::vector<log_locator> at;
  {
    auto w = open_writer(mem, 0, 4096);
    for (int i = 0; i < 60; ++i) at.push_back(w->append(make_record(rng, 400)).value());
    ASSERT_TRUE(w->flush(true));
  }
  const std::string before = mem->contents(seg(0));
  poke(*mem, seg(0), at[5].offset + 100,
       std::string(1, static_cast<char>(before[at[5].offset + 100] ^ 0x10)));
  auto s = scan(*mem, 0, 4096);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().message().find("in log/p000-00000000.evs at offset " + std::to_string(at[5].offset)),
            std::string::npos)
      << s.error().message();
  EXPECT_EQ(mem->contents(seg(0)).size(), before.size()) << "nothing cut";
  // A zeroed sector in the middle is damage too, not a clean end.
  mem->set_contents(seg(0), before);
  poke(*mem, seg(0), 4096, std::string(512, '\0'));
  auto zeroed = scan(*mem, 0, 4096);
  ASSERT_FALSE(zeroed);
  EXPECT_EQ(zeroed.error().code, errc::corrupt_data);
  // Within the unsynced window of the end, damage looks like a torn flush and is cut as one.
  mem->set_contents(seg(0), before);
  poke(*mem, seg(0), at[57].offset + 100,
       std::string(1, static_cast<char>(before[at[57].offset + 100] ^ 0x10)));
  auto near_end = scan(*mem, 0, 4096);
  ASSERT_TRUE(near_end) << near_end.error().message();
  EXPECT_EQ(near_end->scan.how, log_end_kind::torn);
  EXPECT_EQ(near_end->scan.end, at[57].offset);
}

TEST(partition_log, write_and_sync_errors_are_sticky_and_name_the_segment) {
  for (const std::uint64_t failing : {1, 2}) {  // the write, then the sync of flush(true)
    auto faults = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
    std::mt19937_64 rng(4);
    auto w = open_writer(faults, 0);
    ASSERT_TRUE(w->append(make_record(rng, 200)));
    faults->fail_operation(failing, eio, false);
    auto flushed = w->flush(true);
    ASSERT_FALSE(flushed);
    EXPECT_EQ(flushed.error().code, eio);
    EXPECT_EQ(flushed.error().detail, std::string(failing == 1 ? "writing" : "syncing") +
                                          " log/p000-00000000.evs at offset " + (failing == 1 ? "256" : "0") +
                                          " (errno 5)");
    faults->clear_faults();
    auto appended = w->append(make_record(rng, 200));
    ASSERT_FALSE(appended);
    EXPECT_EQ(appended.error().detail, flushed.error().detail) << "the first error, again";
    EXPECT_EQ(w->flush(true).error().detail, flushed.error().detail);
    EXPECT_EQ(w->prepare_next().error().detail, flushed.error().detail);
  }
}

TEST(partition_log, read_errors_come_back_with_the_segment_and_offset) {
  auto mem = std::make_shared<memory_file_system>();
  auto faults = std::make_shared<fault_injecting_file_system>(mem);
  std::mt19937_64 rng(5);
  const record_bytes r = make_record(rng, 300);
  log_locator at;
  {
    auto w = open_writer(mem, 0);
    ASSERT_TRUE(w->append(r));
    at = w->append(r).value();
    ASSERT_TRUE(w->flush(true));
  }
  const partition_reader reader(std::make_shared<file_cache>(faults, false, 8), dir, geometry);
  record_bytes got(r.size());
  ASSERT_TRUE(reader.read_record(at, got));
  faults->fail_read(1, eio, false);
  auto failed = reader.read_record(at, got);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, eio);
  EXPECT_EQ(failed.error().detail, "reading log/p000-00000000.evs at offset 556 (errno 5)");
  ASSERT_TRUE(reader.read_record(at, got)) << "a read error is not sticky";
  auto missing = reader.read({0, geometry.records_start(3)}, got);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::corrupt_data);
  EXPECT_NE(missing.error().message().find("segment missing in log/p000-00000003.evs"), std::string::npos);
  auto misplaced = reader.read_record({0, at.offset + 1}, got);
  ASSERT_FALSE(misplaced);
  EXPECT_EQ(misplaced.error().code, errc::corrupt_data);
  faults->fail_read(1, eio, true);
  auto scanned = scan_partition_tail(*faults, dir, 0, geometry, 0, [](log_locator, format::bytes) {});
  ASSERT_FALSE(scanned);
  EXPECT_EQ(scanned.error().code, eio);
  EXPECT_NE(scanned.error().detail.find("log/p000-00000000.evs at offset 0"), std::string::npos)
      << scanned.error().detail;
}

// A seeded model check: appends, flushes with and without sync, prepares and
// power losses of every kind but garbage (which also damages synced sectors
// that share a sector with later writes: see partition_writer.hpp); after each
// power loss, scan, truncate and reopen must give exactly a prefix of the
// appended records that holds every record of every synced flush.
TEST(partition_log,
     randomized_appends_flushes_and_power_losses_keep_an_exact_prefix_with_every_synced_record) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  constexpr std::uint64_t window = 8192;
  const power_loss_mode modes[] = {power_loss_mode::synced_only, power_loss_mode::random_prefix,
                                   power_loss_mode::torn_sectors, power_loss_mode::torn_bytes};
  int runs = 0;
  int losses = 0;
  for (std::uint64_t seed = 1; seed <= 400 && std::chrono::steady_clock::now() < deadline; ++seed, ++runs) {
    std::mt19937_64 rng(seed);
    auto mem = std::make_shared<memory_file_system>();
    auto faults = std::make_shared<fault_injecting_file_system>(mem);
    // A durable owner syncs every flush and scans with its window; a buffered
    // one mixes and scans with an unlimited window.
    const bool durable = seed % 2 == 0;
    std::vector<record_bytes> model;
    std::vector<std::uint64_t> at;  // where each record of the model is
    std::size_t synced = 0;
    auto w = open_writer(faults, 0, window);
    ASSERT_TRUE(w);
    for (int step = 0; step < 300; ++step) {
      const auto what = rng() % 100;
      if (what < 60) {
        model.push_back(make_record(rng, random_size(rng, rng() % 4 == 0 ? 20000 : 800)));
        auto l = w->append(model.back());
        ASSERT_TRUE(l);
        at.push_back(l->offset);
      } else if (what < 85) {
        const bool sync = durable || rng() % 2 == 0;
        ASSERT_TRUE(w->flush(sync));
        if (sync) synced = model.size();
      } else if (what < 92) {
        if (w->should_prepare_next()) {
          ASSERT_TRUE(w->prepare_next());
        }
      } else {
        if (rng() % 2 == 0) {  // the power goes in the middle of a flush
          faults->crash_after(rng() % 6);
          const bool sync = durable || rng() % 2 == 0;
          if (w->flush(sync) && sync) synced = model.size();
        }
        w.reset();
        ++losses;
        mem->power_loss(modes[rng() % 4], rng());
        faults->clear_faults();
        // From the start, or from a record boundary a checkpoint could hold.
        const std::size_t from = synced > 0 && rng() % 2 == 0 ? rng() % (synced + 1) : 0;
        const std::uint64_t from_offset = from == 0 ? 0 : at[from - 1] + model[from - 1].size();
        auto s = scan(*mem, from_offset, durable ? window : unlimited_window);
        ASSERT_TRUE(s) << "seed " << seed << " step " << step << ": " << s.error().message();
        const std::size_t n = from + s->records.size();
        ASSERT_GE(n, synced) << "seed " << seed << " step " << step << ": " << s->scan.detail;
        ASSERT_LE(n, model.size()) << "seed " << seed << " step " << step;
        ASSERT_TRUE(std::equal(s->records.begin(), s->records.end(),
                               model.begin() + static_cast<std::ptrdiff_t>(from)))
            << "seed " << seed << " step " << step;
        ASSERT_TRUE(truncate_partition(*mem, dir, 0, geometry, s->scan.end));
        model.resize(n);
        at.resize(n);
        synced = n;  // what survived is on the disk now, and truncate synced the cut
        w = open_writer(faults, s->scan.end, window);
        ASSERT_TRUE(w);
      }
    }
  }
  EXPECT_GT(runs, 10);
  EXPECT_GT(losses, 100);
}
