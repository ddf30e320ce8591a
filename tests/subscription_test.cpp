// Live subscriptions: catch-up, the caught-up signal, live delivery, the
// switch between them under concurrent appends, cancellation and close.
#include "store/test_hooks.hpp"
#include "support/durability_test.hpp"
#include "support/gated_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/memory_file_system.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <random>
#include <stdexcept>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

struct next_outcome {
  boost::system::error_code ec;
  subscription_batch batch;
};

// Starts a next() whose outcome arrives in the returned future.
std::future<next_outcome> start_next(subscription& sub) {
  auto done = std::make_shared<std::promise<next_outcome>>();
  auto f = done->get_future();
  sub.next([done](boost::system::error_code ec, subscription_batch b) {
    done->set_value({ec, std::move(b)});
  });
  return f;
}

next_outcome next_wait(subscription& sub) {
  auto f = start_next(sub);
  if (f.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "next() did not complete";
    sub.cancel();
  }
  return f.get();
}

boost::system::error_code create_wait(store& s, const std::string& name, filter f) {
  std::promise<boost::system::error_code> done;
  s.create_read_stream(name, std::move(f), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto fut = done.get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

boost::system::error_code delete_wait(store& s, const std::string& name) {
  std::promise<boost::system::error_code> done;
  s.delete_read_stream(name, [&](boost::system::error_code ec) { done.set_value(ec); });
  auto fut = done.get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

// Whether read stream `name` has published `n` entries (in durable mode links
// are published after their fsync, which may come after create's completion).
bool has_entries(const store& s, const std::string& name, std::size_t n) {
  return wait_until([&] {
    auto page = s.read(name);
    return page && page->events.size() == n;
  });
}

std::vector<event_data> typed(const std::string& type, std::size_t n) {
  std::vector<event_data> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(make_event(type, "{}"));
  return v;
}

class subscription_test : public durability_test {};

INSTANTIATE_TEST_SUITE_P(modes, subscription_test, ::testing::Values(false, true), durability_name);

TEST_P(subscription_test, catches_up_signals_once_then_delivers_live_events) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "cart-1", make_events(5)).ec);
  auto sub = s.subscribe("cart-1", {.from = 2});
  ASSERT_TRUE(sub) << sub.error().message();

  auto first = next_wait(*sub);
  ASSERT_FALSE(first.ec);
  ASSERT_EQ(first.batch.events.size(), 3u);
  EXPECT_EQ(first.batch.events.front().version, 2u);
  EXPECT_EQ(first.batch.events.front().sequence, 2u);
  EXPECT_TRUE(first.batch.caught_up);
  EXPECT_EQ(first.batch.next, 5u);

  auto pending = start_next(*sub);
  EXPECT_EQ(pending.wait_for(50ms), std::future_status::timeout) << "nothing new: next() waits";
  ASSERT_FALSE(append_wait(s, "cart-1", make_events(2)).ec);
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  auto live = pending.get();
  ASSERT_FALSE(live.ec);
  ASSERT_EQ(live.batch.events.size(), 2u);
  EXPECT_EQ(live.batch.events[0].version, 5u);
  EXPECT_FALSE(live.batch.caught_up) << "caught-up is signalled once";
  EXPECT_EQ(sub->position(), 7u);
}

TEST_P(subscription_test, empty_catch_up_still_signals_caught_up) {
  store s = open();
  auto sub = s.subscribe("nothing-yet");
  ASSERT_TRUE(sub);
  auto first = next_wait(*sub);
  ASSERT_FALSE(first.ec);
  EXPECT_TRUE(first.batch.events.empty());
  EXPECT_TRUE(first.batch.caught_up);
  // The stream is created later: its first events arrive live.
  auto pending = start_next(*sub);
  ASSERT_FALSE(append_wait(s, "nothing-yet", make_events(1)).ec);
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  auto live = pending.get();
  ASSERT_EQ(live.batch.events.size(), 1u);
  EXPECT_EQ(live.batch.events[0].stream, "nothing-yet");
}

