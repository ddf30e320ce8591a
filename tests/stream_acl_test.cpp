// Stream access lists (stream_acl in stream_metadata): the store keeps them
// with the stream's metadata through deletes, reopens and followers, never
// lets a change of limits undo one, refuses a malformed one, finds them by
// prefix, and an application's hooks can enforce them.
#include "store/lifecycle.hpp"
#include "support/store_fixture.hpp"
#include <evstore/store.hpp>

#include <gtest/gtest.h>

#include <future>

using namespace evstore;
using namespace evstore::test;

namespace {

using names = std::vector<std::string>;

stream_acl acl_of(names read, std::optional<names> write = std::nullopt) {
  return stream_acl{.read = std::move(read), .write = std::move(write)};
}

append_outcome limits_wait(store& s, const std::string& stream, stream_metadata m) {
  std::promise<append_outcome> done;
  auto f = done.get_future();
  s.set_stream_limits(stream, std::move(m), expect::any,
                      [&done](boost::system::error_code ec, append_result r) {
                        done.set_value({ec, r});
                      });
  return f.get();
}

std::vector<std::string> streams_in(const std::vector<std::pair<std::string, stream_acl>>& lists) {
  std::vector<std::string> out;
  for (const auto& [stream, acl] : lists) out.push_back(stream);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(stream_acl, the_list_stays_with_the_metadata_through_deletes_and_a_reopen) {
  temp_dir dir;
  io_thread io;
  const store_options o{.directory = dir.sub("store")};
  {
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_FALSE(append_wait(*s, "doc-1", make_events(3)).ec);
    ASSERT_FALSE(metadata_wait(*s, "doc-1", {.max_count = 2, .acl = acl_of({"alice"}, names{})}).ec);
    EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}, names{}));
    EXPECT_EQ(s->read("doc-1")->events.size(), 2u) << "the limit applies as before";

