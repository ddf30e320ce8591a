// read_options::to, the inclusive upper bound of a read: forward pages end
// at it whatever is appended meanwhile, backward reads start at it, and it
// holds for streams, $all, events() and streams with hidden events alike.
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>

#include <gtest/gtest.h>

using namespace evstore;
using namespace evstore::test;

namespace {

// Event numbers (sequence: version, position or entry number) of every page
// from `o.from` on, and how many pages it took.
std::pair<std::vector<std::uint64_t>, int> page_through(const store& s, const std::string& stream,
                                                        read_options o) {
  std::vector<std::uint64_t> seen;
  int pages = 0;
  for (;;) {
    auto page = s.read(stream, o);
    EXPECT_TRUE(page) << page.error().message();
    if (!page) return {seen, pages};
    ++pages;
    for (const recorded_event& e : page->events) seen.push_back(e.sequence);
    if (page->end) return {seen, pages};
    if (pages == 1000 || page->next <= o.from) {
      ADD_FAILURE() << stream << ": page " << pages << " from " << o.from << " goes on at " << page->next;
      return {seen, pages};
    }
    o.from = page->next;
  }
}

std::vector<std::uint64_t> numbers(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t n = first; n <= last; ++n) out.push_back(n);
  return out;
}

TEST(read_to, forward_pages_end_at_to_whatever_is_appended_meanwhile) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "cart-1", make_events(7)).ec);
  const auto first = s->read("cart-1", {.max_count = 3, .to = 6});
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->end);
  // Appends after the first page do not reach the snapshot.
  ASSERT_FALSE(append_wait(*s, "cart-1", make_events(5)).ec);
  const auto [seen, pages] = page_through(*s, "cart-1", {.from = 0, .max_count = 3, .to = 6});
  EXPECT_EQ(seen, numbers(0, 6));
  EXPECT_EQ(pages, 3) << "0-2, 3-5, 6: the last page ends at `to`";
  // A page that lands exactly on `to` ends there.
  auto exact = s->read("cart-1", {.from = 4, .max_count = 3, .to = 6});
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->events.size(), 3u);
  EXPECT_TRUE(exact->end);
  // from past to: nothing, the end; a missing stream still says so.
  auto past = s->read("cart-1", {.from = 9, .to = 6});
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->events.empty());
  EXPECT_TRUE(past->end);
  EXPECT_EQ(s->read("cart-9", {.from = 9, .to = 6}).error().code, errc::stream_not_found);
  // The largest `to` is no bound.
  EXPECT_EQ(page_through(*s, "cart-1", {.to = std::numeric_limits<std::uint64_t>::max()}).first,
            numbers(0, 11));
  EXPECT_FALSE(close_wait(*s));
}

TEST(read_to, backward_reads_start_at_to_and_all_and_events_take_it_too) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "a-1", make_events(4)).ec);
  ASSERT_FALSE(append_wait(*s, "b-1", make_events(4)).ec);
  auto back = s->read("a-1", {.from = from_end, .max_count = 10, .direction = direction::backward, .to = 2});
  ASSERT_TRUE(back);
  std::vector<std::uint64_t> got;
  for (const auto& e : back->events) got.push_back(e.version);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{2, 1, 0}));
  auto lower = s->read("a-1", {.from = 1, .max_count = 10, .direction = direction::backward, .to = 2});
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->events.front().version, 1u) << "from below to: from";

  EXPECT_EQ(page_through(*s, "$all", {.from = 2, .max_count = 2, .to = 5}).first, numbers(2, 5));
  std::vector<std::uint64_t> ranged;
  for (const recorded_event& e : s->events("$all", {.to = 4})) ranged.push_back(e.position);
  EXPECT_EQ(ranged, numbers(0, 4));
  EXPECT_FALSE(close_wait(*s));
}

TEST(read_to, hidden_events_keep_their_numbers_so_the_bound_holds) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "log-1", make_events(10)).ec);
  ASSERT_FALSE(metadata_wait(*s, "log-1", {.truncate_before = 3}).ec);
  EXPECT_EQ(page_through(*s, "log-1", {.from = 0, .max_count = 2, .to = 5}).first, numbers(3, 5));
  auto only_hidden = s->read("log-1", {.from = 0, .max_count = 100, .to = 2});
  ASSERT_TRUE(only_hidden);
  EXPECT_TRUE(only_hidden->events.empty());
  EXPECT_TRUE(only_hidden->end) << "everything up to `to` is hidden: the end, not a page to go on from";
  EXPECT_FALSE(close_wait(*s));
}

}  // namespace
