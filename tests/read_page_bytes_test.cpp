// read_options::max_bytes: a page ends before the event that would take its
// stored bytes over the budget, holds at least one event, and paging with
// `next` reads every event once, in order, for every kind of stream and both
// directions.
#include "support/durability_test.hpp"
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <future>
#include <limits>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

class read_page_bytes_test : public durability_test {};

INSTANTIATE_TEST_SUITE_P(modes, read_page_bytes_test, ::testing::Values(false, true), durability_name);

constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

std::vector<event_data> sized(std::size_t data_bytes) {
  std::vector<event_data> v;
  v.push_back(make_event("Big", "\"" + std::string(data_bytes, 'x') + "\""));
  return v;
}

// Every page from the first in `dir`, each `max_bytes` at most (unless it
// holds one event); the sequences read, in reading order.
struct paged {
  std::vector<std::uint64_t> sequences;
  std::vector<std::size_t> page_sizes;
};

paged page_through(const store& s, const std::string& stream, direction dir, std::uint64_t max_bytes) {
  paged out;
  read_options o{.from = dir == direction::forward ? 0 : from_end, .direction = dir, .max_bytes = max_bytes};
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = s.read(stream, o);
    if (!page) {
      ADD_FAILURE() << stream << ": " << page.error().message();
      return out;
    }
    out.page_sizes.push_back(page->events.size());
    for (const auto& e : page->events) out.sequences.push_back(e.sequence);
    if (page->end) return out;
    o.from = page->next;
  }
  ADD_FAILURE() << stream << ": more than 1000 pages";
  return out;
}

bool create_wait(store& s, const std::string& name, filter f) {
  std::promise<boost::system::error_code> done;
  s.create_read_stream(name, std::move(f), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto fut = done.get_future();
  return fut.wait_for(30s) == std::future_status::ready && !fut.get();
}

}  // namespace

TEST_P(read_page_bytes_test, a_page_of_100_kb_events_holds_what_fits_in_its_budget_and_never_none) {
  store s = open();
  for (int i = 0; i < 7; ++i) ASSERT_FALSE(append_wait(s, "big-1", sized(100'000)).ec);
  // Three records of ~100 KB fit in 350 KB, four do not.
  auto page = s.read("big-1", {.max_bytes = 350'000});
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->events.size(), 3u);
  EXPECT_EQ(page->events.back().version, 2u);
  EXPECT_FALSE(page->end);
  EXPECT_EQ(page->next, 3u);
  // A budget smaller than one event still gets that event.
  auto one = s.read("big-1", {.from = 5, .max_bytes = 1});
  ASSERT_TRUE(one);
  ASSERT_EQ(one->events.size(), 1u);
  EXPECT_EQ(one->events[0].version, 5u);
  EXPECT_EQ(one->next, 6u);
  // Backward, the budget keeps the events nearest `from`.
  auto back = s.read("big-1", {.from = from_end, .direction = direction::backward, .max_bytes = 250'000});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[0].version, 6u);
  EXPECT_EQ(back->events[1].version, 5u);
  EXPECT_EQ(back->next, 4u);
  EXPECT_FALSE(back->end);
  // max_count still applies under a large budget.
  EXPECT_EQ(s.read("big-1", {.max_count = 2, .max_bytes = 10'000'000})->events.size(), 2u);
}

TEST_P(read_page_bytes_test, paging_by_bytes_reads_every_event_once_in_every_kind_of_stream) {
  store s = open();
  // Sizes from tiny to 40 KB, interleaved with another category, so that
  // pages of $all, of a stream and of the link streams all cut mid-chunk.
  for (int i = 0; i < 60; ++i) {
    ASSERT_FALSE(append_wait(s, "big-1", sized(static_cast<std::size_t>((i * 7919) % 40'000))).ec);
    if (i % 3 == 0) {
      ASSERT_FALSE(append_wait(s, "small-" + std::to_string(i), make_events(2)).ec);
    }
  }
  ASSERT_TRUE(create_wait(s, "bigs", filter::event_types({"Big"})));
  ASSERT_TRUE(wait_until([&] { return s.statistics().indexed == s.event_count(); }));
  for (const std::string stream : {"big-1", "$all", "$ce-big", "$et-Big", "bigs"}) {
    for (const direction dir : {direction::forward, direction::backward}) {
      const paged whole = page_through(s, stream, dir, unlimited);
      ASSERT_FALSE(whole.sequences.empty()) << stream;
      for (const std::uint64_t budget : {1ull, 30'000ull, 100'000ull, 1'000'000ull}) {
        SCOPED_TRACE(stream + (dir == direction::forward ? " forward" : " backward") + ", max_bytes " +
                     std::to_string(budget));
        const paged by_bytes = page_through(s, stream, dir, budget);
        EXPECT_EQ(by_bytes.sequences, whole.sequences);
        for (std::size_t n : by_bytes.page_sizes)
          EXPECT_GT(n, 0u) << "a page is never empty because of its budget";
        if (budget == 1) {
          EXPECT_EQ(by_bytes.page_sizes.size(), whole.sequences.size()) << "one event per page";
        } else if (budget == 1'000'000 && stream != "$all") {
          EXPECT_EQ(by_bytes.page_sizes.size(), 2u) << "1.2 MB of events in two pages";
        }
      }
    }
  }
}
