// Behaviour of the public store API: expected versions, idempotent retries,
// validation, reads in every direction, batching, concurrency.
#include "store/test_hooks.hpp"
#include "support/durability_test.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/memory_file_system.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;

namespace {

class store_test : public durability_test {};

}  // namespace

TEST_P(store_test, no_stream_succeeds_once_then_conflicts_with_actual_version) {
  auto s = open();
  auto first = append_wait(s, "order-1", make_events(2), expect::no_stream);
  ASSERT_FALSE(first.ec);
  EXPECT_TRUE(first.result.created_stream);
  auto second = append_wait(s, "order-1", make_events(1), expect::no_stream);
  EXPECT_EQ(second.ec, errc::wrong_expected_version);
  ASSERT_TRUE(second.result.actual.has_value());
  EXPECT_EQ(*second.result.actual, 1u);
  EXPECT_EQ(second.result.expected, expect::no_stream);
}

TEST_P(store_test, stream_exists_fails_on_missing_stream_and_succeeds_after_creation) {
  auto s = open();
  auto missing = append_wait(s, "a-1", make_events(1), expect::stream_exists);
  EXPECT_EQ(missing.ec, errc::wrong_expected_version);
  EXPECT_FALSE(missing.result.actual.has_value());
  ASSERT_FALSE(append_wait(s, "a-1", make_events(1), expect::any).ec);
  auto ok = append_wait(s, "a-1", make_events(1), expect::stream_exists);
  ASSERT_FALSE(ok.ec);
  EXPECT_EQ(ok.result.version, 1u);
  EXPECT_FALSE(ok.result.created_stream);
}

TEST_P(store_test, exact_version_must_match_last_version) {
  auto s = open();
  EXPECT_EQ(append_wait(s, "x", make_events(1), expect::exactly(0)).ec, errc::wrong_expected_version);
  ASSERT_FALSE(append_wait(s, "x", make_events(3), expect::no_stream).ec);
  auto stale = append_wait(s, "x", make_events(1), expect::exactly(1));
  EXPECT_EQ(stale.ec, errc::wrong_expected_version);
  EXPECT_EQ(stale.result.actual, 2u);
  auto ok = append_wait(s, "x", make_events(1), expect::exactly(2));
  ASSERT_FALSE(ok.ec);
  EXPECT_EQ(ok.result.version, 3u);
}

TEST_P(store_test, rejected_append_leaves_no_trace) {
  // Emmett's pitfall: a stale append bumped the version and poisoned the stream.
  auto s = open();
  ASSERT_FALSE(append_wait(s, "cart", make_events(1), expect::no_stream).ec);
  EXPECT_EQ(append_wait(s, "cart", make_events(2), expect::exactly(5)).ec, errc::wrong_expected_version);
  EXPECT_EQ(append_wait(s, "cart", {make_event("")}, expect::any).ec, errc::invalid_event);
  auto ok = append_wait(s, "cart", make_events(1), expect::exactly(0));
  ASSERT_FALSE(ok.ec);
  EXPECT_EQ(ok.result.version, 1u);
  EXPECT_EQ(s.event_count(), 2u);
  auto page = s.read("cart");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->events.size(), 2u);
}

TEST_P(store_test, concurrent_appenders_on_one_expected_version_exactly_one_wins) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "race", make_events(1), expect::no_stream).ec);
  constexpr int racers = 16;
  std::atomic<int> wins{0}, conflicts{0}, done{0};
  for (int i = 0; i < racers; ++i) {
    s.append("race", make_events(1), expect::exactly(0), [&](boost::system::error_code ec, append_result r) {
      if (!ec) ++wins;
      if (ec == errc::wrong_expected_version && r.actual == 1u) ++conflicts;
      ++done;
    });
  }
  ASSERT_TRUE(wait_until([&] { return done == racers; }));
  EXPECT_EQ(wins, 1);
  EXPECT_EQ(conflicts, racers - 1);
}

TEST_P(store_test, retry_with_same_ids_returns_first_result_without_duplicates) {
  auto s = open();
  const auto a = random_id(), b = random_id();
  std::vector<event_data> batch = {make_event("A", "{}", a), make_event("B", "{}", b)};
  auto first = append_wait(s, "pay-1", batch, expect::no_stream);
  ASSERT_FALSE(first.ec);
  ASSERT_FALSE(append_wait(s, "pay-1", make_events(1), expect::any).ec);
  auto retry = append_wait(s, "pay-1", batch, expect::no_stream);
  ASSERT_FALSE(retry.ec) << retry.ec.message();
  EXPECT_TRUE(retry.result.duplicate);
  EXPECT_EQ(retry.result.version, first.result.version);
  EXPECT_EQ(retry.result.position, first.result.position);
  EXPECT_TRUE(retry.result.created_stream);
  EXPECT_EQ(s.event_count(), 3u);
  // Only a retry of the whole append counts: one of its ids alone is refused
  // (append_repeating_some_ids_of_a_recent_append_is_refused_not_stored_twice).
  auto partial = append_wait(s, "pay-1", {make_event("A", "{}", a)}, expect::any);
  EXPECT_EQ(partial.ec, make_error_code(errc::duplicate_event_id));
  EXPECT_FALSE(partial.result.duplicate);
  EXPECT_EQ(s.event_count(), 3u);
}

