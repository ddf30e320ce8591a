// Repair's salvage figure (docs/reliability.md, "Repair"): seeded single-byte
// flips and zeroed 4 KiB blocks at random places in a closed store of 10,000
// events over 10 streams in 2 partition logs of 64 KiB segments; after
// `repair_store`, the events kept at their stream, version and position with
// their type and data, over the events whose record bytes the damage did not
// touch. Places are drawn over every file but LOCK and store.json, weighted by
// the bytes in use (a segment's up to its last non-zero byte: the logs hold
// most of them).
//
// EVSTORE_REPAIR_TRIALS=N runs N of each kind (default 10, to keep the default
// run short); the published figure uses 500:
//   EVSTORE_REPAIR_TRIALS=500 build/tests/evstore_tests --gtest_filter='repair_figure.*'
#include "format/format.hpp"
#include "log/log_layout.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";
constexpr std::uint64_t segment_size = 64 * 1024;

struct stored {
  std::string stream, type, data;
  std::uint64_t version = 0, position = 0;
  std::string partition;  // where its record lies: [offset, offset + size)
  std::uint64_t offset = 0, size = 0;
};

struct tally {
  std::uint64_t trials = 0, intact = 0, kept = 0, lost = 0, worst_kept = 0, worst_intact = 0;
  double worst = 1.0;
};

class repair_figure : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fs = std::make_shared<memory_file_system>();
    {
      auto s =
          store::open(io.executor(),
                      {.directory = dir, .file_system = fs, .partitions = 2, .segment_size = segment_size});
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
      for (const recorded_event& e : s->events("$all")) {
        originals.push_back(
            {std::string(e.stream), std::string(e.type), std::string(e.data), e.version, e.position, {}});
      }
      ASSERT_FALSE(close_wait(*s));
    }
    for (const std::string& f : fs->files()) images[f] = fs->contents(f);
    // Each event's record, from the $all index: its segment and in-segment offset.
    const std::string& all = images.at(std::string(dir) + "/index/all.idx");
    for (stored& e : originals) {
      const auto entry = format::decode_all_entry2(
          std::span(reinterpret_cast<const std::byte*>(all.data()), all.size())
              .subspan(e.position * format::all_entry2_size, format::all_entry2_size));
      ASSERT_TRUE(entry);
      e.partition =
          std::string(dir) + "/log/" + detail::segment_name(entry->partition, entry->offset / segment_size);
      e.offset = entry->offset % segment_size;
      e.size = entry->size;
    }
  }

  // Damages a copy of the store (`size` bytes at `at` of `path`: one flipped
  // byte or zeros), repairs it and adds what it kept to `t`.
  void trial(const std::string& path, std::uint64_t at, std::uint64_t size, bool zero, std::uint8_t mask,
             tally& t) {
    auto fs = std::make_shared<memory_file_system>();
    for (const auto& [p, bytes] : images) {
      fs->set_contents(p, bytes);
    }
    std::string bytes = images.at(path);
    size = std::min<std::uint64_t>(size, bytes.size() - at);
    for (std::uint64_t i = at; i < at + size; ++i)
      bytes[i] = zero ? '\0' : static_cast<char>(bytes[i] ^ mask);
    fs->set_contents(path, bytes);
    std::vector<bool> intact(originals.size());
    std::uint64_t intact_count = 0;
    for (const stored& e : originals) {
      intact[e.position] = e.partition != path || at + size <= e.offset || e.offset + e.size <= at;
      intact_count += intact[e.position];
    }
    auto r = repair_store(dir, {.file_system = fs});
    ASSERT_TRUE(r) << path << "@" << at << ": " << r.error().message();
    EXPECT_TRUE(!r->needed || r->verified) << path << "@" << at;
    std::uint64_t kept = 0, lost = 0;
    {
      auto s = store::open(io.executor(),
                           {.directory = dir, .read_only = true, .file_system = fs, .follow = false});
      ASSERT_TRUE(s) << path << "@" << at << ": " << s.error().message();
      auto all = s->events("$all");
      for (const recorded_event& e : all) {
        if (e.position >= originals.size()) continue;
        const stored& o = originals[e.position];
        if (e.type == "$lost") ++lost;
        if (intact[e.position] && o.stream == e.stream && o.version == e.version && o.type == e.type &&
            o.data == e.data) {
          ++kept;
        }
      }
      EXPECT_FALSE(all.error()) << path << "@" << at << ": " << all.error()->message();
      EXPECT_TRUE(verify_store(*s).clean()) << path << "@" << at;
    }
    EXPECT_EQ(kept, intact_count) << (zero ? "zeroed " : "flipped ") << path << "@" << at;
    if (lost != originals.size() - intact_count) {
      std::printf("[repair figure] %s %s@%llu: %llu events damaged, %llu placeholders\n",
                  zero ? "zeroed" : "flipped", path.c_str(), static_cast<unsigned long long>(at),
                  static_cast<unsigned long long>(originals.size() - intact_count),
                  static_cast<unsigned long long>(lost));
    }
    ++t.trials;
    t.intact += intact_count;
    t.kept += kept;
    t.lost += lost;
    const double share =
        intact_count == 0 ? 1.0 : static_cast<double>(kept) / static_cast<double>(intact_count);
    if (share < t.worst || t.trials == 1) {
      t.worst = share;
      t.worst_kept = kept;
      t.worst_intact = intact_count;
    }
  }

  io_thread io;
  std::map<std::string, std::string> images;
  std::vector<stored> originals;
};

