// Read errors ("I/O errors at operation k", docs/reliability.md): a failed read is
// never a torn tail. For every read k = 1..n of open (writer and follower),
// a follower's refresh(), verify_store and repair_store, over a small store
// whose last flush a crash tore, the k-th read fails with EIO (once, and
// persistently) and:
//   * the caller gets the I/O error, or succeeds with the same result as a
//     run without the fault (the fault hit nothing that mattered);
//   * a failed open or refresh wrote nothing (every file's bytes are as before);
//   * verify reports the I/O error as itself, never as damage or as clean;
//   * reopening without faults shows exactly what a fault-free run shows:
//     every acknowledged event.
// The suite ends with the figure "read-error points n/n handled".
#include "support/forwarding_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

const std::string dir = "/store";
const boost::system::error_code eio(EIO, boost::system::system_category());

store_options options_for(std::shared_ptr<file_system> fs, bool fsync, bool read_only = false) {
  return {.directory = dir,
          .fsync_on_flush = fsync,
          .read_only = read_only,
          .file_system = std::move(fs),
          .follow = false,
          .system_streams = false};
}

// Every file's bytes.
std::map<std::string, std::string> snapshot(const memory_file_system& mem) {
  std::map<std::string, std::string> out;
  for (const std::string& path : mem.files()) out[path] = mem.contents(path);
  return out;
}

std::string changed_files(const std::map<std::string, std::string>& before,
                          const std::map<std::string, std::string>& after) {
  std::string out;
  for (const auto& [path, bytes] : after) {
    auto it = before.find(path);
    if (it == before.end() || it->second != bytes) out += " " + path;
  }
  for (const auto& [path, bytes] : before) {
    if (!after.count(path)) out += " -" + path;
  }
  return out;
}

// "$all" as (stream, type) pairs: what a store shows.
std::vector<std::string> all_events(const store& s) {
  std::vector<std::string> out;
  auto page = s.read("$all", {.from = 0, .max_count = 1000});
  if (!page) return {"<error: " + page.error().message() + ">"};
  for (const recorded_event& e : page->events)
    out.push_back(std::string(e.stream) + "/" + std::string(e.type));
  return out;
}

// Four acknowledged appends to three streams, then a flush that creates "d"
// and that a crash stops after two of its mutating operations.
std::shared_ptr<memory_file_system> torn_store(bool fsync, io_thread& io) {
  auto mem = std::make_shared<memory_file_system>();
  auto fault = std::make_shared<fault_injecting_file_system>(mem);
  auto s = store::open(io.executor(), options_for(fault, fsync));
  EXPECT_TRUE(s) << s.error().message();
  if (!s) return mem;
  const std::pair<const char*, std::size_t> appends[] = {{"a", 3}, {"b", 2}, {"c", 1}, {"a", 2}};
  std::map<std::string, std::size_t> versions;
  for (const auto& [stream, n] : appends) {
    std::vector<event_data> events;
    for (std::size_t i = 0; i < n; ++i)
      events.push_back(make_event(stream + std::to_string(versions[stream]++)));
    EXPECT_FALSE(append_wait(*s, stream, std::move(events)).ec);
  }
  fault->crash_after(2);
  EXPECT_TRUE(append_wait(*s, "d", make_events(2)).ec) << "the torn flush is never acknowledged";
  (void)close_wait(*s);
  return mem;
}

// Fails the first read_at of one file with EIO; everything else passes.
class failing_reads_of final : public forwarding_file_system {
 public:
  failing_reads_of(std::shared_ptr<file_system> base, std::string suffix)
      : forwarding_file_system(std::move(base)), suffix_(std::move(suffix)) {}
  boost::system::result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override {
    auto f = base_->open(path, mode);
    if (!f || !path.ends_with(suffix_)) return f;
    return std::unique_ptr<file>(std::make_unique<flaky_file>(std::move(*f), failed_));
  }

