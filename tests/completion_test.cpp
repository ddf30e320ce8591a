// Every asynchronous operation completes with nothing but io_context::run()
// on the calling thread (no work guard, no helper thread), in both
// durability modes, with callbacks, futures and coroutines; and run() then
// returns: once everything completed the store holds no work of its own.
#include "support/store_fixture.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct mode {
  bool fsync;
  std::string name;
};
void PrintTo(const mode& m, std::ostream* os) { *os << m.name; }

class completion_test : public ::testing::TestWithParam<mode> {
 protected:
  store open() {
    auto s =
        store::open(io_.get_executor(), {.directory = dir_.sub("store"), .fsync_on_flush = GetParam().fsync});
    if (!s) throw std::runtime_error("open: " + s.error().message());
    return std::move(*s);
  }

  // io_.run() on this thread. A watchdog stops the context if run() has not
  // returned by the deadline, which fails the test instead of hanging it.
  void run() {
    std::mutex m;
    std::condition_variable cv;
    bool returned = false, fired = false;
    std::thread watchdog([&] {
      std::unique_lock lock(m);
      if (!cv.wait_for(lock, 20s, [&] { return returned; })) {
        fired = true;
        io_.stop();
      }
    });
    io_.run();
    {
      std::lock_guard lock(m);
      returned = true;
    }
    cv.notify_one();
    watchdog.join();
    EXPECT_FALSE(fired) << "io_context::run() did not return";
  }

  // run() on another thread, started after the operations were initiated:
  // only their own work keeps it going.
  std::thread run_elsewhere() {
    return std::thread([this] { io_.run(); });
  }

  static std::vector<event_data> events(std::size_t n) { return make_events(n, "Tested"); }

  std::size_t temporary_files() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (e.path().extension() == ".tmp") ++n;
    }
    return n;
  }

  temp_dir dir_;
  asio::io_context io_;
};

// --- Callbacks

TEST_P(completion_test, the_readme_example_stores_its_events_with_a_plain_run) {
  std::optional<boost::system::error_code> got;
  append_result result;
  {
    store s = open();
    std::vector<event_data> evs = {
        {.type = "CartOpened", .data = R"({"customer":"c-42"})"},
        {.type = "ItemAdded", .data = R"({"sku":"book-1","price":12.5})", .id = random_id()},
    };
    s.append("cart-1", evs, expect::no_stream, [&](boost::system::error_code ec, append_result r) {
      got = ec;
      result = r;
    });
    run();
    ASSERT_TRUE(got.has_value()) << "the handler never ran";
    EXPECT_FALSE(*got) << got->message();
    EXPECT_EQ(result.version, 1u);
    EXPECT_EQ(s.event_count(), 2u);
  }
  store reopened = open();
  auto page = reopened.read("cart-1");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 2u);
}

TEST_P(completion_test, append_and_close_callbacks_run_and_run_returns) {
  store s = open();
  int appended = 0;
  std::optional<boost::system::error_code> closed;
  s.append("a", events(3), expect::no_stream, [&](boost::system::error_code ec, append_result) {
    EXPECT_FALSE(ec) << ec.message();
    ++appended;
    s.close([&](boost::system::error_code cec) { closed = cec; });
  });
  run();
  EXPECT_EQ(appended, 1);
  ASSERT_TRUE(closed.has_value()) << "the close handler never ran";
  EXPECT_FALSE(*closed) << closed->message();
}

// A callback bound to an executor of its own runs there, and the append holds
// work on that executor too: the other context's run(), started with nothing
// else to do, returns only after the callback ran. Plain callbacks (above)
// and bound ones take different paths in the store.
TEST_P(completion_test, a_callback_bound_to_another_executor_runs_there_and_keeps_it_running) {
  asio::io_context other;
  store s = open();
  std::atomic<int> ran{0};
  std::atomic<bool> ran_on_other{false};
  for (int i = 0; i < 3; ++i) {
    s.append("bound", events(1), expect::any,
             asio::bind_executor(other.get_executor(), [&](boost::system::error_code ec, append_result r) {
               EXPECT_FALSE(ec) << r.detail;
               ran_on_other = other.get_executor().running_in_this_thread();
               ++ran;
             }));
  }
  // Started after the appends: only their work keeps `other` running.
  std::thread other_loop([&] { other.run_for(20s); });
  run();
  other_loop.join();
  EXPECT_EQ(ran.load(), 3) << "other.run() returned before every bound callback ran";
  EXPECT_TRUE(ran_on_other.load());
}

