// Corruption suite (docs/reliability.md): damage of every kind injected into a
// closed store's events and indexes — bit flips anywhere in partitions, index
// files, catalog, checkpoint and head; zeroed 4 KiB blocks; deleted files. The store never returns wrong
// bytes: each injection is either detected (open refuses, a read refuses, or verify names the damage) or has
// no effect on what is read (redundant state that recovery rebuilds). Figure: injected, detected, recovered
// transparently, silent wrong reads (must be 0), false alarms on the clean store (must be 0).
#include "format/format.hpp"
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

using image = std::map<std::string, std::string>;

struct stored_event {
  std::string stream, type, data;
  std::uint64_t version;
};

struct outcome {
  bool detected = false;    // an open, a read or verify reported damage
  std::uint64_t wrong = 0;  // events served that differ from what was stored
  std::uint64_t served = 0;
};

class corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fs = std::make_shared<memory_file_system>();
    auto s = store::open(io_.executor(), {.directory = "/s", .file_system = fs});
    ASSERT_TRUE(s);
    std::mt19937_64 rng(42);
    for (int i = 0; i < 120; ++i) {
      std::vector<event_data> events;
      for (std::uint64_t k = 0, n = 1 + rng() % 3; k < n; ++k) {
        events.push_back(
            make_event("T" + std::to_string(rng() % 4), "{\"n\":" + std::to_string(rng()) + "}"));
      }
      ASSERT_FALSE(append_wait(*s, "s-" + std::to_string(rng() % 6), std::move(events)).ec);
    }
    for (const auto& e : s->events("$all")) {
      original_.push_back({std::string(e.stream), std::string(e.type), std::string(e.data), e.version});
    }
    ASSERT_FALSE(close_wait(*s));
    for (const std::string& p : fs->files()) image_[p] = fs->contents(p);
  }

  // Opens a copy with `files` read-only, reads $all and every write stream,
  // and verifies.
  outcome check(const image& files) {
    auto fs = std::make_shared<memory_file_system>();
    for (const auto& [path, bytes] : files) {
      fs->set_contents(path, bytes);
    }
    outcome o;
    auto compare = [&](const recorded_event& e) {
      ++o.served;
      const bool right = e.position < original_.size() && original_[e.position].stream == e.stream &&
                         original_[e.position].type == e.type && original_[e.position].data == e.data &&
                         original_[e.position].version == e.version;
      if (!right) ++o.wrong;
    };
    {
      auto s = store::open(io_.executor(),
                           {.directory = "/s", .read_only = true, .file_system = fs, .follow = false});
      if (!s) {
        o.detected = true;
        return o;
      }
      auto all = s->events("$all");
      for (const auto& e : all) compare(e);
      if (all.error()) o.detected = true;
      for (const auto& info : s->list_streams(0, 100)) {
        auto range = s->events(info.name);
        for (const auto& e : range) compare(e);
        if (range.error()) o.detected = true;
      }
      if (!verify_store(*s).clean()) o.detected = true;
      // Events missing without any report are silent losses: counted as wrong.
      if (!o.detected && s->event_count() < original_.size()) o.wrong += original_.size() - s->event_count();
    }
    return o;
  }

  io_thread io_;
  image image_;
  std::vector<stored_event> original_;
};