// The idempotency window is a ring: a retried append's events may wrap around
// its end. A window of 6 (a ring of 8) and 0..23 events before the append put
// the append at every offset of the ring.
TEST_P(store_test, retry_of_a_multi_event_append_reports_its_versions_wherever_it_lies_in_the_window) {
  auto s = open({.idempotency_window = 6});
  for (int before = 0; before < 24; ++before) {
    const std::string stream = "retry-" + std::to_string(before);
    for (int i = 0; i < before; ++i) {
      ASSERT_FALSE(append_wait(s, stream, {make_event("Before", "{}", random_id())}).ec);
    }
    std::vector<event_data> batch;
    for (int i = 0; i < 4; ++i) batch.push_back(make_event("Batch", "{}", random_id()));
    auto first = append_wait(s, stream, batch, expect::any);
    ASSERT_FALSE(first.ec);
    auto retry = append_wait(s, stream, batch, expect::any);
    ASSERT_FALSE(retry.ec) << retry.ec.message();
    EXPECT_TRUE(retry.result.duplicate);
    EXPECT_EQ(retry.result.first_version, first.result.first_version) << before;
    EXPECT_EQ(retry.result.version, first.result.version) << before;
    EXPECT_EQ(retry.result.first_position, first.result.first_position) << before;
    EXPECT_EQ(retry.result.position, first.result.position) << before;
  }
}

// A retry is the whole append again: ids that only start like a recent
// append (same first id, a different later one) are a new append, written in
// full (README, "Idempotent retries"); reporting it as a duplicate would drop
// the events whose ids differ while answering success.
// An event id names one event: an append that repeats some ids of a recent
// append but is not a retry of it (another event under a known id) would
// store one id twice. It is refused, whichever of its ids repeats.
TEST_P(store_test, append_repeating_some_ids_of_a_recent_append_is_refused_not_stored_twice) {
  auto s = open();
  const auto a = random_id(), b = random_id(), c = random_id();
  auto first =
      append_wait(s, "pay-2", {make_event("A", "{}", a), make_event("B", "{}", b)}, expect::no_stream);
  ASSERT_FALSE(first.ec) << first.ec.message();
  // The first id matches, a later one differs.
  auto second = append_wait(s, "pay-2", {make_event("A", "{}", a), make_event("C", "{}", c)}, expect::any);
  EXPECT_EQ(second.ec, make_error_code(errc::duplicate_event_id));
  EXPECT_FALSE(second.result.duplicate);
  EXPECT_NE(second.result.detail.find("pay-2"), std::string::npos) << second.result.detail;
  // A later id matches, the first is new.
  auto third = append_wait(s, "pay-2", {make_event("C", "{}", c), make_event("B", "{}", b)}, expect::any);
  EXPECT_EQ(third.ec, make_error_code(errc::duplicate_event_id));
  // A prefix of the recent append is not the append either.
  auto fourth = append_wait(s, "pay-2", {make_event("A", "{}", a)}, expect::any);
  EXPECT_EQ(fourth.ec, make_error_code(errc::duplicate_event_id));
  EXPECT_EQ(s.event_count(), 2u);
  // The whole append again is still a retry.
  auto retry = append_wait(s, "pay-2", {make_event("A", "{}", a), make_event("B", "{}", b)}, expect::any);
  ASSERT_FALSE(retry.ec) << retry.ec.message();
  EXPECT_TRUE(retry.result.duplicate);
  EXPECT_EQ(retry.result.version, 1u);
  // The same holds when the window is reloaded from disk after a reopen.
  ASSERT_FALSE(close_wait(s));
  auto again = open();
  auto after_reopen = append_wait(
      again, "pay-2", {make_event("A", "{}", a), make_event("D", "{}", random_id())}, expect::any);
  EXPECT_EQ(after_reopen.ec, make_error_code(errc::duplicate_event_id));
  auto page = again.read("pay-2");
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[1].id, b);
  // New ids are written as ever.
  auto fresh = append_wait(again, "pay-2", {make_event("C", "{}", c)}, expect::any);
  ASSERT_FALSE(fresh.ec) << fresh.ec.message();
  EXPECT_EQ(fresh.result.version, 2u);
}