void print(const char* kind, const tally& t) {
  std::printf(
      "[repair figure] %s: %llu trials, kept %llu of %llu intact events (%.4f%%), worst trial %llu of %llu; "
      "%llu events damaged, %llu $lost placeholders\n",
      kind, static_cast<unsigned long long>(t.trials), static_cast<unsigned long long>(t.kept),
      static_cast<unsigned long long>(t.intact),
      100.0 * static_cast<double>(t.kept) / static_cast<double>(t.intact),
      static_cast<unsigned long long>(t.worst_kept), static_cast<unsigned long long>(t.worst_intact),
      static_cast<unsigned long long>(t.trials * 10'000 - t.intact), static_cast<unsigned long long>(t.lost));
}

TEST_F(repair_figure, repair_keeps_every_intact_event_after_a_flipped_byte_or_a_zeroed_block) {
  const char* env = std::getenv("EVSTORE_REPAIR_TRIALS");
  const int trials = env != nullptr ? std::atoi(env) : 10;
  std::vector<std::pair<std::string, std::uint64_t>> files;  // path, cumulative size
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> used;
  for (const auto& [path, bytes] : images) {
    if (path.ends_with("/LOCK") || path.ends_with("/store.json") || bytes.empty()) continue;
    const std::uint64_t n = path.ends_with(".evs") ? bytes.find_last_not_of('\0') + 1 : bytes.size();
    if (n == 0 || n > bytes.size()) continue;
    used[path] = n;
    total += n;
    files.emplace_back(path, total);
  }
  auto pick = [&](std::mt19937_64& rng) {
    const std::uint64_t byte = rng() % total;
    for (const auto& [path, end] : files) {
      if (byte < end) return std::pair{path, used.at(path) - (end - byte)};
    }
    return std::pair{files.back().first, std::uint64_t{0}};
  };
  std::mt19937_64 rng(2026);
  tally flips, blocks;
  for (int i = 0; i < trials && !HasFailure(); ++i) {
    const auto [path, at] = pick(rng);
    trial(path, at, 1, false, static_cast<std::uint8_t>(1 + rng() % 255), flips);
  }
  for (int i = 0; i < trials && !HasFailure(); ++i) {
    const auto [path, at] = pick(rng);
    trial(path, at & ~std::uint64_t{4095}, 4096, true, 0, blocks);
  }
  print("single byte flips", flips);
  print("zeroed 4 KiB blocks", blocks);
  EXPECT_GE(static_cast<double>(flips.kept), 0.999 * static_cast<double>(flips.intact));
  EXPECT_GE(static_cast<double>(blocks.kept), 0.999 * static_cast<double>(blocks.intact));
}

}  // namespace