 private:
  class flaky_file final : public file {
   public:
    flaky_file(std::unique_ptr<file> f, bool& failed) : f_(std::move(f)), failed_(failed) {}
    boost::system::result<std::size_t> read_at(std::uint64_t o, std::span<std::byte> b) override {
      if (!failed_) {
        failed_ = true;
        return eio;
      }
      return f_->read_at(o, b);
    }
    error_code write_at(std::uint64_t o, const_buffer_span b) override { return f_->write_at(o, b); }
    error_code write_gather(std::uint64_t o, std::span<const const_buffer_span> b) override {
      return f_->write_gather(o, b);
    }
    error_code sync() override { return f_->sync(); }
    boost::system::result<std::uint64_t> size() override { return f_->size(); }
    error_code truncate(std::uint64_t n) override { return f_->truncate(n); }
    error_code allocate(std::uint64_t n) override { return f_->allocate(n); }

   private:
    std::unique_ptr<file> f_;
    bool& failed_;
  };
  std::string suffix_;
  bool failed_ = false;
};

// The acknowledged events, in $all order.
const std::vector<std::string> acknowledged = {"a/a0", "a/a1", "a/a2", "b/b0",
                                               "b/b1", "c/c0", "a/a3", "a/a4"};

struct tally {
  std::uint64_t points = 0, handled = 0, failed = 0, succeeded = 0;
  std::vector<std::string> problems;

  void record(const std::string& label, bool call_failed, const std::vector<std::string>& found) {
    ++points;
    ++(call_failed ? failed : succeeded);
    if (found.empty()) {
      ++handled;
      return;
    }
    for (const std::string& p : found) {
      if (problems.size() < 20) problems.push_back(label + ": " + p);
    }
  }
  void add(const tally& t) {
    points += t.points;
    handled += t.handled;
    failed += t.failed;
    succeeded += t.succeeded;
    problems.insert(problems.end(), t.problems.begin(), t.problems.end());
  }
};

struct read_fault {
  const char* name;
  bool persistent;
};
constexpr read_fault read_faults[] = {{"EIO once", false}, {"EIO persistent", true}};

// Checks that the store on `mem`, opened without faults, shows `expected`.
void check_reopens(const std::shared_ptr<memory_file_system>& mem, bool fsync,
                   const std::vector<std::string>& expected, io_thread& io,
                   std::vector<std::string>& problems) {
  auto s = store::open(io.executor(), options_for(mem, fsync));
  if (!s) {
    problems.push_back("reopening without faults failed: " + s.error().message());
    return;
  }
  const auto events = all_events(*s);
  if (events != expected) {
    std::string got;
    std::string want;
    for (const std::string& e : events) got += " " + e;
    for (const std::string& e : expected) want += " " + e;
    problems.push_back("reopened with " + std::to_string(events.size()) + " events," + got + "; expected " +
                       std::to_string(expected.size()) + "," + want);
  }
  if (!verify_store(*s).clean()) problems.push_back("reopened store does not verify clean");
  (void)close_wait(*s);
}

// --- open (writer): recovery of the torn tail

tally writer_open_points(bool fsync, io_thread& io) {
  tally t;
  // Reference: the reads of a fault-free open, and what it shows.
  std::uint64_t n = 0;
  std::vector<std::string> expected;
  {
    auto mem = torn_store(fsync, io);
    auto counter = std::make_shared<fault_injecting_file_system>(mem);
    auto s = store::open(io.executor(), options_for(counter, fsync));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return t;
    n = counter->read_count();
    expected = all_events(*s);
    EXPECT_EQ(std::vector<std::string>(expected.begin(),
                                       expected.begin() + std::min(expected.size(), acknowledged.size())),
              acknowledged);
    (void)close_wait(*s);
  }
  for (std::uint64_t k = 1; k <= n; ++k) {
    for (const read_fault& f : read_faults) {
      auto mem = torn_store(fsync, io);
      const auto before = snapshot(*mem);
      auto fault = std::make_shared<fault_injecting_file_system>(mem);
      fault->fail_read(k, eio, f.persistent);
      std::vector<std::string> problems;
      auto s = store::open(io.executor(), options_for(fault, fsync));
      if (!s) {
        if (s.error().code != eio)
          problems.push_back("open failed with \"" + s.error().message() + "\", not EIO");
        const auto after = snapshot(*mem);
        if (const auto changed = changed_files(before, after); !changed.empty()) {
          problems.push_back("a failed open wrote:" + changed);
        }
      } else {
        fault->clear_faults();
        if (all_events(*s) != expected) problems.push_back("opened despite the fault, showing other events");
        (void)close_wait(*s);
      }
      check_reopens(mem, fsync, expected, io, problems);
      t.record(std::string(fsync ? "[fsync] " : "[buffered] ") + "open, " + f.name + " at read " +
                   std::to_string(k),
               !s, problems);
    }
  }
  return t;
}