    // A change of limits keeps the list, whatever list it carries.
    auto limited = limits_wait(*s, "doc-1", {.max_count = 1, .acl = acl_of({"mallory"})});
    ASSERT_FALSE(limited.ec) << limited.result.detail;
    EXPECT_EQ(s->stream_metadata_of("doc-1").max_count, 1u);
    EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}, names{}));

    // A delete keeps it too: the recreated stream is as private as before.
    ASSERT_FALSE(delete_stream_wait(*s, "doc-1").ec);
    ASSERT_FALSE(append_wait(*s, "doc-1", make_events(1)).ec);
    EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}, names{}));
    // A list alone, on a stream with no events yet.
    ASSERT_FALSE(metadata_wait(*s, "doc-2", {.acl = {.write = names{"bob"}}}).ec);
    EXPECT_FALSE(close_wait(*s));
  }
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}, names{}));
  EXPECT_EQ(s->stream_metadata_of("doc-2").acl, (stream_acl{.write = names{"bob"}}));
  EXPECT_TRUE(s->stream_metadata_of("doc-2").acl.read == std::nullopt);
  // set_stream_metadata replaces the list with the rest: an empty one drops it.
  ASSERT_FALSE(metadata_wait(*s, "doc-1", {}).ec);
  EXPECT_TRUE(s->stream_metadata_of("doc-1").acl.empty());
  EXPECT_EQ(streams_in(s->access_lists("")), (std::vector<std::string>{"doc-2"}));
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_acl, a_change_of_limits_queued_after_a_change_of_the_list_keeps_the_new_list) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  // Queued back to back: the limits change is applied on the writer after
  // the list change, before either is published. It must see the new list.
  std::promise<append_outcome> listed, limited;
  s->set_stream_metadata("doc-1", {.acl = acl_of({"alice"})}, expect::any,
                         [&](boost::system::error_code ec, append_result r) {
                           listed.set_value({ec, r});
                         });
  s->set_stream_limits("doc-1", {.max_count = 5}, expect::any,
                       [&](boost::system::error_code ec, append_result r) {
                         limited.set_value({ec, r});
                       });
  ASSERT_FALSE(listed.get_future().get().ec);
  ASSERT_FALSE(limited.get_future().get().ec);
  const stream_metadata m = s->stream_metadata_of("doc-1");
  EXPECT_EQ(m.max_count, 5u);
  EXPECT_EQ(m.acl, acl_of({"alice"}));
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_acl, a_malformed_list_is_refused_and_changes_nothing) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(metadata_wait(*s, "doc-1", {.max_count = 3, .acl = acl_of({"alice"})}).ec);
  const std::uint64_t events = s->event_count();
  names too_many(max_acl_names + 1, "n");
  for (const stream_acl& bad :
       {acl_of({""}), acl_of({"al ice"}), acl_of({std::string(max_acl_name_bytes + 1, 'a')}),
        acl_of({"ok"}, names{"tab\there"}), acl_of({"caf\xc3\xa9"}), acl_of(too_many)}) {
    auto refused = metadata_wait(*s, "doc-1", {.acl = bad});
    EXPECT_EQ(refused.ec, errc::invalid_argument);
    EXPECT_NE(refused.result.detail.find("access list"), std::string::npos) << refused.result.detail;
  }
  EXPECT_EQ(s->event_count(), events) << "no $lifecycle event for a refused change";
  EXPECT_EQ(s->stream_metadata_of("doc-1").max_count, 3u);
  EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}));
  // The most a list takes.
  ASSERT_FALSE(
      metadata_wait(*s, "doc-1", {.acl = acl_of(names(max_acl_names, std::string(max_acl_name_bytes, '~')))})
          .ec);
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_acl, access_lists_are_found_by_prefix) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->access_lists("").empty());
  ASSERT_FALSE(append_wait(*s, "order-1", make_events(1)).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "order-1").ec);  // metadata without a list
  for (const std::string stream : {"orders-1", "orders-2", "ordersx", "invoices-1"})
    ASSERT_FALSE(metadata_wait(*s, stream, {.acl = acl_of({"alice"})}).ec);
  EXPECT_EQ(streams_in(s->access_lists("orders-")), (std::vector<std::string>{"orders-1", "orders-2"}));
  EXPECT_EQ(streams_in(s->access_lists("order")),
            (std::vector<std::string>{"orders-1", "orders-2", "ordersx"}));
  EXPECT_EQ(streams_in(s->access_lists("")).size(), 4u);
  EXPECT_TRUE(s->access_lists("z").empty());
  ASSERT_FALSE(metadata_wait(*s, "orders-1", {.max_count = 1}).ec);  // the list dropped, a limit kept
  EXPECT_EQ(streams_in(s->access_lists("orders-")), (std::vector<std::string>{"orders-2"}));
  EXPECT_EQ(s->access_lists("orders-2").front().second, acl_of({"alice"}));
  EXPECT_FALSE(close_wait(*s));
}

TEST(stream_acl, a_follower_sees_the_lists_the_writer_sets) {
  temp_dir dir;
  io_thread io;
  const std::string path = dir.sub("store");
  auto w = store::open(io.executor(), {.directory = path});
  ASSERT_TRUE(w) << w.error().message();
  auto f = store::open(io.executor(), {.directory = path, .read_only = true});
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_FALSE(metadata_wait(*w, "doc-1", {.acl = acl_of({"alice"})}).ec);
  EXPECT_TRUE(wait_until([&] { return f->stream_metadata_of("doc-1").acl == acl_of({"alice"}); }));
  EXPECT_EQ(streams_in(f->access_lists("doc-")), (std::vector<std::string>{"doc-1"}));
  EXPECT_FALSE(close_wait(*f));
  EXPECT_FALSE(close_wait(*w));
}