// An exception out of a plain callback leaves run() as Asio lets it; the
// append's work goes with it, so the next run() returns once idle.
TEST_P(completion_test, a_throwing_callback_leaves_no_work_behind) {
  store s = open();
  s.append("thrown", events(1), expect::any,
           [](boost::system::error_code, append_result) { throw std::runtime_error("from the callback"); });
  EXPECT_THROW(io_.run(), std::runtime_error);
  io_.restart();
  run();
  EXPECT_EQ(s.event_count(), 1u);
}

TEST_P(completion_test, read_stream_create_and_delete_callbacks_run_and_run_returns) {
  store s = open();
  std::optional<boost::system::error_code> created, deleted;
  s.append("a", events(2), expect::any, [&](boost::system::error_code ec, append_result) {
    ASSERT_FALSE(ec) << ec.message();
    s.create_read_stream("tested", filter::event_types({"Tested"}), [&](boost::system::error_code cec) {
      created = cec;
      s.delete_read_stream("tested", [&](boost::system::error_code dec) { deleted = dec; });
    });
  });
  run();
  ASSERT_TRUE(created.has_value()) << "the create handler never ran";
  EXPECT_FALSE(*created) << created->message();
  ASSERT_TRUE(deleted.has_value()) << "the delete handler never ran";
  EXPECT_FALSE(*deleted) << deleted->message();
}