// Caught-up is one empty batch; after it, next() waits for new events rather
// than answering with another empty batch (a busy loop for every subscriber).
TEST_P(subscription_test, after_an_empty_caught_up_batch_next_waits_for_new_events) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "w", make_events(2)).ec);
  auto sub = s.subscribe("w", {.from = from_end});
  ASSERT_TRUE(sub);
  auto first = next_wait(*sub);
  ASSERT_FALSE(first.ec);
  EXPECT_TRUE(first.batch.events.empty());
  EXPECT_TRUE(first.batch.caught_up);
  auto pending = start_next(*sub);
  EXPECT_EQ(pending.wait_for(50ms), std::future_status::timeout) << "nothing new: next() waits";
  ASSERT_FALSE(append_wait(s, "w", make_events(1)).ec);
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  auto live = pending.get();
  ASSERT_FALSE(live.ec);
  ASSERT_EQ(live.batch.events.size(), 1u);
  EXPECT_EQ(live.batch.events[0].version, 2u);
  EXPECT_FALSE(live.batch.caught_up);
}

TEST_P(subscription_test, from_end_delivers_only_new_events) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(3)).ec);
  auto sub = s.subscribe("a", {.from = from_end});
  ASSERT_TRUE(sub);
  EXPECT_TRUE(next_wait(*sub).batch.caught_up);
  ASSERT_FALSE(append_wait(s, "a", make_events(1)).ec);
  auto live = next_wait(*sub);
  ASSERT_EQ(live.batch.events.size(), 1u);
  EXPECT_EQ(live.batch.events[0].version, 3u);
}

TEST_P(subscription_test, all_subscription_sees_every_stream_in_position_order) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(2)).ec);
  ASSERT_FALSE(append_wait(s, "b", make_events(1)).ec);
  auto sub = s.subscribe("$all", {.max_batch = 2});
  ASSERT_TRUE(sub);
  auto one = next_wait(*sub);
  ASSERT_EQ(one.batch.events.size(), 2u) << "max_batch bounds a batch";
  EXPECT_FALSE(one.batch.caught_up);
  auto two = next_wait(*sub);
  ASSERT_EQ(two.batch.events.size(), 1u);
  EXPECT_EQ(two.batch.events[0].stream, "b");
  EXPECT_EQ(two.batch.events[0].sequence, 2u);
  EXPECT_TRUE(two.batch.caught_up);
  ASSERT_FALSE(append_wait(s, "c", make_events(1)).ec);
  auto live = next_wait(*sub);
  ASSERT_EQ(live.batch.events.size(), 1u);
  EXPECT_EQ(live.batch.events[0].position, 3u);
}