// A retry is the same events again, not only the same ids: an append whose
// ids are exactly a recent append's but whose type, data or metadata differ
// is refused (answering it as a duplicate would drop its content while
// saying it is stored), before and after a reopen.
TEST_P(store_test, append_reusing_recent_ids_with_other_content_is_refused_not_answered_as_a_duplicate) {
  auto s = open();
  const auto a = random_id(), b = random_id();
  ASSERT_FALSE(append_wait(s, "pay-3", {make_event("A", R"({"total":1})", a), make_event("B", "{}", b)}).ec);
  const std::vector<std::vector<event_data>> others = {
      {make_event("A", R"({"total":2})", a), make_event("B", "{}", b)},  // other data
      {make_event("A", R"({"total":1})", a), make_event("C", "{}", b)},  // other type
      {make_event("A", R"({"total":1})", a), make_event("B", "", b)},    // data null
  };
  for (bool reopened : {false, true}) {
    if (reopened) {
      ASSERT_FALSE(close_wait(s));
      s = open();
    }
    for (const auto& other : others) {
      auto r = append_wait(s, "pay-3", other, expect::any);
      EXPECT_EQ(r.ec, make_error_code(errc::duplicate_event_id))
          << r.ec.message() << (reopened ? " (reopened)" : "");
      EXPECT_FALSE(r.result.duplicate);
    }
    auto meta = make_event("A", R"({"total":1})", a);
    meta.metadata = R"({"by":"x"})";
    EXPECT_EQ(append_wait(s, "pay-3", {meta, make_event("B", "{}", b)}).ec,
              make_error_code(errc::duplicate_event_id));
    // The same events again are still a retry.
    auto retry = append_wait(s, "pay-3", {make_event("A", R"({"total":1})", a), make_event("B", "{}", b)});
    ASSERT_FALSE(retry.ec) << retry.ec.message();
    EXPECT_TRUE(retry.result.duplicate);
    EXPECT_EQ(s.event_count(), 2u);
  }
}

TEST_P(store_test, append_naming_one_id_twice_is_refused) {
  auto s = open();
  const auto a = random_id();
  auto r = append_wait(s, "pay-3", {make_event("A", "{}", a), make_event("B", "{}", a)}, expect::any);
  EXPECT_EQ(r.ec, make_error_code(errc::invalid_event));
  EXPECT_NE(r.result.detail.find("twice"), std::string::npos) << r.result.detail;
  EXPECT_EQ(s.event_count(), 0u);
}

TEST_P(store_test, retry_is_recognised_after_reopen) {
  const auto id = random_id();
  append_result first;
  {
    auto s = open();
    auto r = append_wait(s, "inv-9", {make_event("Issued", "{\"n\":1}", id)}, expect::no_stream);
    ASSERT_FALSE(r.ec);
    first = r.result;
    ASSERT_FALSE(close_wait(s));
  }
  auto s = open();
  auto retry = append_wait(s, "inv-9", {make_event("Issued", "{\"n\":1}", id)}, expect::no_stream);
  ASSERT_FALSE(retry.ec) << retry.ec.message();
  EXPECT_TRUE(retry.result.duplicate);
  EXPECT_EQ(retry.result.position, first.position);
  EXPECT_EQ(s.event_count(), 1u);
}

// The writer keeps the state of the streams it appended to (next version,
// recent ids) in a bounded cache: a million aggregates must not cost a
// million states in memory. A stream that left the cache appends, checks its
// expected version and recognises a retry exactly as before, from the index.
TEST_P(store_test, writer_state_is_bounded_and_streams_that_left_it_append_and_retry_as_before) {
  constexpr std::size_t cache = 16;
  constexpr int streams = 300;
  auto s = open({.writer_stream_cache = cache});
  std::vector<append_result> first(streams);
  std::vector<std::vector<event_data>> appended(streams);
  std::size_t most = 0;
  for (int i = 0; i < streams; ++i) {
    appended[i] = {make_event("Opened", "{}", random_id()), make_event("Named", "{}", random_id())};
    auto r = append_wait(s, "agg-" + std::to_string(i), appended[i], expect::no_stream);
    ASSERT_FALSE(r.ec) << r.ec.message();
    first[i] = r.result;
    most = std::max<std::size_t>(most, s.statistics().writer_streams);
  }
  EXPECT_LE(most, 2 * cache);
  EXPECT_GT(most, 0u);
  for (int i = 0; i < streams; ++i) {
    const std::string name = "agg-" + std::to_string(i);
    auto retry = append_wait(s, name, appended[i], expect::no_stream);
    ASSERT_FALSE(retry.ec) << name << ": " << retry.ec.message();
    EXPECT_TRUE(retry.result.duplicate) << name;
    EXPECT_EQ(retry.result.first_position, first[i].first_position) << name;
    EXPECT_EQ(retry.result.version, 1u) << name;
    auto stale = append_wait(s, name, make_events(1), expect::no_stream);
    EXPECT_EQ(stale.ec, make_error_code(errc::wrong_expected_version)) << name;
    EXPECT_EQ(stale.result.actual, 1u) << name;
    auto next = append_wait(s, name, make_events(1), expect::exactly(1));
    ASSERT_FALSE(next.ec) << name << ": " << next.ec.message();
    EXPECT_EQ(next.result.version, 2u) << name;
  }
  EXPECT_LE(s.statistics().writer_streams, 2 * cache);
  EXPECT_EQ(s.event_count(), 3u * streams);
}

