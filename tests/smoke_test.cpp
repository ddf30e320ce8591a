#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

using namespace evstore;
using namespace evstore::test;

TEST(smoke, append_then_read_back_after_reopen) {
  temp_dir dir;
  io_thread io;
  for (bool fsync : {false, true}) {
    const std::string path = dir.sub(fsync ? "durable" : "buffered");
    {
      auto s = store::open(io.executor(), {.directory = path, .fsync_on_flush = fsync});
      ASSERT_TRUE(s) << s.error().message();
      auto r = append_wait(*s, "cart-1", make_events(3), expect::no_stream);
      ASSERT_FALSE(r.ec) << r.ec.message();
      EXPECT_EQ(r.result.version, 2u);
      EXPECT_EQ(r.result.position, 2u);
      EXPECT_TRUE(r.result.created_stream);
      auto r2 = append_wait(*s, "cart-2", make_events(2), expect::no_stream);
      ASSERT_FALSE(r2.ec);
      EXPECT_EQ(r2.result.position, 4u);
      auto page = s->read("cart-1");
      ASSERT_TRUE(page) << page.error().message();
      ASSERT_EQ(page->events.size(), 3u);
      EXPECT_EQ(page->events[1].data, "{\"i\":1}");
      EXPECT_EQ(page->events[1].stream, "cart-1");
      ASSERT_FALSE(close_wait(*s));
    }
    auto s = store::open(io.executor(), {.directory = path, .fsync_on_flush = fsync});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->event_count(), 5u);
    auto all = s->read("$all");
    ASSERT_TRUE(all) << all.error().message();
    ASSERT_EQ(all->events.size(), 5u);
    EXPECT_EQ(all->events[3].stream, "cart-2");
    auto back = s->read("cart-1", {.from = from_end, .max_count = 2, .direction = direction::backward});
    ASSERT_TRUE(back);
    ASSERT_EQ(back->events.size(), 2u);
    EXPECT_EQ(back->events[0].version, 2u);
    EXPECT_EQ(back->next, 0u);
    EXPECT_FALSE(back->end);
    auto r = append_wait(*s, "cart-1", make_events(1), expect::exactly(2));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.result.version, 3u);
    EXPECT_EQ(r.result.position, 5u);
  }
}