// max_bytes bounds a batch by its events' sizes: a subscriber from 0 over
// large events never gets (nor reads) them all at once, one event larger than
// the limit still comes alone, and every event comes once, in order.
TEST_P(subscription_test, a_batch_is_bounded_by_max_bytes_and_holds_at_least_one_event) {
  store s = open();
  std::vector<event_data> events;
  for (int i = 0; i < 12; ++i) {
    const std::size_t size = i == 7 ? 20'000 : 1'000;  // one larger than the limit
    events.push_back({.type = "Big", .data = "\"" + std::string(size, 'a' + i % 26) + "\""});
  }
  ASSERT_FALSE(append_wait(s, "big", events).ec);
  for (const std::string stream : {"big", "$all"}) {
    auto sub = s.subscribe(stream, {.from = 0, .max_batch = 256, .max_bytes = 4'000});
    ASSERT_TRUE(sub);
    std::vector<std::uint64_t> seen;
    bool caught_up = false;
    for (int batches = 0; !caught_up; ++batches) {
      ASSERT_LT(batches, 100) << stream << ": no progress";
      auto got = next_wait(*sub);
      ASSERT_FALSE(got.ec) << got.ec.message();
      std::size_t bytes = 0;  // stored record sizes, as subscription_options::max_bytes counts them
      for (const auto& e : got.batch.events) {
        seen.push_back(e.sequence);
        bytes += e.type.size() + e.data.size() + e.metadata.size() + 84;
      }
      caught_up = got.batch.caught_up;
      if (got.batch.events.size() > 1) {
        EXPECT_LE(bytes, 4'000u) << stream << ": a batch over max_bytes";
      }
      if (!got.batch.events.empty() && got.batch.events.front().data.size() > 4'000) {
        EXPECT_EQ(got.batch.events.size(), 1u) << stream << ": an event over the limit comes alone";
      }
      ASSERT_LE(seen.size(), 12u);
    }
    std::vector<std::uint64_t> want(12);
    for (std::uint64_t i = 0; i < 12; ++i) want[i] = i;
    EXPECT_EQ(seen, want) << stream;
  }
}

#if defined(EVSTORE_TEST_HOOKS)
// The lost wake-up, forced: the subscriber has found nothing new and is about
// to park when an append publishes its event. Whichever comes first, the
// subscriber must get the event (it sees the count, or the publisher wakes it).
TEST_P(subscription_test, event_published_while_the_subscriber_parks_still_wakes_it) {
  // No system streams, so no indexer: its own waiter on $all would send the
  // writer through notify() anyway and hide a lost wake-up.
  store s = open({.system_streams = false});
  // The writer, after publishing an event, has looked for waiters (and, if it
  // found one, is about to wake it): the event count it published then.
  std::atomic<std::uint64_t> checked{0};
  detail::scoped_test_point writer("writer.notify_subscribers.checked", [&] { checked = s.event_count(); });
  ASSERT_FALSE(append_wait(s, "parking", make_events(1)).ec);
  // The writer calls an append's handler before it looks for waiters to wake.
  // Had it not looked yet when the subscriber below parks, it would find it
  // counted and block in notify() on the lock `hold` keeps, and the second
  // append would queue behind it until `hold` gave up waiting for it.
  ASSERT_TRUE(wait_until([&] { return checked.load() == 1; }));
  io_thread subscriber;  // parks on its own thread while the writer runs on the fixture's
  auto sub = s.subscribe("parking", {}, subscriber.executor());
  ASSERT_TRUE(sub);
  ASSERT_TRUE(next_wait(*sub).batch.caught_up);

  std::atomic<bool> held{false};
  bool published = false;
  detail::scoped_test_point hold("notifier.wait.not_ready", [&] {
    if (held.exchange(true)) return;
    // A new event is published while this thread stands between its check
    // and its parking.
    s.append("parking", make_events(1), expect::any, [](boost::system::error_code, append_result) {});
    published = wait_until([&] { return checked.load() == 2; });
  });
  auto live = start_next(*sub);
  ASSERT_EQ(live.wait_for(5s), std::future_status::ready)
      << "the subscriber parked with the event undelivered";
  EXPECT_TRUE(held);
  EXPECT_TRUE(published);
  auto got = live.get();
  EXPECT_FALSE(got.ec);
  ASSERT_EQ(got.batch.events.size(), 1u);
  EXPECT_EQ(got.batch.events[0].version, 1u);
  // The writer may still be inside the post that woke the subscriber (Asio
  // signals after unlocking): close the store, which waits for the writer,
  // before the subscriber's io_context goes.
  EXPECT_FALSE(close_wait(s));
}
#endif

// The switch from catch-up to live: appends run on other threads at random
// moments while subscribers start at random points and read at random speeds.
// Every subscriber must see every event from its start exactly once, in order.
TEST_P(subscription_test, switch_to_live_under_concurrent_appends_loses_and_repeats_nothing) {
  constexpr int rounds = 40;
  constexpr std::uint64_t events_per_round = 400;
  std::mt19937_64 rng(GetParam() ? 7 : 11);
  for (int round = 0; round < rounds; ++round) {
    temp_dir dir;
    io_thread io;
    auto opened = store::open(io.executor(), {.directory = dir.sub("s"), .fsync_on_flush = GetParam()});
    ASSERT_TRUE(opened);
    store& s = *opened;
    const std::string stream = "round-" + std::to_string(round);
    const std::uint64_t preloaded = rng() % 100;
    if (preloaded > 0) {
      ASSERT_FALSE(append_wait(s, stream, make_events(preloaded)).ec);
    }

    std::atomic<bool> appending{true};
    std::thread writer([&, seed = rng()] {
      std::mt19937_64 r(seed);
      std::uint64_t written = preloaded;
      while (written < events_per_round) {
        const std::uint64_t n = std::min<std::uint64_t>(1 + r() % 7, events_per_round - written);
        // Several appends in one tick, sometimes: they share a flush.
        std::vector<std::future<void>> done;
        const int burst = 1 + static_cast<int>(r() % 3);
        std::vector<std::promise<void>> ps(static_cast<std::size_t>(burst));
        for (auto& p : ps) done.push_back(p.get_future());
        boost::asio::post(io.executor(), [&, n, burst] {
          for (int b = 0; b < burst; ++b) {
            s.append(stream, make_events(n), expect::any,
                     [p = &ps[static_cast<std::size_t>(b)]](boost::system::error_code, append_result) {
                       p->set_value();
                     });
          }
        });
        for (auto& d : done) d.wait();
        written += n * static_cast<std::uint64_t>(burst);
        if (r() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(r() % 500));
      }
      appending = false;
    });

    struct reader_result {
      std::uint64_t start = 0;
      std::vector<std::uint64_t> versions;
      int caught_up_signals = 0;
      std::string problem;
    };
    std::vector<reader_result> results(4);
    std::vector<std::thread> readers;
    for (std::size_t k = 0; k < results.size(); ++k) {
      readers.emplace_back([&, k, seed = rng()] {
        std::mt19937_64 r(seed);
        std::this_thread::sleep_for(std::chrono::microseconds(r() % 2000));
        reader_result& out = results[k];
        out.start = r() % 50;
        auto sub = s.subscribe(stream, {.from = out.start, .max_batch = 1 + r() % 64});
        if (!sub) {
          out.problem = sub.error().message();
          return;
        }
        for (;;) {
          auto f = start_next(*sub);
          // Wait in slices: once the writer is done and everything is
          // delivered, a waiting next() is the expected end.
          const auto deadline = std::chrono::steady_clock::now() + 10s;
          while (f.wait_for(5ms) != std::future_status::ready) {
            const bool done = !appending.load() && sub->position() >= **s.stream_version(stream) + 1;
            if (done || std::chrono::steady_clock::now() > deadline) {
              if (!done) out.problem = "next() stalled at " + std::to_string(sub->position());
              sub->cancel();
              // position() moves when a batch completes, before its handler
              // runs: the last batch may be in `f` already. Keep it.
              auto last = f.get();
              if (!last.ec) {
                out.caught_up_signals += last.batch.caught_up ? 1 : 0;
                for (const auto& e : last.batch.events) out.versions.push_back(e.version);
              }
              return;
            }
          }
          auto o = f.get();
          if (o.ec) {
            out.problem = o.ec.message();
            return;
          }
          out.caught_up_signals += o.batch.caught_up ? 1 : 0;
          for (const auto& e : o.batch.events) out.versions.push_back(e.version);
          if (r() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(r() % 300));
        }
      });
    }
    writer.join();
    for (auto& t : readers) t.join();
    const std::uint64_t final_count =
        s.read(stream, {.from = from_end, .max_count = 1, .direction = direction::backward})
            ->events.front()
            .version +
        1;
    for (const reader_result& res : results) {
      ASSERT_EQ(res.problem, "") << "round " << round;
      ASSERT_EQ(res.versions.size(), final_count - res.start) << "round " << round << " start " << res.start;
      for (std::size_t i = 0; i < res.versions.size(); ++i) {
        ASSERT_EQ(res.versions[i], res.start + i) << "round " << round << ": gap or duplicate";
      }
      EXPECT_EQ(res.caught_up_signals, 1) << "round " << round;
    }
  }
}

TEST_P(subscription_test, cancel_completes_a_waiting_next_promptly) {
  store s = open();
  auto sub = s.subscribe("a");
  ASSERT_TRUE(sub);
  EXPECT_TRUE(next_wait(*sub).batch.caught_up);
  auto pending = start_next(*sub);
  EXPECT_EQ(pending.wait_for(20ms), std::future_status::timeout);
  sub->cancel();
  ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(pending.get().ec, boost::asio::error::operation_aborted);
  // A cancelled subscription stays cancelled.
  EXPECT_EQ(next_wait(*sub).ec, boost::asio::error::operation_aborted);
}

TEST_P(subscription_test, destroying_the_subscription_aborts_its_next) {
  store s = open();
  std::future<next_outcome> pending;
  {
    auto sub = s.subscribe("a", {.from = from_end});
    ASSERT_TRUE(sub);
    EXPECT_TRUE(next_wait(*sub).batch.caught_up);
    pending = start_next(*sub);
  }
  ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(pending.get().ec, boost::asio::error::operation_aborted);
}

#if defined(EVSTORE_TEST_HOOKS)
// notify() takes a stream's waiters off its list, then wakes them one by one.
// A subscription destroyed in between finds no waiter to cancel: its pending
// next() must still complete, exactly once, with operation_aborted (a
// coroutine awaiting it resumes, a future gets no broken_promise).
TEST_P(subscription_test, subscription_destroyed_while_being_woken_still_aborts_its_next) {
  store s = open({.system_streams = false});
  std::optional<subscription> sub;
  {
    auto r = s.subscribe("a", {.from = from_end});
    ASSERT_TRUE(r);
    sub.emplace(std::move(*r));
  }
  EXPECT_TRUE(next_wait(*sub).batch.caught_up);
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto done = std::make_shared<std::promise<boost::system::error_code>>();
  auto pending = done->get_future();
  std::atomic<bool> destroyed{false};
  detail::scoped_test_point between("notifier.notify.taken", [&] {
    if (!destroyed.exchange(true)) sub.reset();  // on the writer's thread, its waiter already taken
  });
  std::atomic<bool> parking{false};
  detail::scoped_test_point park("notifier.wait.not_ready", [&] { parking = true; });
  sub->next([done, calls](boost::system::error_code ec, subscription_batch) {
    if (calls->fetch_add(1) == 0) done->set_value(ec);
  });
  // Registered under the notifier's lock it holds now: the append's notify() finds it.
  ASSERT_TRUE(wait_until([&] { return parking.load(); }));
  ASSERT_FALSE(append_wait(s, "a", make_events(1)).ec);
  ASSERT_TRUE(wait_until([&] { return destroyed.load(); }));
  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready) << "the pending next() never completed";
  boost::system::error_code ec;
  ASSERT_NO_THROW(ec = pending.get()) << "its handler was destroyed without being called";
  EXPECT_EQ(ec, boost::asio::error::operation_aborted);
  EXPECT_FALSE(close_wait(s));
  EXPECT_EQ(calls->load(), 1);
}
#endif

// The callback form's promise (store.hpp): every batch until an error ends
// it, operation_aborted once cancelled or destroyed, even when destroyed with
// a batch already on its way to the callback.
TEST_P(subscription_test, callback_form_ends_with_operation_aborted_when_destroyed_with_a_batch_on_its_way) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(3)).ec);
  boost::asio::io_context own;  // the subscription's executor, run here step by step
  std::vector<boost::system::error_code> seen;
  std::optional<subscription> sub;
  {
    auto r =
        s.subscribe("a", {.max_batch = 1}, own.get_executor(),
                    [&](boost::system::error_code ec, const subscription_batch&) { seen.push_back(ec); });
    ASSERT_TRUE(r);
    sub.emplace(std::move(*r));
  }
  ASSERT_EQ(own.run_one(), 1u);  // the first attempt: reads a batch and posts its delivery
  sub.reset();
  own.restart();
  own.run_for(1s);  // returns early once the subscription holds no more work
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0]);
  EXPECT_EQ(seen[1], boost::asio::error::operation_aborted);
}