// A stream the writer does not hold in memory (here: every stream, after a
// reopen) costs a stream-index lookup on its next append. Its run block holds
// many streams: with the index cache a block is read and decoded once for all
// of them; without it (index_cache_bytes = 0) every lookup reads.
TEST_P(store_test, appends_to_streams_not_in_memory_read_each_index_block_once_with_the_index_cache) {
  constexpr int streams = 1500;
  std::uint64_t versions = 0;  // of each stream so far
  for (const std::size_t cache_bytes : {std::size_t{0}, std::size_t{32} << 20}) {
    SCOPED_TRACE("index_cache_bytes " + std::to_string(cache_bytes));
    {
      auto s = open({.index_cache_bytes = cache_bytes});
      for (int i = 0; i < streams; ++i) {
        const std::string name = "agg-" + std::to_string(i);
        auto r = append_wait(s, name, make_events(1),
                             versions == 0 ? expect::no_stream : expect::exactly(versions - 1));
        ASSERT_FALSE(r.ec) << name << ": " << r.ec.message();
      }
      ASSERT_FALSE(close_wait(s));  // the memtable goes to a run file
    }
    ++versions;
    auto s = open({.index_cache_bytes = cache_bytes});
    const std::uint64_t version = versions - 1;
    for (int i = 0; i < streams; ++i) {
      const std::string name = "agg-" + std::to_string(i);
      auto r = append_wait(s, name, make_events(1), expect::exactly(version));
      ASSERT_FALSE(r.ec) << name << ": " << r.ec.message();
      EXPECT_EQ(r.result.version, version + 1) << name;
    }
    const store_statistics st = s.statistics();
    if (cache_bytes == 0) {
      EXPECT_EQ(st.index_cache_hits + st.index_cache_misses, 0u);
      EXPECT_EQ(st.index_cache_bytes, 0u);
    } else {
      // ~150 streams a block: a few dozen blocks, each read once.
      EXPECT_GT(st.index_cache_misses, 0u);
      EXPECT_LT(st.index_cache_misses, streams / 20u);
      EXPECT_GE(st.index_cache_hits, streams - st.index_cache_misses);
      EXPECT_GT(st.index_cache_bytes, 0u);
      EXPECT_LE(st.index_cache_bytes, cache_bytes);
    }
    ASSERT_FALSE(close_wait(s));
    ++versions;
  }
}

namespace {

// Issues 3000 single-event appends over 8 streams without waiting (in waves
// of 50 with a pause between, or all at once), then checks that each
// stream's versions are 0..n-1 exactly once, in the results and on read.
void expect_versions_whole_after_a_burst(store& s, bool waves) {
  constexpr int appends = 3000;
  constexpr int streams = 8;
  std::mutex m;
  std::map<std::string, std::vector<std::uint64_t>> versions;
  std::atomic<int> done{0}, failed{0};
  for (int i = 0; i < appends; ++i) {
    if (waves && i % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    std::string stream = "busy-" + std::to_string(i % streams);
    s.append(stream, make_events(1), expect::any, [&, stream](boost::system::error_code ec, append_result r) {
      if (ec) {
        ++failed;
      } else {
        std::lock_guard lock(m);
        versions[stream].push_back(r.version);
      }
      ++done;
    });
  }
  ASSERT_TRUE(wait_until([&] { return done == appends; }));
  EXPECT_EQ(failed, 0);
  ASSERT_EQ(versions.size(), std::size_t{streams});
  for (auto& [stream, vs] : versions) {
    std::sort(vs.begin(), vs.end());
    for (std::size_t k = 0; k < vs.size(); ++k) ASSERT_EQ(vs[k], k) << stream << ": versions repeat or skip";
    auto page = s.read(stream);
    ASSERT_TRUE(page) << page.error().message();
    EXPECT_EQ(page->events.size(), vs.size()) << stream;
  }
  EXPECT_EQ(s.event_count(), std::uint64_t{appends});
}

}  // namespace

// Appends keep arriving while flushes run (durable: on the I/O thread), so
// batches waiting for their flush hold writer states when the cache is swept.
// Dropping one of those would give the stream's next append a version from
// the index, which lacks the pending appends: two events with one version.
TEST_P(store_test, writer_state_of_a_stream_with_appends_pending_is_never_dropped) {
  auto s = open({.writer_stream_cache = 1});
  expect_versions_whole_after_a_burst(s, true);
}

// An append that overflows the batch starts a flush before it is encoded (in
// buffered mode the flush, and the sweep after it, run inside the append):
// the state the append then writes to must survive that sweep.
TEST_P(store_test, a_flush_started_by_an_overflowing_append_keeps_that_appends_writer_state) {
  auto s = open({.flush_threshold_bytes = 2048, .writer_stream_cache = 1});
  expect_versions_whole_after_a_burst(s, false);
}

TEST_P(store_test, invalid_stream_names_are_rejected_and_create_no_files) {
  auto s = open();
  for (std::string name :
       {std::string(), std::string("../x"), std::string("a/b"), std::string("a\\b"), std::string("."),
        std::string(".."), std::string("$all"), std::string("$ce-x"), std::string("bad\x01name"),
        std::string(201, 'n'), std::string("nul\0x", 5), std::string("\xff\xfe")}) {
    EXPECT_EQ(append_wait(s, name, make_events(1)).ec, errc::invalid_stream_name) << name;
  }
  EXPECT_EQ(s.event_count(), 0u);
  EXPECT_EQ(s.stream_count(), 0u);
  EXPECT_EQ(s.read("../x").error().code, errc::invalid_stream_name);
}

TEST_P(store_test, invalid_events_are_rejected) {
  auto s = open({.max_event_bytes = 1024});
  EXPECT_EQ(append_wait(s, "e", {}).ec, errc::invalid_event);
  EXPECT_EQ(append_wait(s, "e", {make_event("")}).ec, errc::invalid_event);
  EXPECT_EQ(append_wait(s, "e", {make_event("T", "{not json")}).ec, errc::invalid_event);
  EXPECT_EQ(append_wait(s, "e", {make_event("T", "{} {}")}).ec, errc::invalid_event);
  EXPECT_EQ(append_wait(s, "e", {make_event("T\n", "{}")}).ec, errc::invalid_event);
  EXPECT_EQ(append_wait(s, "e", {make_event("T", "\"" + std::string(2000, 'x') + "\"")}).ec,
            errc::invalid_event);
  event_data bad_meta = make_event("T");
  bad_meta.metadata = "[1,";
  EXPECT_EQ(append_wait(s, "e", {bad_meta}).ec, errc::invalid_event);
  // One bad event rejects the whole append.
  auto mixed = make_events(3);
  mixed[2].data = "nope";
  EXPECT_EQ(append_wait(s, "e", mixed).ec, errc::invalid_event);
  EXPECT_EQ(s.event_count(), 0u);
  // Empty data is stored as null; metadata round-trips.
  event_data ok = make_event("T", "");
  ok.metadata = "{\"by\":\"test\"}";
  ASSERT_FALSE(append_wait(s, "e", {ok}).ec);
  auto page = s.read("e");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->events[0].data, "null");
  EXPECT_EQ(page->events[0].metadata, "{\"by\":\"test\"}");
}

