// The indexer's side of the writer: it must never stop on its own (a link
// that needs a sub-directory of links/, a hostile name), and a closed store
// must not write: close() while a read stream's back-fill runs.
#include "catalog.hpp"
#include "checker.hpp"
#include "driver.hpp"

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

void driver::indexer_stopped(const boost::system::error_code& ec) {
  if (!indexer_failed_) trace_.add("  indexer failed: " + code_name(ec));
  indexer_failed_ = true;
  // Only an injected fault may stop it: a write error or crash armed now, or
  // one that fired since the writer opened (it may have left a link file
  // the indexer cannot go on with until a reopen).
  expect(
      !options_.on("indexer-stops") || fault_armed_ || fault_fired_since_open_,
      "writer: the indexer stopped without an injected fault: " + ec.message() + " (" + code_name(ec) + ")");
}

// close() while a read stream's back-fill runs, on a store of its own in
// another directory of the same disk (the back-fill must take more than one
// indexer step, 4096 events, which would slow every later check of the
// model's store). The back-fill is held in its progress callback (on the
// background thread) until close() completed, or 100 ms: a store that drains
// its indexer in close() waits that long; one that does not goes on with the
// back-fill after close() returned, under the directory's next owner. After
// close() nothing may be written, and read-stream changes are refused.
void driver::close_during_backfill() {
  const std::string dir = "/sim/closing-" + std::to_string(step_);
  store_options o;
  o.directory = dir;
  o.fsync_on_flush = fsync_;
  o.file_system = writer_fs_;
  o.system_streams = true;  // without them (and read streams) the indexer does not run
  auto opened = store::open(io_.get_executor(), o);
  expect(opened.has_value(), "closing store: open failed: " + (opened ? "" : opened.error().message()));
  std::optional<store> s(std::move(*opened));
  const std::size_t events = 4096 + 1 + rng_.below(2000);
  {
    std::vector<event_data> batch(events, event_data{"A", "{}", "", std::nullopt});
    bool done = false;
    boost::system::error_code ec;
    s->append("x-1", std::move(batch), expect::any, [&](boost::system::error_code e, append_result) {
      ec = e;
      done = true;
    });
    drive([&] { return done; }, "closing store: append");
    expect(!ec, "closing store: append: " + ec.message());
    // The live indexer past them: the read stream's back-fill then has them all to scan.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (s->statistics().indexed < events) {
      expect(std::chrono::steady_clock::now() < end, "closing store: the indexer never reached the append");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, closed = false;
  };
  auto g = std::make_shared<gate>();
  bool created = false;
  boost::system::error_code create_ec;
  s->create_read_stream(
      "all-x", filter::category("x"),
      [&](boost::system::error_code e) {
        create_ec = e;
        created = true;
      },
      [g](std::uint64_t, std::uint64_t) {
        // Every step of the back-fill waits (its definition is written after the last one's report).
        std::unique_lock lock(g->m);
        g->entered = true;
        g->cv.notify_all();
        g->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return g->closed; });
      });
  {
    std::unique_lock lock(g->m);
    const bool entered = g->cv.wait_for(lock, std::chrono::seconds(10), [&] { return g->entered; });
    expect(entered, "closing store: the back-fill never started");
  }
  bool closed = false;
  boost::system::error_code close_ec;
  std::uint64_t ops_at_close = 0;
  s->close([&](boost::system::error_code e) {
    close_ec = e;
    closed = true;
    ops_at_close = write_faults_->operation_count();
  });
  drive([&] { return closed; }, "closing store: close during a back-fill");
  {
    std::lock_guard lock(g->m);
    g->closed = true;
  }
  g->cv.notify_all();
  trace_.add("  close during a back-fill of " + std::to_string(events) + " events: " + code_name(close_ec));
  expect(!close_ec, "closing store: close failed: " + close_ec.message());
  drive([&] { return created; }, "closing store: create_read_stream of a back-fill cut by close()");
  trace_.add("  back-fill's create: " + std::string(create_ec ? "error" : "ok"));
  const auto expect_no_writes = [&](const std::string& by) {
    const std::uint64_t now = write_faults_->operation_count();
    expect(now == ops_at_close,
           "closing store: the closed store kept writing: " + std::to_string(now - ops_at_close) +
               " file operations after close() completed, by " + by);
  };
  expect_no_writes("the back-fill it cut");
  bool done = false;
  boost::system::error_code ec;
  s->create_read_stream("after-close", filter{}, [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  drive([&] { return done; }, "closing store: create_read_stream after close()");
  expect(ec == errc::store_closed,
         "closing store: create_read_stream after close(): " + code_name(ec) + ", want store_closed");
  done = false;
  s->delete_read_stream(create_ec ? "after-close" : "all-x", [&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  drive([&] { return done; }, "closing store: delete_read_stream after close()");
  expect(ec == errc::store_closed,
         "closing store: delete_read_stream after close(): " + code_name(ec) + ", want store_closed");
  s.reset();
  run_queued();
  expect_no_writes("read-stream changes after close(), or the store's destruction");
  // Whatever close() answered the back-fill, a reopen serves it whole or not at all.
  auto again = store::open(io_.get_executor(), o);
  expect(again.has_value(), "closing store: reopen failed: " + (again ? "" : again.error().message()));
  const auto listed = again->list_read_streams();
  expect(create_ec || (listed.size() == 1 && listed[0].name == "all-x"),
         "closing store: the read stream whose create completed is gone after a reopen");
}

}  // namespace evstore::sim