TEST_P(subscription_test, close_delivers_what_is_stored_then_ends_with_store_closed) {
  store s = open();
  auto sub = s.subscribe("a");
  ASSERT_TRUE(sub);
  EXPECT_TRUE(next_wait(*sub).batch.caught_up);
  auto pending = start_next(*sub);
  ASSERT_FALSE(append_wait(s, "a", make_events(2)).ec);
  ASSERT_FALSE(close_wait(s));
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(pending.get().batch.events.size(), 2u);
  EXPECT_EQ(next_wait(*sub).ec, errc::store_closed);
}

TEST_P(subscription_test, callback_form_receives_batches_until_cancelled) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(3)).ec);
  std::mutex m;
  std::vector<std::uint64_t> seen;
  int caught_up = 0;
  std::promise<boost::system::error_code> ended;
  auto sub = s.subscribe("a", {}, [&](boost::system::error_code ec, const subscription_batch& b) {
    std::lock_guard lock(m);
    if (ec) return ended.set_value(ec);
    caught_up += b.caught_up ? 1 : 0;
    for (const auto& e : b.events) seen.push_back(e.version);
  });
  ASSERT_TRUE(sub);
  ASSERT_FALSE(append_wait(s, "a", make_events(2)).ec);
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(m);
    return seen.size() == 5;
  }));
  sub->cancel();
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get(), boost::asio::error::operation_aborted);
  std::lock_guard lock(m);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(caught_up, 1);
}