TEST_P(store_test, reads_forward_backward_from_any_position) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "r", make_events(10)).ec);
  auto mid = s.read("r", {.from = 3, .max_count = 4});
  ASSERT_TRUE(mid);
  ASSERT_EQ(mid->events.size(), 4u);
  EXPECT_EQ(mid->events[0].version, 3u);
  EXPECT_EQ(mid->next, 7u);
  EXPECT_FALSE(mid->end);
  auto tail = s.read("r", {.from = 7, .max_count = 100});
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->events.size(), 3u);
  EXPECT_TRUE(tail->end);
  auto beyond = s.read("r", {.from = 50});
  ASSERT_TRUE(beyond);
  EXPECT_TRUE(beyond->events.empty());
  auto back = s.read("r", {.from = 5, .max_count = 3, .direction = direction::backward});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 3u);
  EXPECT_EQ(back->events[0].version, 5u);
  EXPECT_EQ(back->events[2].version, 3u);
  EXPECT_EQ(back->next, 2u);
  auto back_all = s.read("r", {.from = from_end, .direction = direction::backward});
  ASSERT_TRUE(back_all);
  ASSERT_EQ(back_all->events.size(), 10u);
  EXPECT_EQ(back_all->events.front().version, 9u);
  EXPECT_TRUE(back_all->end);
  EXPECT_EQ(s.read("missing").error().code, errc::stream_not_found);
}

TEST_P(store_test, all_is_in_global_order_across_streams) {
  auto s = open();
  for (int i = 0; i < 30; ++i) {
    ASSERT_FALSE(append_wait(s, "s-" + std::to_string(i % 4), make_events(1 + i % 3)).ec);
  }
  auto all = s.read("$all");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->events.size(), s.event_count());
  std::map<std::string, std::uint64_t> next_version;
  for (std::size_t i = 0; i < all->events.size(); ++i) {
    const auto& e = all->events[i];
    EXPECT_EQ(e.position, i);
    EXPECT_EQ(e.version, next_version[std::string(e.stream)]++);
  }
  auto back = s.read("$all", {.from = from_end, .max_count = 5, .direction = direction::backward});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 5u);
  EXPECT_EQ(back->events[0].position, s.event_count() - 1);
}

