// A seeded simulation of streams that end: random appends, soft and hard
// deletes, metadata changes, scavenges, reopens and scavenges cut short by a
// crash and a power loss (each step k of them in turn), checked after every
// step against a model of what every stream and $all must show, and of which
// event bodies may still be in the files. A failure prints its seed and step;
// EVSTORE_SCAVENGE_SIM_SEEDS=N runs N seeds (tools/setup.sh scavenge-sim).
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

// One stream as the store must show it.
struct stream_model {
  std::uint64_t count = 0;
  std::uint64_t deleted_before = 0;
  bool deleted = false, tombstoned = false;
  std::optional<std::uint64_t> truncate_before, max_count;
  std::set<std::uint64_t> erased;  // versions a scavenge erased: never readable again

  std::uint64_t first_readable() const {
    std::uint64_t first = std::max(deleted_before, truncate_before.value_or(0));
    if (max_count && count > *max_count) first = std::max(first, count - *max_count);
    return first;
  }
  bool reads_as_deleted() const { return tombstoned || (deleted && count <= deleted_before); }
  bool visible(std::uint64_t v) const {
    return !reads_as_deleted() && v >= first_readable() && v < count && !erased.contains(v);
  }
};

std::string marker(const std::string& stream, std::uint64_t version) {
  return "mk:" + stream + ":" + std::to_string(version) + ";";
}

class simulation {
 public:
  explicit simulation(std::uint64_t seed) : rng_(seed), seed_(seed) {}

  void run(int steps) {
    open(mem_);
    for (step_ = 0; step_ < steps && !::testing::Test::HasFailure(); ++step_) {
      const int dice = pick(100);
      if (dice < 40) {
        append();
      } else if (dice < 50) {
        remove(false);
      } else if (dice < 55) {
        remove(true);
      } else if (dice < 68) {
        limit();
      } else if (dice < 80) {
        scavenge();
      } else if (dice < 88) {
        reopen();
      } else {
        crash_during_scavenge();
      }
      check();
    }
    if (!::testing::Test::HasFailure()) {
      const auto report = verify_store(*store_);
      EXPECT_TRUE(report.clean()) << where() << report.damage.front().message();
    }
    ASSERT_FALSE(close_wait(*store_)) << where();
  }

 private:
  std::string where() const {
    return "seed " + std::to_string(seed_) + " step " + std::to_string(step_) + ": ";
  }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::string any_stream() { return "s-" + std::to_string(pick(6)); }

  void open(const std::shared_ptr<memory_file_system>& fs) {
    faulty_ = std::make_shared<fault_injecting_file_system>(fs);
    auto s = store::open(io_.executor(), {.directory = "/s",
                                          .fsync_on_flush = true,
                                          .file_system = faulty_,
                                          .system_streams = false,
                                          .checkpoint_interval = 64});
    ASSERT_TRUE(s) << where() << s.error().message();
    store_.emplace(std::move(*s));
  }

  void append() {
    const std::string stream = any_stream();
    stream_model& m = streams_[stream];
    const auto n = static_cast<std::uint64_t>(1 + pick(3));
    std::vector<event_data> events;
    for (std::uint64_t i = 0; i < n; ++i)
      events.push_back(make_event("T", "{\"m\":\"" + marker(stream, m.count + i) + "\",\"pad\":\"" +
                                           std::string(static_cast<std::size_t>(pick(6000)), 'p') + "\"}"));
    auto r = append_wait(*store_, stream, std::move(events));
    if (m.tombstoned) {
      EXPECT_EQ(r.ec, errc::stream_tombstoned) << where();
      return;
    }
    ASSERT_FALSE(r.ec) << where() << r.ec.message();
    for (std::uint64_t i = 0; i < n; ++i) order_.emplace_back(stream, m.count + i);
    m.count += n;
  }

  void remove(bool hard) {
    const std::string stream = any_stream();
    stream_model& m = streams_[stream];
    auto r = delete_stream_wait(*store_, stream, {.hard = hard});
    if (m.tombstoned) {
      EXPECT_EQ(r.ec, errc::stream_tombstoned) << where();
      return;
    }
    if (!hard && m.count == 0) {
      EXPECT_EQ(r.ec, errc::stream_not_found) << where();
      return;
    }
    ASSERT_FALSE(r.ec) << where() << r.ec.message();
    m.deleted = true;
    m.tombstoned = hard;
    m.deleted_before = m.count;
    m.truncate_before = m.count;  // max_count stays
  }

  void limit() {
    const std::string stream = any_stream();
    stream_model& m = streams_[stream];
    stream_metadata meta;
    if (pick(2) != 0) meta.max_count = static_cast<std::uint64_t>(pick(5));
    if (pick(2) != 0) meta.truncate_before = static_cast<std::uint64_t>(pick(static_cast<int>(m.count) + 2));
    auto r = metadata_wait(*store_, stream, meta);
    if (m.tombstoned) {
      EXPECT_EQ(r.ec, errc::stream_tombstoned) << where();
      return;
    }
    ASSERT_FALSE(r.ec) << where() << r.ec.message();
    m.max_count = meta.max_count;
    m.truncate_before = meta.truncate_before;
  }

