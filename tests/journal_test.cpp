// Journal replay (durable mode) on a journal that is damaged beyond a torn
// tail: recovery refuses it naming the file and offset, repair reports it, and
// nothing is ever written outside the store.
#include "format/format.hpp"
#include "support/gated_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/repair.hpp>
#include <evstore/store.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <atomic>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

class journal_test : public ::testing::Test {
 protected:
  // A durable store with three acknowledged appends, as the disk holds it
  // while the writer still runs (the frames are in the journal).
  void SetUp() override {
    auto mem = std::make_shared<memory_file_system>();
    auto s = store::open(io_.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = mem});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(append_wait(*s, "j", make_events(1)).ec);
    for (const std::string& p : mem->files()) files_[p] = mem->contents(p);
    const auto& cp_bytes = files_.at("/s/index/checkpoint");
    auto cp = format::decode_checkpoint_file(
        std::span(reinterpret_cast<const std::byte*>(cp_bytes.data()), cp_bytes.size()));
    ASSERT_TRUE(cp);
    checkpoint_ = *cp;
    ASSERT_GT(checkpoint_.journal_offset, 0u);
  }

  std::shared_ptr<memory_file_system> disk() const {
    auto fs = std::make_shared<memory_file_system>();
    for (const auto& [path, bytes] : files_) {
      fs->set_contents(path, bytes);
    }
    return fs;
  }

  io_thread io_;
  std::map<std::string, std::string> files_;
  format::checkpoint checkpoint_;
};

TEST_F(journal_test, an_intact_journal_replays) {
  auto fs = disk();
  auto s = store::open(io_.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = fs});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->event_count(), 3u);
}

TEST_F(journal_test, a_damaged_header_is_refused_by_recovery_and_reported_by_repair) {
  std::string& j = files_.at("/s/journal.wal");
  j[3] = static_cast<char>(j[3] ^ 0x01);
  auto fs = disk();
  auto s = store::open(io_.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = fs});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().message().find("bad file header in journal.wal at offset 0"), std::string::npos)
      << s.error().message();
  auto r = repair_store("/s", {.file_system = fs});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->needed);
  bool reported = false;
  for (const auto& d : r->damage) reported |= d.file == "journal.wal" && d.offset == 0;
  EXPECT_TRUE(reported);
  EXPECT_TRUE(r->verified);
  EXPECT_EQ(r->events_kept, 3u) << "the partitions hold every acknowledged event";
}

TEST_F(journal_test, an_op_with_an_unsafe_path_is_refused_and_nothing_leaves_the_store) {
  // A well-formed frame (valid checksum, chaining from the checkpoint) whose
  // op would write outside the store directory.
  const std::string payload = "escaped";
  std::vector<std::byte> frame;
  format::append_journal_op(
      frame,
      {0, "../escape", true, std::span(reinterpret_cast<const std::byte*>(payload.data()), payload.size())});
  format::seal_journal_frame(frame, checkpoint_.all_count, 1, 1);
  std::string& j = files_.at("/s/journal.wal");
  j.replace(checkpoint_.journal_offset, frame.size(), reinterpret_cast<const char*>(frame.data()),
            frame.size());
  auto fs = disk();
  auto s = store::open(io_.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = fs});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::corrupt_data);
  EXPECT_NE(s.error().message().find("journal op with an unsafe path in journal.wal at offset " +
                                     std::to_string(checkpoint_.journal_offset)),
            std::string::npos)
      << s.error().message();
  auto r = repair_store("/s", {.file_system = fs});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->needed);
  EXPECT_TRUE(r->verified);
  bool reported = false;
  for (const auto& d : r->damage) {
    reported |= d.file == "journal.wal" && d.offset == checkpoint_.journal_offset &&
                d.problem.find("unsafe path") != std::string::npos;
  }
  EXPECT_TRUE(reported);
  for (const std::string& p : fs->files()) {
    EXPECT_EQ(p.find("escape"), std::string::npos) << p << " was written by the unsafe op";
    EXPECT_EQ(p.rfind("/s/", 0), 0u) << p << " is outside the store";
  }
}

}  // namespace

// A frame's length is a u32, and a batch kept growing for as long as the
// previous flush waited for its fdatasync: the writer now seals a batch at
// flush_threshold_bytes and queues the next one, so every frame stays bounded.
TEST(journal_frames, batch_growing_during_a_flush_is_split_into_bounded_frames) {
  auto mem = std::make_shared<memory_file_system>();
  auto gated = std::make_shared<gated_file_system>(mem);
  io_thread io;
  constexpr std::size_t threshold = 16 * 1024;
  auto s = store::open(
      io.executor(),
      {.directory = "/s", .fsync_on_flush = true, .file_system = gated, .flush_threshold_bytes = threshold});
  ASSERT_TRUE(s) << s.error().message();
  const gate_opener open_gate_on_exit{*gated};
  gated->close_gate();
  std::atomic<int> acked{0}, failed{0};
  auto count = [&](boost::system::error_code ec, append_result) { ++(ec ? failed : acked); };
  s->append("first", make_events(1), expect::any, count);
  ASSERT_TRUE(gated->wait_until_waiting());  // its flush is in flight
  constexpr int appends = 200;               // ~1.1 KiB each: ~220 KiB behind it
  const std::string data = "\"" + std::string(1000, 'x') + "\"";
  for (int i = 0; i < appends; ++i) {
    s->append("s-" + std::to_string(i % 7), {make_event("T", data)}, expect::any, count);
  }
  gated->open_gate();
  ASSERT_TRUE(wait_until([&] { return acked + failed == appends + 1; }));
  EXPECT_EQ(failed, 0);

  // Walk the frames: each starts on a 4 KiB boundary; a zero length ends them.
  const std::string journal = mem->contents("/s/journal.wal");
  std::size_t frames = 0;
  for (std::size_t at = format::journal_frame_alignment; at + 4 <= journal.size();) {
    const auto length = format::get_u32(reinterpret_cast<const std::byte*>(journal.data() + at));
    if (length == 0) break;
    EXPECT_LE(length, threshold) << "frame at " << at;
    ++frames;
    at += format::journal_align(length);
  }
  EXPECT_GT(frames, 10u);
  ASSERT_FALSE(close_wait(*s));
  auto again = store::open(io.executor(), {.directory = "/s", .file_system = mem});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->event_count(), static_cast<std::uint64_t>(appends + 1));
}
