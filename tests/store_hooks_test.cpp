// The application's before_append and before_read hooks (store_options): a
// refusal reaches every entry point as errc::refused with the hook's words,
// changes nothing, and leaves the store's own work (system streams) alone.
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

using namespace evstore;
using namespace evstore::test;

namespace {

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(store_hooks, before_append_refuses_with_its_reason_and_stores_nothing) {
  temp_dir dir;
  io_thread io;
  std::atomic<int> asked{0};
  store_options o{.directory = dir.sub("store")};
  o.before_append = [&](std::string_view stream, const std::vector<event_data>& events) -> evstore::error {
    ++asked;
    if (stream.starts_with("locked-")) return {errc::invalid_argument, "locked by policy"};
    for (const event_data& e : events) {
      if (e.type == "Forbidden") return {errc::refused, "no Forbidden events"};
    }
    return {};
  };
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();

  auto locked = append_wait(*s, "locked-1", make_events(2));
  EXPECT_EQ(locked.ec, errc::refused) << "one code, whatever the hook's";
  EXPECT_TRUE(mentions(locked.result.detail, "locked by policy")) << locked.result.detail;
  EXPECT_TRUE(mentions(locked.result.detail, "'locked-1'")) << locked.result.detail;

  // Asked before the expected version is checked: a refused append says refused.
  auto stale = append_wait(*s, "locked-1", make_events(1), expect::exactly(7));
  EXPECT_EQ(stale.ec, errc::refused);

  auto mixed = append_wait(*s, "open-1", {make_event("Fine"), make_event("Forbidden")});
  EXPECT_EQ(mixed.ec, errc::refused);
  EXPECT_TRUE(mentions(mixed.result.detail, "no Forbidden events")) << mixed.result.detail;

  // Invalid events are refused by the store before the hook sees them.
  const int before_invalid = asked.load();
  EXPECT_EQ(append_wait(*s, "open-1", {make_event("")}).ec, errc::invalid_event);
  EXPECT_EQ(asked.load(), before_invalid);

  auto fine = append_wait(*s, "open-1", make_events(1));
  ASSERT_FALSE(fine.ec) << fine.result.detail;
  EXPECT_EQ(fine.result.position, 0u) << "nothing refused took a position";
  EXPECT_EQ(s->read("locked-1").error().code, errc::stream_not_found);
  EXPECT_EQ(s->event_count(), 1u);
  EXPECT_FALSE(close_wait(*s));
}

TEST(store_hooks, a_throwing_before_append_refuses_and_the_store_goes_on) {
  temp_dir dir;
  io_thread io;
  store_options o{.directory = dir.sub("store")};
  o.before_append = [](std::string_view stream, const std::vector<event_data>&) -> evstore::error {
    if (stream == "boom") throw std::runtime_error("policy service down");
    return {};
  };
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  auto boom = append_wait(*s, "boom", make_events(1));
  EXPECT_EQ(boom.ec, errc::refused);
  EXPECT_TRUE(mentions(boom.result.detail, "policy service down")) << boom.result.detail;
  EXPECT_FALSE(append_wait(*s, "calm", make_events(1)).ec);
  EXPECT_EQ(s->event_count(), 1u);
  EXPECT_FALSE(close_wait(*s));
}

TEST(store_hooks, before_read_refuses_every_way_of_reading_a_stream_and_not_the_stores_own_reads) {
  temp_dir dir;
  io_thread io;
  store_options o{.directory = dir.sub("store")};
  o.before_read = [](std::string_view stream) -> evstore::error {
    if (stream == "$all" || stream.starts_with("secret-")) return {errc::refused, "need-to-know"};
    if (stream == "odd") throw std::logic_error("bad rule");
    return {};
  };
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "secret-1", make_events(2)).ec) << "reads are refused, not appends";
  ASSERT_FALSE(append_wait(*s, "public-1", make_events(1)).ec);

  auto expect_refused = [](const evstore::error& e, const char* how) {
    EXPECT_EQ(e.code, errc::refused) << how << ": " << e.message();
    EXPECT_TRUE(mentions(e.detail, "need-to-know")) << how << ": " << e.detail;
  };
  for (const std::string stream : {"secret-1", "$all"}) {
    SCOPED_TRACE(stream);
    expect_refused(s->read(stream).error(), "read");
    auto range = s->events(stream);
    std::size_t seen = 0;
    for (const recorded_event& e : range) {
      (void)e;
      ++seen;
    }
    EXPECT_EQ(seen, 0u);
    ASSERT_TRUE(range.error());
    expect_refused(*range.error(), "events");
    expect_refused(s->aggregate(stream, 0, [](int n, const recorded_event&) { return n + 1; }).error(),
                   "aggregate");
    expect_refused(s->stream_version(stream).error(), "stream_version");
    expect_refused(s->subscribe(stream, {.from = 0}).error(), "subscribe");
    expect_refused(s->consumer(stream, "mailer").error(), "consumer");
    expect_refused(s->consumer_state(stream, "mailer").error(), "consumer_state");
  }
  auto odd = s->read("odd");
  EXPECT_EQ(odd.error().code, errc::refused);
  EXPECT_TRUE(mentions(odd.error().detail, "bad rule")) << odd.error().detail;

  auto page = s->read("public-1");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 1u);
  // The store's indexer reads $all for the system streams: not refused.
  EXPECT_TRUE(wait_until([&] {
    auto ce = s->read("$ce-public");
    return ce && ce->events.size() == 1;
  }));
  auto sub = s->subscribe("public-1", {.from = 0});
  EXPECT_TRUE(sub) << sub.error().message();
  EXPECT_FALSE(close_wait(*s));
}

}  // namespace

namespace {

TEST(store_hooks, lists_leave_out_what_before_read_refuses) {
  temp_dir dir;
  io_thread io;
  {
    // A consumer on each stream, made before the rule exists.
    auto s = store::open(io.executor(), {.directory = dir.sub("store")});
    ASSERT_TRUE(s) << s.error().message();
    for (const std::string stream : {"secret-1", "public-1"}) {
      ASSERT_FALSE(append_wait(*s, stream, make_events(1)).ec);
      auto c = s->consumer(stream, "mailer");
      ASSERT_TRUE(c) << c.error().message();
      ASSERT_FALSE(commit_wait(*c, 1, "{}"));
    }
    ASSERT_FALSE(close_wait(*s));
  }
  store_options o{.directory = dir.sub("store")};
  o.before_read = [](std::string_view stream) -> evstore::error {
    return stream.starts_with("secret-") ? evstore::error(errc::refused, "need-to-know") : evstore::error();
  };
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  const auto streams = s->list_streams();
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams.front().name, "public-1");
  auto consumers = s->list_consumers();
  ASSERT_TRUE(consumers) << consumers.error().message();
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ(consumers->front().stream, "public-1");
  // The hook sees names: secret-1's event still reaches the names it lets through.
  EXPECT_TRUE(wait_until([&] {
    auto ce = s->read("$ce-secret");
    return ce && ce->events.size() == 1;
  })) << "documented: refuse $ce-secret, $all, $et- too to keep secret-1 private";
  EXPECT_FALSE(close_wait(*s));
}

}  // namespace