TEST_P(completion_test, a_consumer_commit_callback_runs_and_leaves_no_temporary_file) {
  store s = open();
  auto c = s.consumer("a", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  std::optional<boost::system::error_code> committed;
  s.append("a", events(2), expect::any, [&](boost::system::error_code ec, append_result) {
    ASSERT_FALSE(ec) << ec.message();
    c->commit(2, R"({"sent":2})", [&](boost::system::error_code cec) { committed = cec; });
  });
  run();
  ASSERT_TRUE(committed.has_value()) << "the commit handler never ran";
  EXPECT_FALSE(*committed) << committed->message();
  EXPECT_EQ(c->position(), 2u);
  EXPECT_EQ(temporary_files(), 0u);
}

TEST_P(completion_test, a_parked_next_completes_with_the_next_append_and_run_returns) {
  store s = open();
  auto sub = s.subscribe("a", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();
  std::vector<std::uint64_t> delivered;
  // First the caught-up signal of the empty stream, then the parked next()
  // that only the append completes.
  sub->next([&](boost::system::error_code ec, subscription_batch b) {
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(b.caught_up);
    sub->next([&](boost::system::error_code nec, subscription_batch nb) {
      ASSERT_FALSE(nec) << nec.message();
      for (const auto& e : nb.events) delivered.push_back(e.version);
    });
    s.append("a", events(2), expect::any,
             [](boost::system::error_code aec, append_result) { EXPECT_FALSE(aec); });
  });
  run();
  EXPECT_EQ(delivered, (std::vector<std::uint64_t>{0, 1}));
}

TEST_P(completion_test, a_parked_next_ends_with_close_and_run_returns) {
  store s = open();
  auto sub = s.subscribe("a", {.from = from_end});
  ASSERT_TRUE(sub) << sub.error().message();
  std::optional<boost::system::error_code> ended;
  sub->next([&](boost::system::error_code ec, subscription_batch) {
    ASSERT_FALSE(ec) << ec.message();  // caught up
    sub->next([&](boost::system::error_code nec, subscription_batch) { ended = nec; });
    s.close([](boost::system::error_code) {});
  });
  run();
  ASSERT_TRUE(ended.has_value()) << "the parked next() never completed";
  EXPECT_EQ(*ended, errc::store_closed);
}

TEST_P(completion_test, the_callback_subscription_delivers_until_cancelled_and_run_returns) {
  store s = open();
  std::vector<std::uint64_t> delivered;
  std::optional<boost::system::error_code> ended;
  std::optional<subscription> sub;
  auto made = s.subscribe("a", {.from = 0}, [&](boost::system::error_code ec, const subscription_batch& b) {
    if (ec) {
      ended = ec;
      return;
    }
    for (const auto& e : b.events) delivered.push_back(e.version);
    if (delivered.size() == 3) sub->cancel();
  });
  ASSERT_TRUE(made) << made.error().message();
  sub.emplace(std::move(*made));
  s.append("a", events(3), expect::any,
           [](boost::system::error_code ec, append_result) { EXPECT_FALSE(ec); });
  run();
  EXPECT_EQ(delivered, (std::vector<std::uint64_t>{0, 1, 2}));
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(*ended, asio::error::operation_aborted);
}

TEST_P(completion_test, run_returns_once_the_store_is_destroyed_with_system_streams_indexing) {
  std::optional<store> s(open());
  bool appended = false;
  s->append("cart-1", events(100), expect::any, [&](boost::system::error_code ec, append_result) {
    EXPECT_FALSE(ec) << ec.message();
    appended = true;
    s.reset();  // the indexer may still be linking: it holds no work of the application
  });
  run();
  EXPECT_TRUE(appended);
}

TEST_P(completion_test, a_read_stream_back_fill_cut_short_by_destruction_completes_with_store_closed) {
  {
    store s = open();
    for (int i = 0; i < 20; ++i) {
      s.append("a", events(500), expect::any,
               [](boost::system::error_code ec, append_result) { EXPECT_FALSE(ec); });
    }
    run();
  }
  io_.restart();
  std::optional<store> s(open());
  std::optional<boost::system::error_code> created;
  s->create_read_stream("tested", filter::event_types({"Tested"}),
                        [&](boost::system::error_code ec) { created = ec; });
  s.reset();  // at once: the back-fill of 10,000 events has not finished (or has)
  run();
  ASSERT_TRUE(created.has_value()) << "the create handler never ran";
  if (*created) {
    EXPECT_EQ(*created, errc::store_closed) << created->message();
  }
}

// --- Futures: the io_context runs on another thread, started after the call.

TEST_P(completion_test, every_operation_completes_its_future) {
  store s = open();
  auto c = s.consumer("a", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  auto sub = s.subscribe("a", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();

  auto step = [&](auto future) {
    std::thread t = run_elsewhere();
    const bool ready = future.wait_for(20s) == std::future_status::ready;
    if (!ready) io_.stop();
    t.join();
    io_.restart();
    EXPECT_TRUE(ready) << "the future was never set";
    return future.get();
  };
  append_result r = step(s.append("a", events(2), expect::no_stream, asio::use_future));
  EXPECT_EQ(r.version, 1u);
  subscription_batch b = step(sub->next(asio::use_future));
  EXPECT_EQ(b.events.size(), 2u);
  step(s.create_read_stream("tested", filter::event_types({"Tested"}), asio::use_future));
  // Every event acknowledged before the creation is linked at its completion
  // (store.hpp), also those the indexer had not reached when it began.
  EXPECT_EQ(s.read("tested")->events.size(), 2u);
  step(s.delete_read_stream("tested", asio::use_future));
  step(c->commit(2, "{}", asio::use_future));
  EXPECT_EQ(c->position(), 2u);
  EXPECT_EQ(temporary_files(), 0u);
  step(s.close(asio::use_future));
}

// --- Coroutines: co_spawn, then a plain run().

TEST_P(completion_test, every_operation_resumes_its_coroutine) {
  store s = open();
  auto c = s.consumer("a", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  auto sub = s.subscribe("a", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();
  bool finished = false;
  std::exception_ptr failure;
  // Arguments are named variables: GCC 12 miscompiles braced temporaries in
  // a co_await expression (see the README).
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        std::vector<event_data> evs = events(2);
        append_result r = co_await s.append("a", evs, expect::no_stream, asio::use_awaitable);
        EXPECT_EQ(r.version, 1u);
        subscription_batch b = co_await sub->next(asio::use_awaitable);
        EXPECT_EQ(b.events.size(), 2u);
        filter f = filter::event_types({"Tested"});
        co_await s.create_read_stream("tested", f, asio::use_awaitable);
        co_await s.delete_read_stream("tested", asio::use_awaitable);
        std::string state = "{}";
        co_await c->commit(2, state, asio::use_awaitable);
        co_await s.close(asio::use_awaitable);
        finished = true;
      },
      [&](std::exception_ptr e) { failure = e; });
  run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_TRUE(finished);
  EXPECT_EQ(c->position(), 2u);
  EXPECT_EQ(temporary_files(), 0u);
}

// --- Errors: the detail and the stream's actual version reach every form.

TEST_P(completion_test, a_conflict_carries_the_actual_version_and_a_detail_in_every_form) {
  store s = open();
  std::optional<append_result> called;
  s.append("a", events(2), expect::any, [&](boost::system::error_code ec, append_result) {
    ASSERT_FALSE(ec) << ec.message();
    s.append("a", events(1), expect::no_stream, [&](boost::system::error_code cec, append_result r) {
      EXPECT_EQ(cec, errc::wrong_expected_version);
      called = std::move(r);
    });
  });
  run();
  ASSERT_TRUE(called.has_value());
  EXPECT_EQ(called->actual, std::optional<std::uint64_t>(1));
  EXPECT_EQ(called->detail, "stream 'a' is at version 1, expected no_stream");
  io_.restart();

  auto future = s.append("a", events(1), expect::exactly(7), asio::use_future);
  std::thread t = run_elsewhere();
  try {
    future.get();
    ADD_FAILURE() << "no exception";
  } catch (const append_error& e) {
    EXPECT_EQ(e.code(), errc::wrong_expected_version);
    EXPECT_EQ(e.result().actual, std::optional<std::uint64_t>(1));
    EXPECT_EQ(e.result().expected, expect::exactly(7));
    EXPECT_NE(std::string(e.what()).find("stream 'a' is at version 1, expected 7"), std::string::npos)
        << e.what();
  }
  t.join();
  io_.restart();

  std::optional<append_error> thrown;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        std::vector<event_data> evs = events(1);
        evs[0].data = "{not json";
        try {
          co_await s.append("a", evs, expect::any, asio::use_awaitable);
        } catch (const append_error& e) {
          thrown.emplace(e);
        }
      },
      asio::detached);
  run();
  ASSERT_TRUE(thrown.has_value()) << "no append_error";
  EXPECT_EQ(thrown->code(), errc::invalid_event);
  EXPECT_EQ(thrown->result().detail, "event 0: data is not JSON");
}

// --- Errors of the other operations: with futures and coroutines an
// operation_error carrying the code and the detail; a callback taking
// (error_code, std::string) gets the detail too.

struct failure {
  boost::system::error_code code;
  std::string detail;
  std::string what;
};

// Expects `f` to hold `code` with `detail` in both its detail and what().
void expect_failure(const std::optional<failure>& f, boost::system::error_code code,
                    const std::string& detail) {
  ASSERT_TRUE(f.has_value()) << "no operation_error, expected " << code.message();
  EXPECT_EQ(f->code, code) << f->what;
  EXPECT_NE(f->detail.find(detail), std::string::npos) << f->detail;
  EXPECT_NE(f->what.find(detail), std::string::npos) << f->what;
}

TEST_P(completion_test, every_failing_operation_throws_an_operation_error_with_its_detail_into_the_future) {
  store s = open();
  auto c = s.consumer("a", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  auto sub = s.subscribe("a", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();
  auto step = [&](auto future) -> std::optional<failure> {
    std::thread t = run_elsewhere();
    const bool ready = future.wait_for(20s) == std::future_status::ready;
    if (!ready) io_.stop();
    t.join();
    io_.restart();
    EXPECT_TRUE(ready) << "the future was never set";
    try {
      future.get();
    } catch (const operation_error& e) {
      return failure{e.code(), e.detail(), e.what()};
    }
    return std::nullopt;
  };
  EXPECT_FALSE(step(s.append("a", events(1), expect::no_stream, asio::use_future)));
  expect_failure(step(c->commit(5, "{}", asio::use_future)), errc::invalid_argument,
                 "position 5 is beyond the 1 published events of 'a'");
  expect_failure(step(c->commit(1, "{not json", asio::use_future)), errc::invalid_event,
                 "the state is not JSON");
  expect_failure(step(s.create_read_stream("a", filter::event_types({"Tested"}), asio::use_future)),
                 errc::read_stream_exists, "'a' is the name of a write stream");
  EXPECT_FALSE(step(s.create_read_stream("tested", filter::event_types({"Tested"}), asio::use_future)));
  expect_failure(step(s.create_read_stream("tested", filter::event_types({"Other"}), asio::use_future)),
                 errc::read_stream_exists, "'tested' is a read stream with another filter");
  expect_failure(step(s.delete_read_stream("nope", asio::use_future)), errc::stream_not_found,
                 "there is no read stream 'nope'");
  EXPECT_FALSE(step(sub->next(asio::use_future)));  // the stored event, caught up
  EXPECT_FALSE(step(s.close(asio::use_future)));
  expect_failure(step(sub->next(asio::use_future)), errc::store_closed, "the store was closed");
}

TEST_P(completion_test,
       every_failing_operation_throws_an_operation_error_with_its_detail_into_the_coroutine) {
  store s = open();
  auto c = s.consumer("a", "mailer");
  ASSERT_TRUE(c) << c.error().message();
  auto sub = s.subscribe("a", {.from = 0});
  ASSERT_TRUE(sub) << sub.error().message();
  std::vector<std::optional<failure>> got;
  bool finished = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        // Runs one operation, records its operation_error (or none).
        auto attempt = [&](auto awaitable) -> asio::awaitable<void> {
          std::optional<failure> f;
          try {
            co_await std::move(awaitable);
          } catch (const operation_error& e) {
            f = failure{e.code(), e.detail(), e.what()};
          }
          got.push_back(std::move(f));
        };
        std::vector<event_data> evs = events(1);
        co_await s.append("a", evs, expect::no_stream, asio::use_awaitable);
        std::string state = "{}";
        co_await attempt(c->commit(5, state, asio::use_awaitable));
        filter tested = filter::event_types({"Tested"});
        filter other = filter::event_types({"Other"});
        co_await attempt(s.create_read_stream("a", tested, asio::use_awaitable));
        co_await attempt(s.create_read_stream("tested", tested, asio::use_awaitable));
        co_await attempt(s.create_read_stream("tested", other, asio::use_awaitable));
        co_await attempt(s.delete_read_stream("nope", asio::use_awaitable));
        co_await attempt(sub->next(asio::use_awaitable));
        co_await attempt(s.close(asio::use_awaitable));
        co_await attempt(sub->next(asio::use_awaitable));
        finished = true;
      },
      asio::detached);
  run();
  ASSERT_TRUE(finished);
  ASSERT_EQ(got.size(), 8u);
  expect_failure(got[0], errc::invalid_argument, "position 5 is beyond the 1 published events of 'a'");
  expect_failure(got[1], errc::read_stream_exists, "'a' is the name of a write stream");
  EXPECT_FALSE(got[2]);
  expect_failure(got[3], errc::read_stream_exists, "'tested' is a read stream with another filter");
  expect_failure(got[4], errc::stream_not_found, "there is no read stream 'nope'");
  EXPECT_FALSE(got[5]);
  EXPECT_FALSE(got[6]);
  expect_failure(got[7], errc::store_closed, "the store was closed");
}

// close() after a failed write: the I/O error with what failed, in each form.
TEST_P(completion_test, a_close_after_a_failed_write_reports_the_io_error_with_its_detail_in_every_form) {
  const auto eio = make_error_code(boost::system::errc::io_error);
  auto open_failing = [&](const std::string& dir) {
    auto faults = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
    auto s = store::open(io_.get_executor(),
                         {.directory = dir, .fsync_on_flush = GetParam().fsync, .file_system = faults});
    if (!s) throw std::runtime_error("open: " + s.error().message());
    faults->fail_operation(1, eio, true);
    return std::move(*s);
  };
  const std::string detail = "a flush, checkpoint or read-stream link write failed";
  {
    store s = open_failing("/callback");
    std::optional<failure> f;
    s.append("a", events(1), expect::any, [](boost::system::error_code, append_result) {});
    s.close([&](boost::system::error_code ec, std::string d) { f = failure{ec, d, d}; });
    run();
    io_.restart();
    expect_failure(f, eio, detail);
    EXPECT_NE(f->detail.find("closing the store in /callback"), std::string::npos) << f->detail;
    EXPECT_NE(f->detail.find("(errno 5)"), std::string::npos) << f->detail;
  }
  {
    store s = open_failing("/future");
    s.append("a", events(1), expect::any, [](boost::system::error_code, append_result) {});
    auto future = s.close(asio::use_future);
    std::thread t = run_elsewhere();
    std::optional<failure> f;
    try {
      future.get();
    } catch (const operation_error& e) {
      f = failure{e.code(), e.detail(), e.what()};
    }
    t.join();
    io_.restart();
    expect_failure(f, eio, detail);
  }
  {
    store s = open_failing("/coroutine");
    std::optional<failure> f;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          s.append("a", events(1), expect::any, [](boost::system::error_code, append_result) {});
          try {
            co_await s.close(asio::use_awaitable);
          } catch (const operation_error& e) {
            f = failure{e.code(), e.detail(), e.what()};
          }
        },
        asio::detached);
    run();
    expect_failure(f, eio, detail);
  }
}

// Callbacks keep (error_code); one that also takes a std::string gets the
// detail, on the same executor.
TEST_P(completion_test, a_callback_taking_a_string_gets_the_detail) {
  store s = open();
  std::optional<failure> two, one;
  s.delete_read_stream("nope", [&](boost::system::error_code ec, std::string d) { two = failure{ec, d, d}; });
  s.delete_read_stream("nope", [&](boost::system::error_code ec) { one = failure{ec, {}, {}}; });
  run();
  expect_failure(two, errc::stream_not_found, "there is no read stream 'nope'");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->code, errc::stream_not_found);
}

INSTANTIATE_TEST_SUITE_P(modes, completion_test,
                         ::testing::Values(mode{false, "buffered"}, mode{true, "fsync_on_flush"}),
                         [](const ::testing::TestParamInfo<mode>& p) { return p.param.name; });

}  // namespace