TEST_P(subscription_test, callback_form_runs_on_the_executor_it_is_given) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(2)).ec);
  io_thread own;
  std::promise<bool> on_own_thread;
  std::atomic<bool> once{false};
  auto sub =
      s.subscribe("a", {}, own.executor(), [&](boost::system::error_code ec, const subscription_batch&) {
        if (!ec && !once.exchange(true))
          on_own_thread.set_value(own.context().get_executor().running_in_this_thread());
      });
  ASSERT_TRUE(sub);
  auto f = on_own_thread.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  sub->cancel();
}

// The coroutine form: co_await next(use_awaitable) in a loop.
TEST_P(subscription_test, coroutine_form_reads_batches_with_co_await) {
  store s = open();
  ASSERT_FALSE(append_wait(s, "a", make_events(3)).ec);
  auto sub = s.subscribe("a", {.max_batch = 2});
  ASSERT_TRUE(sub);
  std::promise<std::vector<std::uint64_t>> result;
  boost::asio::co_spawn(
      io_.executor(),
      [&]() -> boost::asio::awaitable<void> {
        std::vector<std::uint64_t> versions;
        for (;;) {
          subscription_batch b = co_await sub->next(boost::asio::use_awaitable);
          for (const auto& e : b.events) versions.push_back(e.version);
          if (b.caught_up) break;
        }
        result.set_value(versions);
      },
      boost::asio::detached);
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), (std::vector<std::uint64_t>{0, 1, 2}));
}