TEST_P(store_test, lazy_range_and_aggregate_visit_every_event_in_order) {
  auto s = open();
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(append_wait(s, "big", make_events(1000)).ec);
  std::uint64_t expected = 0;
  auto range = s.events("big");
  for (const recorded_event& e : range) EXPECT_EQ(e.version, expected++);
  EXPECT_FALSE(range.error());
  EXPECT_EQ(expected, 5000u);
  std::uint64_t back = 4999;
  for (const recorded_event& e : s.events("big", {.from = from_end, .direction = direction::backward})) {
    ASSERT_EQ(e.version, back);
    if (back > 0) --back;
  }
  auto count =
      s.aggregate("big", std::uint64_t{0}, [](std::uint64_t n, const recorded_event&) { return n + 1; });
  ASSERT_TRUE(count);
  EXPECT_EQ(count->state, 5000u);
  EXPECT_EQ(count->version, 4999u);
  auto none = s.aggregate("nothing", 7, [](int& n, const recorded_event&) { ++n; });
  ASSERT_FALSE(none) << "a stream with no events, as read() says";
  EXPECT_EQ(none.error().code, errc::stream_not_found);
}

// Events are values: one copied out of a page, a range or a subscription
// batch keeps its bytes (and its stream's name) after that page, range,
// batch or even the store are gone. Under AddressSanitizer a view into a
// freed page is a heap-use-after-free; without it, the reads that follow
// reuse the freed buffers and the views would show their bytes.
TEST_P(store_test, events_copied_out_of_pages_ranges_and_batches_own_their_bytes) {
  std::optional<store> s(open());
  std::vector<event_data> mine;
  for (int i = 0; i < 3; ++i)
    mine.push_back(make_event("Kept", R"({"kept":")" + std::string(40, char('a' + i)) + "\"}"));
  ASSERT_FALSE(append_wait(*s, "kept-1", mine).ec);
  std::vector<event_data> other;
  for (int i = 0; i < 3; ++i)
    other.push_back(make_event("Over", R"({"over":")" + std::string(40, 'z') + "\"}"));
  ASSERT_FALSE(append_wait(*s, "other-1", other).ec);

  std::vector<recorded_event> from_page = s->read("kept-1")->events;  // the page dies with this statement
  std::vector<recorded_event> from_all = s->read("$all", {.from = 0, .max_count = 3})->events;
  std::vector<recorded_event> from_range;
  for (const recorded_event& e : s->events("kept-1")) from_range.push_back(e);
  std::vector<recorded_event> from_batch;
  {
    auto sub = s->subscribe("kept-1");
    ASSERT_TRUE(sub) << sub.error().message();
    auto batch = sub->next(boost::asio::use_future).get();
    from_batch = batch.events;
  }
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->read("other-1"));
  s.reset();

  for (const auto* kept : {&from_page, &from_all, &from_range, &from_batch}) {
    ASSERT_EQ(kept->size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      const recorded_event& e = (*kept)[i];
      EXPECT_EQ(e.stream, "kept-1");
      EXPECT_EQ(e.type, "Kept");
      EXPECT_EQ(e.data, mine[i].data);
      EXPECT_EQ(e.version, i);
    }
  }
}

TEST_P(store_test, appends_issued_in_one_tick_share_one_flush) {
  auto s = open();
  std::atomic<int> done{0};
  constexpr int appends = 200;
  const auto before = s.statistics().flushes;
  const auto fsyncs_before = s.statistics().fsyncs;
  // Issue every append from one handler on the store's executor: one tick.
  boost::asio::post(io_.context(), [&] {
    for (int i = 0; i < appends; ++i) {
      s.append("tick-" + std::to_string(i % 7), make_events(1), expect::any,
               [&](boost::system::error_code ec, append_result) {
                 EXPECT_FALSE(ec);
                 ++done;
               });
    }
  });
  ASSERT_TRUE(wait_until([&] { return done == appends; }));
  EXPECT_EQ(s.statistics().flushes - before, 1u);
  // Group commit: in durable mode one fdatasync (of the journal) covers the
  // whole tick, 7 new streams included; buffered mode never syncs.
  EXPECT_EQ(s.statistics().fsyncs - fsyncs_before, GetParam() ? 1u : 0u);
}

TEST_P(store_test, second_writer_is_refused_and_read_only_opener_sees_data) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "ro", make_events(3)).ec);
  auto second = store::open(io_.executor(), {.directory = dir_.sub("store")});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, errc::store_locked);
  auto reader = store::open(io_.executor(), {.directory = dir_.sub("store"), .read_only = true});
  ASSERT_TRUE(reader) << reader.error().message();
  auto page = reader->read("ro");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->events.size(), 3u);
  EXPECT_EQ(append_wait(*reader, "ro", make_events(1)).ec, errc::read_only);
  ASSERT_FALSE(append_wait(s, "ro", make_events(2)).ec);
  auto refreshed = reader->refresh();
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(*refreshed, 5u);
  EXPECT_EQ(reader->read("ro")->events.size(), 5u);
}

TEST_P(store_test, closed_store_refuses_appends_and_keeps_reads) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "c", make_events(1)).ec);
  ASSERT_FALSE(close_wait(s));
  EXPECT_EQ(append_wait(s, "c", make_events(1)).ec, errc::store_closed);
  EXPECT_EQ(s.read("c")->events.size(), 1u);
}