  // What a completed scavenge erased: every version below the first readable.
  void erase_hidden() {
    for (auto& [name, m] : streams_) {
      const std::uint64_t first = m.first_readable();
      for (std::uint64_t v = 0; v < std::min(first, m.count); ++v) m.erased.insert(v);
    }
  }

  void scavenge() {
    auto r = store_->scavenge();
    ASSERT_TRUE(r) << where() << r.error().message();
    erase_hidden();
    // Every erased body is gone from every file.
    for (const auto& [name, m] : streams_) {
      for (const std::uint64_t v : m.erased) {
        const std::string needle = marker(name, v);
        for (const std::string& p : mem_->files())
          ASSERT_EQ(mem_->contents(p).find(needle), std::string::npos) << where() << needle << " in " << p;
      }
    }
  }

  void reopen() {
    ASSERT_FALSE(close_wait(*store_)) << where();
    store_.reset();
    open(mem_);
  }

  // The process dies after the k-th file operation of a scavenge, the disk
  // keeps what was synced (or torn sectors, or garbage where it was not).
  void crash_during_scavenge() {
    faulty_->crash_after(crash_k_++ % 40);
    (void)store_->scavenge();  // fails once the crash comes, unless k lets it through
    const power_loss_mode modes[] = {power_loss_mode::synced_only, power_loss_mode::torn_sectors,
                                     power_loss_mode::random_prefix, power_loss_mode::torn_bytes};
    mem_->power_loss(modes[pick(4)], static_cast<std::uint64_t>(pick(1 << 30)));
    auto image = std::make_shared<memory_file_system>();
    for (const std::string& p : mem_->files()) image->set_contents(p, mem_->contents(p));
    faulty_->crash_after(0);
    store_.reset();
    ASSERT_TRUE(wait_for_store_gone(*mem_, "/s")) << where();
    mem_ = image;
    open(mem_);
    // An interrupted scavenge erased some hidden events: finish it, so the
    // model knows which (every hidden one).
    scavenge();
  }

  void check() {
    if (::testing::Test::HasFailure() || !store_) return;
    for (const auto& [name, m] : streams_) {
      std::vector<std::uint64_t> want, got;
      for (std::uint64_t v = 0; v < m.count; ++v)
        if (m.visible(v)) want.push_back(v);
      read_options o;
      for (;;) {
        auto page = store_->read(name, o);
        if (!page) {
          const auto code = page.error().code;
          const bool empty_answer = (code == errc::stream_deleted && m.reads_as_deleted()) ||
                                    (code == errc::stream_not_found && m.count == 0);
          ASSERT_TRUE(empty_answer) << where() << name << ": " << page.error().message();
          break;
        }
        for (const recorded_event& e : page->events) {
          got.push_back(e.version);
          ASSERT_NE(e.data.find(marker(name, e.version)), std::string::npos) << where() << name;
        }
        if (page->end) break;
        o.from = page->next;
      }
      ASSERT_EQ(got, want) << where() << name;
    }
    std::vector<std::pair<std::string, std::uint64_t>> want_all, got_all;
    for (const auto& [stream, v] : order_)
      if (streams_[stream].visible(v)) want_all.emplace_back(stream, v);
    for (const recorded_event& e : store_->events("$all"))
      if (!e.stream.starts_with('$')) got_all.emplace_back(std::string(e.stream), e.version);
    ASSERT_EQ(got_all, want_all) << where() << "$all";
  }

  std::mt19937_64 rng_;
  std::uint64_t seed_;
  int step_ = 0;
  std::uint64_t crash_k_ = 0;
  io_thread io_;
  std::shared_ptr<memory_file_system> mem_ = std::make_shared<memory_file_system>();
  std::shared_ptr<fault_injecting_file_system> faulty_;
  std::optional<store> store_;
  std::map<std::string, stream_model> streams_;
  std::vector<std::pair<std::string, std::uint64_t>> order_;  // every appended event, in $all order
};

std::uint64_t from_env(const char* name, std::uint64_t otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : otherwise;
}

}  // namespace

// EVSTORE_SCAVENGE_SIM_SEED=S replays from seed S.
TEST(scavenge_sim, random_lifecycles_scavenges_and_crashes_match_the_model) {
  const std::uint64_t first = from_env("EVSTORE_SCAVENGE_SIM_SEED", std::random_device{}());
  const std::uint64_t seeds = from_env("EVSTORE_SCAVENGE_SIM_SEEDS", 8);
  for (std::uint64_t i = 0; i < seeds && !HasFailure(); ++i) {
    simulation sim(first + i);
    sim.run(120);
  }
}