// A subscriber of a read stream that is deleted is told so: a parked next()
// ends with stream_deleted instead of waiting for entries that never come.
TEST_P(subscription_test, deleting_a_read_stream_ends_its_parked_subscriber_with_stream_deleted) {
  store s = open({.system_streams = false});
  ASSERT_FALSE(append_wait(s, "order-1", typed("Paid", 2)).ec);
  ASSERT_FALSE(create_wait(s, "paid", filter::event_types({"Paid"})));
  ASSERT_TRUE(has_entries(s, "paid", 2));
  auto sub = s.subscribe("paid");
  ASSERT_TRUE(sub);
  auto first = next_wait(*sub);
  ASSERT_FALSE(first.ec);
  EXPECT_EQ(first.batch.events.size(), 2u);
  EXPECT_TRUE(first.batch.caught_up);
  auto pending = start_next(*sub);
  EXPECT_EQ(pending.wait_for(20ms), std::future_status::timeout);
  ASSERT_FALSE(delete_wait(s, "paid"));
  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready)
      << "the subscriber of a deleted read stream waits forever";
  EXPECT_EQ(pending.get().ec, errc::stream_deleted);
  // It stays ended.
  EXPECT_EQ(next_wait(*sub).ec, errc::stream_deleted);
}

// Deleted and re-created under the same name while the subscriber was not
// waiting: the new read stream is another stream (its entries are numbered
// from 0 again); the old subscriber must not silently continue inside it.
TEST_P(subscription_test, subscriber_of_a_deleted_read_stream_does_not_continue_in_its_recreation) {
  store s = open({.system_streams = false});
  ASSERT_FALSE(append_wait(s, "order-1", typed("Paid", 2)).ec);
  ASSERT_FALSE(create_wait(s, "paid", filter::event_types({"Paid"})));
  ASSERT_TRUE(has_entries(s, "paid", 2));
  auto sub = s.subscribe("paid");
  ASSERT_TRUE(sub);
  ASSERT_FALSE(next_wait(*sub).ec);
  ASSERT_FALSE(delete_wait(s, "paid"));
  ASSERT_FALSE(append_wait(s, "order-2", typed("Paid", 3)).ec);
  ASSERT_FALSE(create_wait(s, "paid", filter::event_types({"Paid"})));
  ASSERT_TRUE(has_entries(s, "paid", 5));
  EXPECT_EQ(next_wait(*sub).ec, errc::stream_deleted);
  // A new subscription follows the new read stream.
  auto fresh = s.subscribe("paid");
  ASSERT_TRUE(fresh);
  auto got = next_wait(*fresh);
  ASSERT_FALSE(got.ec);
  EXPECT_EQ(got.batch.events.size(), 5u);
}