// Appends and a close issued without waiting, from a thread other than the
// running loop, take effect in call order: each append made before close()
// is stored, each made after fails with store_closed. The loop drains the
// appends while they are being made, so close() finds some queued and some
// already taken.
TEST_P(store_test, unawaited_appends_around_a_close_take_effect_in_call_order) {
  for (int round = 0; round < 8; ++round) {
    store_options o;
    o.directory = dir_.sub("round-" + std::to_string(round));
    o.fsync_on_flush = GetParam();
    auto s = store::open(io_.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    constexpr int before = 300, after = 100;
    std::mutex m;
    std::vector<std::optional<boost::system::error_code>> got(before + after);
    int done = 0;
    std::promise<void> all;
    auto append = [&](int i) {
      s->append("c", make_events(1), expect::any, [&, i](boost::system::error_code ec, append_result) {
        std::lock_guard lock(m);
        got[i] = ec;
        if (++done == before + after) all.set_value();
      });
    };
    for (int i = 0; i < before; ++i) append(i);
    std::promise<boost::system::error_code> closed;
    s->close([&](boost::system::error_code ec) { closed.set_value(ec); });
    for (int i = before; i < before + after; ++i) append(i);
    ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_FALSE(closed.get_future().get());
    for (int i = 0; i < before + after; ++i) {
      ASSERT_TRUE(got[i].has_value()) << i;
      if (i < before) {
        EXPECT_FALSE(*got[i]) << "append " << i << " was made before close(): " << got[i]->message();
      } else {
        EXPECT_EQ(*got[i], errc::store_closed) << "append " << i << " was made after close()";
      }
    }
    EXPECT_EQ(s->read("c", {.max_count = 1000})->events.size(), static_cast<std::size_t>(before));
  }
}

#if defined(EVSTORE_TEST_HOOKS)
// A durable close ends with a checkpoint on the store's own I/O thread. That
// thread must never hold the store's last reference: the store would be
// destroyed there, racing the application's teardown of its io_context
// (ThreadSanitizer found it: the strand freed while the context died).
TEST(store_close_test, a_durable_close_leaves_no_reference_on_the_store_io_thread) {
  temp_dir dir;
  io_thread io;
  std::promise<void> dropped;
  auto dropped_future = dropped.get_future().share();
  std::mutex m;
  std::optional<std::thread::id> checkpoint_thread, destroyed_on;
  detail::scoped_test_point handed_back("store.io_thread.handed_back", [&] {
    {
      std::lock_guard lock(m);
      checkpoint_thread = std::this_thread::get_id();
    }
    // Hold the I/O thread here until the application has dropped its store.
    dropped_future.wait_for(std::chrono::seconds(10));
  });
  detail::scoped_test_point destroy("store.destroy", [&] {
    std::lock_guard lock(m);
    destroyed_on = std::this_thread::get_id();
  });
  {
    auto s = store::open(io.executor(), {.directory = dir.sub("store"), .fsync_on_flush = true});
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "c", make_events(1)).ec);
    ASSERT_FALSE(close_wait(*s));
  }
  dropped.set_value();
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(m);
    return destroyed_on.has_value();
  }));
  std::lock_guard lock(m);
  ASSERT_TRUE(checkpoint_thread.has_value());
  EXPECT_NE(*destroyed_on, *checkpoint_thread);
}
#endif

TEST_P(store_test, readers_on_many_threads_see_complete_appends_only) {
  auto s = open();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto page = s.read("$all");
        if (!page) {
          ++bad;
          continue;
        }
        // Appends are 3 events each: a reader may never see a partial one.
        if (page->events.size() % 3 != 0) ++bad;
        for (std::size_t i = 0; i < page->events.size(); ++i) {
          if (page->events[i].position != i) ++bad;
        }
        auto mine = s.read("w-1");
        if (mine && mine->events.size() % 3 != 0) ++bad;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    auto r = append_wait(s, "w-" + std::to_string(i % 3), make_events(3));
    ASSERT_FALSE(r.ec);
    // Read-your-writes: the appended events are visible once the append completed.
    auto own = s.read("w-" + std::to_string(i % 3), {.from = r.result.first_version});
    ASSERT_TRUE(own);
    ASSERT_EQ(own->events.size(), 3u);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(reads, 0u);
}

