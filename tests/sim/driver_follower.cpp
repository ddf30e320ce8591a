// The follower: a read-only store on the same disk, moved only by refresh().
#include "checker.hpp"
#include "driver.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace evstore::sim {
namespace {

std::string code_name(const boost::system::error_code& ec) {
  if (!ec) return "ok";
  if (ec.category() == category()) return ec.message();
  return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

}  // namespace

void driver::follower_open() {
  store_options o;
  o.directory = directory;
  o.read_only = true;
  o.file_system = follower_fs_;
  o.follow = false;
  o.system_streams = true;
  o.max_open_files = max_open_files_;
  o.index_cache_bytes = index_cache_bytes_;
  auto f = store::open(follower_io_.get_executor(), o);
  trace_.add("  open follower: " + (f ? std::string("ok") : code_name(f.error().code)));
  expect(f.has_value(), "follower: open failed: " + (f ? "" : f.error().message()));
  follower_.emplace(std::move(*f));
  follower_loaded_.clear();
  check_follower(*follower_, model_, false);
}

void driver::follower_refresh() {
  if (!follower_) return;
  const bool inject = rng_.chance(25);
  if (inject) {
    const fault_plan f = plan_read_fault(rng_, options_, 30);
    if (f.what == fault_plan::kind::read_error) {
      follower_fs_->fail_read(f.k);
      trace_.add("  fault armed: " + f.describe());
    }
    auto r = follower_->refresh();
    if (follower_fs_->clear()) {
      ++result_.faults;
      trace_.add("  fault fired");
    } else {
      expect(r.has_value(), "follower: refresh failed without an injected fault: " + r.error().message());
    }
    trace_.add("  refresh with fault: " + (r ? std::string("ok") : code_name(r.error().code)));
    // Whatever the error did, the next refresh must see everything.
  }
  auto r = follower_->refresh();
  expect(r.has_value(), "follower: refresh failed: " + (r ? "" : r.error().message()));
  const bool writer_idle = writer_ && !writer_failed_ && !indexer_failed_;
  const std::uint64_t n = check_follower(*follower_, model_, writer_idle);
  trace_.add("  refresh: " + std::to_string(n) + " events");
  if (writer_idle && model_.read_streams_in_doubt.empty()) check_follower_links();
}

// Buffered mode: the writer persists its links' progress every indexer step,
// so an idle writer's follower has them all. Durable mode: lazily (every
// checkpoint_interval events and at close; the time-based sync is off under
// EVSTORE_SERIAL_IO, links/indexer.hpp), so the follower's links end at the
// progress it read, and below it hold exactly what $all derives.
void driver::check_follower_links() {
  const std::uint64_t linked = fsync_ ? follower_->statistics().indexed : model_.all().size();
  expect(linked <= follower_->event_count(), "follower: links at " + std::to_string(linked) +
                                                 " beyond $all at " +
                                                 std::to_string(follower_->event_count()));
  for (const auto& [name, f] : model_.read_streams) {
    expect_stream(*follower_, "follower", name, model_, before(model_.positions(name), linked), 0,
                  1 + rng_.below(30));
  }
  static const char* const system[] = {"$ce-a", "$et-C"};
  const std::string sys = system[rng_.below(2)];
  expect_stream(*follower_, "follower", sys, model_, before(model_.positions(sys), linked), 0,
                1 + rng_.below(30));
}

void driver::follower_read() {
  if (!follower_ || model_.stream_order().empty()) return;
  const std::string name = rng_.pick(model_.stream_order());
  const std::uint64_t n = follower_->event_count();
  const std::uint64_t page = 1 + rng_.below(20);
  if (!model_.in_doubt().empty()) {  // the follower may hold them (check_follower)
    trace_.add("  follower read " + name + ": skipped, appends in doubt");
    return;
  }
  const std::uint64_t got =
      expect_stream(*follower_, "follower", name, model_, before(model_.positions(name), n), 0, page);
  follower_loaded_.insert(name);
  trace_.add("  follower read " + name + ": " + std::to_string(got) + " events");
}

// The follower loads a stream lazily, on first use. Here the writer appends to
// that stream and the follower refreshes while the load is under way (paused
// at its first read of the stream's index), as two threads of an application
// could: afterwards the follower must hold the whole stream.
void driver::follower_race() {
  if (!follower_ || !writer_ || writer_failed_ || indexer_failed_) return;
  std::vector<std::string> unloaded;
  for (const std::string& s : model_.stream_order()) {
    if (!follower_loaded_.contains(s)) unloaded.push_back(s);
  }
  if (unloaded.empty()) {
    trace_.add("  every stream loaded");
    return;
  }
  const std::string name = rng_.pick(unloaded);
  std::thread refresher;
  std::mutex m;
  std::condition_variable cv;
  bool refreshed = false;
  bool hooked = false;
  follower_fs_->on_first_read("/index/" + name + ".idx", [&] {
    hooked = true;
    nested_append(name);
    refresher = std::thread([&] {
      (void)follower_->refresh();
      std::lock_guard lock(m);
      refreshed = true;
      cv.notify_all();
    });
    // A refresh that waits for this load to finish is as good: then it runs
    // after it. Either way the outcome a correct engine shows is the same, so
    // the wait only has to be long enough for a refresh that does not block.
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return refreshed; });
  });
  (void)follower_->read(name);
  follower_fs_->clear();
  if (refresher.joinable()) refresher.join();
  follower_loaded_.insert(name);
  trace_.add("  race on " + name + (hooked ? ": append and refresh during the load" : ": loaded before"));
  auto r = follower_->refresh();
  expect(r.has_value(), "follower: refresh failed: " + (r ? "" : r.error().message()));
  const std::uint64_t n = check_follower(*follower_, model_, true);
  expect_stream(*follower_, "follower", name, model_, before(model_.positions(name), n), 0, 50);
}

}  // namespace evstore::sim