TEST_P(subscription_test, invalid_stream_name_is_refused) {
  store s = open();
  auto sub = s.subscribe("");
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code, errc::invalid_stream_name);
}

// In durable mode an event is delivered only once its journal frame is
// fsynced: a subscriber can never act on an event a power loss takes back.
TEST(subscription, durable_mode_delivers_only_after_the_fsync) {
  auto mem = std::make_shared<memory_file_system>();
  auto gated = std::make_shared<gated_file_system>(mem);
  io_thread io;
  auto s = store::open(io.executor(), {.directory = "/s", .fsync_on_flush = true, .file_system = gated});
  ASSERT_TRUE(s) << s.error().message();
  const gate_opener open_gate_on_exit{*gated};
  auto sub = s->subscribe("a");
  ASSERT_TRUE(sub);
  EXPECT_TRUE(next_wait(*sub).batch.caught_up);
  auto pending = start_next(*sub);
  gated->close_gate();
  std::atomic<bool> acked{false};
  s->append("a", make_events(1), expect::any,
            [&](boost::system::error_code, append_result) { acked = true; });
  ASSERT_TRUE(gated->wait_until_waiting());
  // The frame is written, its fdatasync has not returned.
  EXPECT_EQ(pending.wait_for(100ms), std::future_status::timeout);
  EXPECT_FALSE(acked.load());
  gated->open_gate();
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(pending.get().batch.events.size(), 1u);
  EXPECT_TRUE(acked.load());
}

}  // namespace