// --- open (follower) of the store the crashed writer left

tally follower_open_points(io_thread& io) {
  tally t;
  std::uint64_t n = 0;
  std::vector<std::string> expected;
  {
    auto mem = torn_store(false, io);
    auto counter = std::make_shared<fault_injecting_file_system>(mem);
    auto s = store::open(io.executor(), options_for(counter, false, true));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return t;
    n = counter->read_count();
    expected = all_events(*s);
    EXPECT_EQ(expected, acknowledged);
  }
  // What a writer's recovery then shows: the acknowledged events, and the
  // torn flush too when its records reached the log whole (a follower shows
  // only what the writer's head acknowledged).
  std::vector<std::string> writer_view;
  {
    auto mem = torn_store(false, io);
    auto s = store::open(io.executor(), options_for(mem, false));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return t;
    writer_view = all_events(*s);
    (void)close_wait(*s);
  }
  for (std::uint64_t k = 1; k <= n; ++k) {
    for (const read_fault& f : read_faults) {
      auto mem = torn_store(false, io);
      const auto before = snapshot(*mem);
      auto fault = std::make_shared<fault_injecting_file_system>(mem);
      fault->fail_read(k, eio, f.persistent);
      std::vector<std::string> problems;
      auto s = store::open(io.executor(), options_for(fault, false, true));
      if (!s && s.error().code != eio)
        problems.push_back("open failed with \"" + s.error().message() + "\", not EIO");
      if (s) {
        fault->clear_faults();
        if (all_events(*s) != expected) problems.push_back("opened despite the fault, showing other events");
      }
      if (const auto changed = changed_files(before, snapshot(*mem)); !changed.empty()) {
        problems.push_back("a follower wrote:" + changed);
      }
      check_reopens(mem, false, writer_view, io, problems);
      t.record("follower open, " + std::string(f.name) + " at read " + std::to_string(k), !s, problems);
    }
  }
  return t;
}

// --- refresh() of a follower while the writer appends

tally refresh_points(io_thread& io) {
  tally t;
  auto run = [&](std::uint64_t k, const read_fault* f, std::uint64_t* reads) {
    auto mem = torn_store(false, io);
    auto writer = store::open(io.executor(), options_for(mem, false));
    EXPECT_TRUE(writer) << writer.error().message();
    auto fault = std::make_shared<fault_injecting_file_system>(mem);
    auto follower = store::open(io.executor(), options_for(fault, false, true));
    EXPECT_TRUE(follower) << follower.error().message();
    if (!writer || !follower) return;
    EXPECT_FALSE(append_wait(*writer, "a", {make_event("a5")}).ec);
    EXPECT_FALSE(append_wait(*writer, "e", {make_event("e0"), make_event("e1")}).ec);
    const auto expected = all_events(*writer);
    const auto before = snapshot(*mem);
    const std::uint64_t start = fault->read_count();
    if (f) fault->fail_read(k, eio, f->persistent);
    std::vector<std::string> problems;
    auto r = follower->refresh();
    if (reads) *reads = fault->read_count() - start;
    if (!r && r.error().code != eio)
      problems.push_back("refresh failed with \"" + r.error().message() + "\", not EIO");
    if (follower->event_count() > expected.size())
      problems.push_back("published more than the writer acknowledged");
    if (const auto changed = changed_files(before, snapshot(*mem)); !changed.empty()) {
      problems.push_back("a follower wrote:" + changed);
    }
    fault->clear_faults();
    auto again = follower->refresh();
    if (!again) problems.push_back("refresh without faults failed: " + again.error().message());
    if (all_events(*follower) != expected) problems.push_back("after the fault, refresh does not catch up");
    (void)close_wait(*writer);
    if (f) t.record("refresh, " + std::string(f->name) + " at read " + std::to_string(k), !r, problems);
  };
  std::uint64_t n = 0;
  run(0, nullptr, &n);
  for (std::uint64_t k = 1; k <= n; ++k) {
    for (const read_fault& f : read_faults) run(k, &f, nullptr);
  }
  return t;
}