// A stream being created is found by name either not at all or whole: a
// reader never sees its state half-built (before it was, ThreadSanitizer
// flags this test, and about 1 lookup in 1000 failed with corrupt_data).
TEST_P(store_test, readers_looking_up_streams_being_created_see_them_whole_or_not_at_all) {
  auto s = open();
  constexpr int streams = 1000;
  constexpr int burst = 20;  // created back to back on the writer's strand
  std::atomic<int> created{0}, issued{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> lookups{0};
  std::mutex problems_mutex;
  std::vector<std::string> problems;
  std::thread reader([&] {
    while (!stop) {
      for (int k = created.load(), end = issued.load(); k < end; ++k) {
        const std::string name = "new-" + std::to_string(k);
        auto page = s.read(name);
        ++lookups;
        if (!page && page.error().code == errc::stream_not_found) continue;
        if (!page || page->events.size() != 1) {
          std::lock_guard lock(problems_mutex);
          problems.push_back(
              name + ": " +
              (page ? std::to_string(page->events.size()) + " events" : page.error().message()));
        }
      }
    }
  });
  for (int first = 0; first < streams; first += burst) {
    issued = first + burst;
    std::vector<std::promise<boost::system::error_code>> done(burst);
    for (int i = 0; i < burst; ++i) {
      s.append("new-" + std::to_string(first + i), make_events(1), expect::any,
               [&done, i](boost::system::error_code ec, append_result) {
                 done[static_cast<std::size_t>(i)].set_value(ec);
               });
    }
    for (auto& d : done) EXPECT_FALSE(d.get_future().get());  // not ASSERT: the reader must be joined
    created = first + burst;
  }
  stop = true;
  reader.join();
  EXPECT_GT(lookups, 0u);
  EXPECT_TRUE(problems.empty()) << problems.size() << " bad lookups, the first: " << problems.front();
}

#if defined(EVSTORE_TEST_HOOKS)
// The same, forced: a reader looks the stream up the moment the writer has
// taken its name, while the writer that is creating it waits.
TEST_P(store_test, stream_found_the_moment_its_name_is_registered_is_complete) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "older", make_events(2)).ec);
  std::optional<result<read_page>> seen;
  detail::scoped_test_point look("writer_streams.add.new", [&] {
    if (seen) return;
    seen = std::async(std::launch::async, [&] { return s.read("newer"); }).get();
  });
  ASSERT_FALSE(append_wait(s, "newer", make_events(1)).ec);
  ASSERT_TRUE(seen.has_value());
  // Not yet committed: not found (or, had the flush won, complete).
  if (!*seen) {
    EXPECT_EQ(seen->error().code, errc::stream_not_found) << seen->error().message();
  }
  auto after = s.read("newer");
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->events.size(), 1u);
}
#endif

TEST_P(store_test, list_streams_and_stream_version) {
  auto s = open();
  ASSERT_FALSE(append_wait(s, "b-1", make_events(2)).ec);
  ASSERT_FALSE(append_wait(s, "a-1", make_events(1)).ec);
  auto list = s.list_streams();
  ASSERT_EQ(list.size(), 2u);
  // The stream index's order (a hash of the name), not creation order.
  std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  EXPECT_EQ(list[0].name, "a-1");
  EXPECT_EQ(list[0].event_count, 1u);
  EXPECT_EQ(list[1].name, "b-1");
  EXPECT_EQ(list[1].event_count, 2u);
  // Pages: offset and limit walk the same order.
  const auto all = s.list_streams();
  EXPECT_EQ(s.list_streams(1, 1).at(0).name, all.at(1).name);
  EXPECT_TRUE(s.list_streams(2, 5).empty());
  EXPECT_EQ(s.stream_version("b-1")->value(), 1u);
  EXPECT_FALSE(s.stream_version("zzz")->has_value());
  EXPECT_EQ(s.stream_version("$all")->value(), 2u);
}

TEST_P(store_test, unusual_but_valid_names_round_trip_through_files) {
  auto s = open();
  const std::vector<std::string> names = {"Cart-1", "cart-1", "käse", "订单-7",
                                          "CON",    "a.b",    "%41",  std::string(200, 'Z')};
  for (const auto& n : names)
    ASSERT_FALSE(append_wait(s, n, {make_event("T", "\"" + std::to_string(n.size()) + "\"")}).ec) << n;
  ASSERT_FALSE(close_wait(s));
  auto again = open();
  for (const auto& n : names) {
    auto page = again.read(n);
    ASSERT_TRUE(page) << n << ": " << page.error().message();
    ASSERT_EQ(page->events.size(), 1u) << n;
    EXPECT_EQ(page->events[0].stream, n);
  }
}

INSTANTIATE_TEST_SUITE_P(modes, store_test, ::testing::Values(false, true), durability_name);

TEST(store_options_test, out_of_range_options_are_refused) {
  io_thread io;
  auto fs = std::make_shared<memory_file_system>();
  auto s = store::open(io.executor(), {.directory = "/s", .file_system = fs, .max_open_files = 3});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_argument);
  // 0 is "from the descriptor limit": resolved, at least 64.
  auto automatic = store::open(io.executor(), {.directory = "/auto", .file_system = fs});
  ASSERT_TRUE(automatic) << automatic.error().message();
  EXPECT_GE(automatic->options().max_open_files, 64u);
  auto none = store::open(io.executor(), {.directory = "", .file_system = fs});
  EXPECT_EQ(none.error().code, errc::invalid_argument);
}
