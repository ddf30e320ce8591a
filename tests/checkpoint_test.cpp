// A checkpoint never promises more than is durable, even while appends that
// create streams wait for the flush that writes it.
#include "support/store_fixture.hpp"

#include <evstore/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

using namespace evstore;
using namespace evstore::test;

namespace {

// Forwards to another file system; while closed, every sync() of the journal
// waits for a permit: a flush stopped right before its fdatasync.
class gated_file_system final : public file_system {
 public:
  explicit gated_file_system(std::shared_ptr<file_system> base) : base_(std::move(base)) {}

  void close_gate() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  void open_gate() {
    std::lock_guard lock(mutex_);
    closed_ = false;
    cv_.notify_all();
  }
  void permit_one() {
    std::lock_guard lock(mutex_);
    ++permits_;
    cv_.notify_all();
  }
  // Waits until a sync is blocked at the gate having used every permit.
  bool wait_until_waiting() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ > 0 && permits_ == 0; });
  }

  boost::system::result<std::unique_ptr<file>> open(const std::string& path, open_mode mode) override {
    auto f = base_->open(path, mode);
    if (!f || path.find("journal.wal") == std::string::npos) return f;
    return std::unique_ptr<file>(std::make_unique<gated_file>(std::move(*f), *this));
  }
  error_code create_directories(const std::string& p) override { return base_->create_directories(p); }
  error_code sync_directory(const std::string& p) override { return base_->sync_directory(p); }
  bool exists(const std::string& p) override { return base_->exists(p); }
  error_code rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  error_code remove(const std::string& p) override { return base_->remove(p); }
  boost::system::result<std::vector<std::string>> list(const std::string& d) override { return base_->list(d); }
  boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& p) override { return base_->lock(p); }

 private:
  class gated_file final : public file {
   public:
    gated_file(std::unique_ptr<file> f, gated_file_system& fs) : f_(std::move(f)), fs_(fs) {}
    boost::system::result<std::size_t> read_at(std::uint64_t o, std::span<std::byte> b) override { return f_->read_at(o, b); }
    error_code write_at(std::uint64_t o, const_buffer_span b) override { return f_->write_at(o, b); }
    error_code write_gather(std::uint64_t o, std::span<const const_buffer_span> b) override { return f_->write_gather(o, b); }
    error_code sync() override {
      {
        std::unique_lock lock(fs_.mutex_);
        ++fs_.waiting_;
        fs_.cv_.notify_all();
        fs_.cv_.wait(lock, [&] { return !fs_.closed_ || fs_.permits_ > 0; });
        if (fs_.closed_) --fs_.permits_;
        --fs_.waiting_;
        fs_.cv_.notify_all();
      }
      return f_->sync();
    }
    boost::system::result<std::uint64_t> size() override { return f_->size(); }
    error_code truncate(std::uint64_t s) override { return f_->truncate(s); }
    error_code allocate(std::uint64_t s) override { return f_->allocate(s); }

   private:
    std::unique_ptr<file> f_;
    gated_file_system& fs_;
  };

  std::shared_ptr<file_system> base_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  int permits_ = 0;
  int waiting_ = 0;
};

// Power fails now: a copy of what is durable (the store keeps running on the original).
std::shared_ptr<memory_file_system> power_loss_snapshot(memory_file_system& from) {
  from.power_loss(power_loss_mode::synced_only, 1);
  auto copy = std::make_shared<memory_file_system>();
  for (const std::string& path : from.files()) copy->set_contents(path, from.contents(path));
  return copy;
}

}  // namespace

TEST(checkpoint, stream_count_covers_only_flushed_catalog_records) {
  auto mem = std::make_shared<memory_file_system>();
  auto gated = std::make_shared<gated_file_system>(mem);
  io_thread io;
  auto s = store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = gated,
                                       .checkpoint_interval = 1});
  ASSERT_TRUE(s) << s.error().message();
  // A failed assertion must not leave the store's flush waiting at the gate
  // forever (its destructor waits for that flush).
  struct gate_opener {
    gated_file_system& gate;
    ~gate_opener() { gate.open_gate(); }
  } const open_gate_on_exit{*gated};
  ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
  // Flush 2 (new stream "b") stops before its journal sync ...
  gated->close_gate();
  std::atomic<int> done{0};
  auto count = [&](boost::system::error_code ec, append_result) { done += ec ? 100 : 1; };
  s->append("b", make_events(1), expect::any, count);
  ASSERT_TRUE(gated->wait_until_waiting());
  // ... while "c" is registered for the next batch.
  s->append("c", make_events(1), expect::any, count);
  ASSERT_TRUE(wait_until([&] { return s->stream_count() == 3; }));
  // Flush 2 completes, checkpoint included (interval 1); flush 3 stops before
  // its journal sync, so c's catalog record is not written yet.
  gated->permit_one();
  ASSERT_TRUE(wait_until([&] { return done >= 1; }));
  ASSERT_TRUE(gated->wait_until_waiting());
  auto crashed = power_loss_snapshot(*mem);
  gated->open_gate();
  ASSERT_TRUE(wait_until([&] { return done == 2; }));

  // The checkpoint written by flush 2 may promise a and b, never c.
  auto again = store::open(io.executor(), {.directory = "/s", .file_system = crashed});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->read("a")->events.size(), 1u);
  EXPECT_EQ(again->read("b")->events.size(), 1u);
}

// Opening reads the frames written since the last checkpoint, never the whole
// journal: the journal starts over at every checkpoint, so its size (and the
// work of opening) is bounded by the checkpoint interval, not by the store's age.
TEST(checkpoint, journal_starts_over_at_each_checkpoint) {
  auto mem = std::make_shared<memory_file_system>();
  io_thread io;
  for (int session = 0; session < 20; ++session) {
    auto s = store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = mem,
                                         .checkpoint_interval = 8});
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(append_wait(*s, "a", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  // 400 flushes of one 4 KiB frame each; at most 8 frames (plus preallocation) between checkpoints.
  EXPECT_LE(mem->contents("/s/journal.wal").size(), 256u * 1024u);
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = mem});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->read("a")->events.size(), 400u);
}