// A $stream-lifecycle event whose list is not what the store writes (made
// by hand, or damaged) names nobody: a list fails closed, never open.
TEST(stream_acl, a_malformed_list_in_a_lifecycle_event_names_nobody) {
  const names nobody;
  for (const std::string data :
       {R"({"stream":"s","acl":{"read":["alice",7]}})", R"({"stream":"s","acl":{"read":"alice"}})",
        R"({"stream":"s","acl":"alice"})", R"({"stream":"s","acl":[]})"}) {
    auto parsed = detail::parse_lifecycle_event(data);
    ASSERT_TRUE(parsed) << data;
    ASSERT_TRUE(parsed->second.metadata.acl.read) << data;
    EXPECT_EQ(*parsed->second.metadata.acl.read, nobody) << data;
  }
  auto unset = detail::parse_lifecycle_event(R"({"stream":"s","acl":{"read":null,"write":["bob"]}})");
  ASSERT_TRUE(unset);
  EXPECT_EQ(unset->second.metadata.acl, (stream_acl{.write = names{"bob"}}));
  auto none = detail::parse_lifecycle_event(R"({"stream":"s","acl":null})");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->second.metadata.acl.empty());
}

TEST(stream_acl, a_tombstoned_streams_list_is_kept_but_not_among_the_access_lists) {
  temp_dir dir;
  io_thread io;
  auto s = store::open(io.executor(), {.directory = dir.sub("store")});
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_FALSE(append_wait(*s, "doc-1", make_events(1)).ec);
  ASSERT_FALSE(metadata_wait(*s, "doc-1", {.acl = acl_of({"alice"})}).ec);
  ASSERT_FALSE(delete_stream_wait(*s, "doc-1", {.hard = true}).ec);
  EXPECT_EQ(s->stream_metadata_of("doc-1").acl, acl_of({"alice"}));
  EXPECT_TRUE(s->access_lists("").empty()) << "its events are hidden for good: the list guards nothing";
  EXPECT_FALSE(close_wait(*s));
}

// Who calls: what the application's own authentication decided for this thread.
thread_local std::string caller;

TEST(stream_acl, hooks_enforce_the_list_for_the_application) {
  temp_dir dir;
  io_thread io;
  store* self = nullptr;
  const auto listed = [](const std::optional<names>& list) {
    return !list || std::find(list->begin(), list->end(), caller) != list->end();
  };
  store_options o{.directory = dir.sub("store")};
  o.before_read = [&](std::string_view stream) -> evstore::error {
    if (stream.starts_with('$')) return {};
    if (listed(self->stream_metadata_of(stream).acl.read)) return {};
    return {errc::refused, caller + " may not read"};
  };
  // Runs on the writer's strand: `caller` is the appender's, captured below.
  std::string appender;
  o.before_append = [&](std::string_view stream, const std::vector<event_data>&) -> evstore::error {
    const auto list = self->stream_metadata_of(stream).acl.write;
    if (!list || std::find(list->begin(), list->end(), appender) != list->end()) return {};
    return {errc::refused, appender + " may not write"};
  };
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  self = &*s;
  ASSERT_FALSE(metadata_wait(*s, "doc-1", {.acl = acl_of({"alice"}, names{"alice"})}).ec);

  appender = "alice";
  ASSERT_FALSE(append_wait(*s, "doc-1", make_events(2)).ec);
  appender = "bob";
  auto refused = append_wait(*s, "doc-1", make_events(1));
  EXPECT_EQ(refused.ec, errc::refused);
  EXPECT_NE(refused.result.detail.find("bob may not write"), std::string::npos) << refused.result.detail;

  caller = "alice";
  auto page = s->read("doc-1");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->events.size(), 2u);
  caller = "bob";
  EXPECT_EQ(s->read("doc-1").error().code, errc::refused);
  EXPECT_TRUE(s->read("doc-2").error().code == errc::stream_not_found) << "no list: the usual answer";
  EXPECT_FALSE(close_wait(*s));
}

}  // namespace