// --- verify_store on the recovered store

tally verify_points(io_thread& io) {
  tally t;
  // What verify checks without faults (the acknowledged events, and the torn
  // flush when its records reached the log whole and recovery kept it).
  std::uint64_t clean_events = 0;
  auto run = [&](std::uint64_t k, const read_fault* f, std::uint64_t* reads) {
    auto mem = torn_store(false, io);
    auto fault = std::make_shared<fault_injecting_file_system>(mem);
    auto s = store::open(io.executor(), options_for(fault, false));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return;
    const auto before = snapshot(*mem);
    const std::uint64_t start = fault->read_count();
    if (f) fault->fail_read(k, eio, f->persistent);
    const verify_report report = verify_store(*s);
    if (reads) *reads = fault->read_count() - start;
    std::vector<std::string> problems;
    bool reported_io = false;
    for (const error& e : report.damage) {
      if (e.code == eio) reported_io = true;
      if (e.code == errc::corrupt_data) problems.push_back("a read error reported as damage: " + e.message());
    }
    if (!report.clean() && !reported_io) problems.push_back("not clean, but the I/O error is not reported");
    if (!f) clean_events = report.events_checked;
    if (report.clean() && report.events_checked != clean_events) {
      problems.push_back("clean after checking " + std::to_string(report.events_checked) + " events");
    }
    if (const auto changed = changed_files(before, snapshot(*mem)); !changed.empty()) {
      problems.push_back("verify wrote:" + changed);
    }
    fault->clear_faults();
    if (!verify_store(*s).clean()) problems.push_back("not clean without faults");
    (void)close_wait(*s);
    if (f)
      t.record("verify, " + std::string(f->name) + " at read " + std::to_string(k), !report.clean(),
               problems);
  };
  std::uint64_t n = 0;
  run(0, nullptr, &n);
  for (std::uint64_t k = 1; k <= n; ++k) {
    for (const read_fault& f : read_faults) run(k, &f, nullptr);
  }
  return t;
}

// --- repair_store on the torn store with a damaged record in the middle

// The torn store recovered and checkpointed, then a bit flipped in a record
// the checkpoint covers (verify finds it, repair cuts it), and a torn $all
// tail again for the open inside repair to cut.
std::shared_ptr<memory_file_system> damaged_store(io_thread& io) {
  auto mem = torn_store(false, io);
  {
    auto s = store::open(io.executor(), options_for(mem, false));
    EXPECT_TRUE(s) << s.error().message();
    if (s) (void)close_wait(*s);
  }
  const std::string part = dir + "/log/p000-00000000.evs";
  std::string bytes = mem->contents(part);
  // The type of b's version 1 and its data "{}", which follows it. Two bytes
  // alone ("b1") also turned up now and then inside a random event id or a
  // timestamp, and the flip damaged another event.
  const std::size_t b1 = bytes.find("b1{}");
  EXPECT_NE(b1, std::string::npos);
  EXPECT_EQ(bytes.find("b1{}", b1 + 1), std::string::npos) << "the damaged record is ambiguous";
  bytes[b1 + 3] = static_cast<char>(bytes[b1 + 3] ^ 1);
  mem->set_contents(part, bytes);
  const std::string all = dir + "/index/all.idx";
  mem->set_contents(all, mem->contents(all) + std::string(40, '\x5a'));
  return mem;
}