TEST_F(corruption, damage_is_detected_or_harmless_never_served) {
  ASSERT_GT(original_.size(), 200u);
  // The clean store: no false alarm.
  const outcome clean = check(image_);
  EXPECT_FALSE(clean.detected) << "false alarm on the clean store";
  EXPECT_EQ(clean.served, 2 * original_.size()) << "$all and the write streams";

  std::vector<std::string> files;
  for (const auto& [path, bytes] : image_) {
    // The events and their indexes. Link files (system and read streams) are
    // derived from $all and not covered here: see the README's known limits.
    if (path.ends_with("/LOCK") || path.ends_with("store.json") || path.starts_with("/s/links/")) continue;
    files.push_back(path);
  }
  std::mt19937_64 rng(7);
  std::uint64_t injected = 0, detected = 0, harmless = 0, silent_wrong = 0;
  std::map<std::string, std::uint64_t> by_kind, no_effect_by_file;
  auto run = [&](const std::string& kind, image damaged, const std::string& path) {
    ++injected;
    ++by_kind[kind];
    const outcome o = check(damaged);
    if (!o.detected) ++no_effect_by_file[kind + " in " + path.substr(path.rfind('/') + 1)];
    silent_wrong += o.wrong;
    EXPECT_EQ(o.wrong, 0u) << kind << ": " << o.wrong << " wrong events served";
    (o.detected ? detected : harmless) += 1;
  };
  for (int i = 0; i < 400; ++i) {
    const std::string& path = files[rng() % files.size()];
    image damaged = image_;
    std::string& bytes = damaged[path];
    if (bytes.empty()) continue;
    switch (i % 4) {
      case 0:
      case 1: {  // one bit anywhere in the file, header included
        const std::size_t at = rng() % bytes.size();
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
        run("bit flip", std::move(damaged), path);
        break;
      }
      case 2: {  // a zeroed 4 KiB block (aligned), as a lost sector run
        const std::size_t at = (rng() % bytes.size()) & ~std::size_t{4095};
        bytes.replace(at, std::min<std::size_t>(4096, bytes.size() - at),
                      std::min<std::size_t>(4096, bytes.size() - at), '\0');
        run("zeroed 4 KiB", std::move(damaged), path);
        break;
      }
      default:  // the whole file gone
        damaged.erase(path);
        run("deleted file", std::move(damaged), path);
    }
  }
  std::printf("[corruption] injected %llu (", static_cast<unsigned long long>(injected));
  for (const auto& [kind, n] : by_kind)
    std::printf("%s %llu; ", kind.c_str(), static_cast<unsigned long long>(n));
  std::printf("), detected %llu, no effect on reads %llu, silent wrong reads %llu, false alarms %d\n",
              static_cast<unsigned long long>(detected), static_cast<unsigned long long>(harmless),
              static_cast<unsigned long long>(silent_wrong), clean.detected ? 1 : 0);
  for (const auto& [where, n] : no_effect_by_file)
    std::printf("  no effect: %s x%llu\n", where.c_str(), static_cast<unsigned long long>(n));
  EXPECT_EQ(silent_wrong, 0u);
  // Only redundant files may take damage unnoticed: the checkpoint (recovery
  // recomputes what it promises) and the follower head.
  for (const auto& [where, n] : no_effect_by_file) {
    EXPECT_TRUE(where.ends_with(" in checkpoint") || where.ends_with(" in head"))
        << where << " x" << n << " went unnoticed";
  }
}

}  // namespace

namespace {

TEST_F(corruption, verify_names_a_damaged_file_header_that_reads_never_touch) {
  image damaged = image_;
  std::string& part = damaged["/s/log/p000-00000000.evs"];
  ASSERT_GT(part.size(), 256u);
  part[100] = static_cast<char>(part[100] ^ 0x04);  // inside the segment header's zero-padded name field
  auto fs = std::make_shared<memory_file_system>();
  for (const auto& [path, bytes] : damaged) {
    fs->set_contents(path, bytes);
  }
  auto s =
      store::open(io_.executor(), {.directory = "/s", .read_only = true, .file_system = fs, .follow = false});
  ASSERT_TRUE(s) << s.error().message();
  auto page = s->read("s-1");
  EXPECT_TRUE(page) << "reads do not need the header";
  const verify_report v = verify_store(*s);
  // The header, and what follows from it: the log it heads is unreadable to
  // verify's own scan (reads locate records by offset and never need it).
  ASSERT_GE(v.damage.size(), 1u);
  EXPECT_NE(v.damage[0].message().find("bad segment header in log/p000-00000000.evs at offset 0"),
            std::string::npos)
      << v.damage[0].message();
}

}  // namespace