tally repair_points(io_thread& io) {
  tally t;
  std::uint64_t n = 0;
  std::vector<std::string> expected;
  {
    auto mem = damaged_store(io);
    auto counter = std::make_shared<fault_injecting_file_system>(mem);
    auto r = repair_store(dir, {.file_system = counter});
    EXPECT_TRUE(r) << r.error().message();
    if (!r) return t;
    EXPECT_TRUE(r->needed);
    n = counter->read_count();
    auto s = store::open(io.executor(), options_for(mem, false));
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return t;
    expected = all_events(*s);
    (void)close_wait(*s);
  }
  for (std::uint64_t k = 1; k <= n; ++k) {
    for (const read_fault& f : read_faults) {
      auto mem = damaged_store(io);
      auto fault = std::make_shared<fault_injecting_file_system>(mem);
      fault->fail_read(k, eio, f.persistent);
      std::vector<std::string> problems;
      auto r = repair_store(dir, {.file_system = fault});
      if (!r && r.error().code != eio)
        problems.push_back("repair failed with \"" + r.error().message() + "\", not EIO");
      if (!r) {
        // What the failed repair left must still repair to the fault-free result.
        auto again = repair_store(dir, {.file_system = mem});
        if (!again) problems.push_back("repair without faults failed: " + again.error().message());
      }
      check_reopens(mem, false, expected, io, problems);
      t.record("repair, " + std::string(f.name) + " at read " + std::to_string(k), !r, problems);
    }
  }
  return t;
}

}  // namespace

// The reviewers' case: one transient EIO while recovery reads a partition
// made it cut every acknowledged event after it, for good.
TEST(read_errors, recovery_fails_on_a_partition_read_error_and_cuts_nothing) {
  io_thread io;
  auto mem = torn_store(false, io);
  const auto before = snapshot(*mem);
  auto flaky = std::make_shared<failing_reads_of>(mem, "/log/p000-00000000.evs");
  auto s = store::open(io.executor(), options_for(flaky, false));
  ASSERT_FALSE(s) << "opened with " << s->event_count() << " events despite a failed read";
  EXPECT_EQ(s.error().code, eio) << s.error().message();
  EXPECT_NE(s.error().detail.find("log/p000-00000000.evs at offset"), std::string::npos)
      << s.error().message();
  EXPECT_EQ(snapshot(*mem), before) << "a failed open wrote";
  auto clean = store::open(io.executor(), options_for(mem, false));
  ASSERT_TRUE(clean) << clean.error().message();
  // Every acknowledged event; the flush the crash interrupted may survive
  // whole (its records reached the log) but never in part.
  const auto events = all_events(*clean);
  ASSERT_GE(events.size(), acknowledged.size());
  EXPECT_EQ(std::vector<std::string>(events.begin(), events.begin() + acknowledged.size()), acknowledged);
  EXPECT_TRUE(events.size() == acknowledged.size() || events.size() == acknowledged.size() + 2);
  (void)close_wait(*clean);
}

TEST(read_errors, read_error_at_every_read_is_handled) {
  io_thread io;
  tally all;
  const auto report = [&](const char* what, const tally& t) {
    std::cout << "[read_errors] " << what << ": " << t.handled << "/" << t.points << " handled (call failed "
              << t.failed << ", succeeded " << t.succeeded << ")" << std::endl;
    all.add(t);
  };
  report("open, buffered", writer_open_points(false, io));
  report("open, fsync", writer_open_points(true, io));
  report("follower open", follower_open_points(io));
  report("follower refresh", refresh_points(io));
  report("verify", verify_points(io));
  report("repair", repair_points(io));
  std::cout << "[read_errors] read-error points " << all.handled << "/" << all.points << " handled"
            << std::endl;
  for (const std::string& p : all.problems) ADD_FAILURE() << p;
  EXPECT_EQ(all.handled, all.points);
  EXPECT_GT(all.points, 100u);
}
