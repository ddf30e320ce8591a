// Read-stream filters through a store: what create_read_stream refuses, what
// a stored definition gives back after a restart, and which events it links.
#include "json/json_check.hpp"
#include "support/durability_test.hpp"
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>

using namespace evstore;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

boost::system::error_code create_wait(store& s, const std::string& name, filter f) {
  std::promise<boost::system::error_code> done;
  s.create_read_stream(name, std::move(f), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto fut = done.get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

// The streams of the events a read stream links, once the indexer has seen
// every event of $all (so a missing one is missing, not late).
std::vector<std::string> linked(const store& s, const std::string& read_stream) {
  const auto all = s.read("$all", {.from = from_end, .max_count = 1, .direction = direction::backward});
  const std::uint64_t appended = all && !all->events.empty() ? all->events[0].position + 1 : 0;
  EXPECT_TRUE(wait_until([&] { return s.statistics().indexed >= appended; }));
  std::vector<std::string> out;
  auto page = s.read(read_stream, {.max_count = 1000});
  EXPECT_TRUE(page) << page.error().message();
  if (page) {
    for (const auto& e : page->events) out.emplace_back(e.stream);
  }
  return out;
}

std::string nested(std::size_t depth, const std::string& inner) {
  // depth counts arrays and objects: {"tenant":"a","deep":[[...inner...]]}
  return R"({"tenant":"a","deep":)" + std::string(depth - 1, '[') + inner + std::string(depth - 1, ']') + "}";
}

class read_stream_filter_test : public durability_test {};

INSTANTIATE_TEST_SUITE_P(modes, read_stream_filter_test, ::testing::Values(false, true), durability_name);

// 1e400 is valid JSON but no double: it used to be accepted, stored as
// "Infinity" and kill the process on the background thread.
TEST_P(read_stream_filter_test, a_number_no_double_can_hold_is_refused_and_the_store_reopens) {
  {
    store s = open();
    for (const char* value : {"1e400", "-1e400", "1e-400", "[1,1e400]", R"({"a":{"b":1E+999}})"}) {
      EXPECT_EQ(create_wait(s, "huge", filter{}.where("/x", value)), errc::invalid_argument) << value;
      auto why = filter{}.where("/x", value).validate();
      ASSERT_FALSE(why) << value;
      EXPECT_NE(why.error().message().find("out of range"), std::string::npos) << why.error().message();
    }
    EXPECT_FALSE(create_wait(s, "fine", filter{}.where("/x", "1.7976931348623157e308")))
        << "the largest double is a number a filter can hold";
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  ASSERT_EQ(s.list_read_streams().size(), 1u);
}

// A stored filter is the filter given: 12.5 is not re-spelt 1.25E1 and two
// conditions on one pointer stay two.
TEST_P(read_stream_filter_test, a_definition_reloads_as_given_and_creating_it_again_is_a_no_op) {
  const filter price = filter::event_types({"Paid"}).where("/price", "12.5");
  const filter id = filter{}.where("/id", "123456789012345678901234");
  const filter both = filter{}.where("/a", "1").where("/a", "2");
  const filter spaced = filter{}.where_metadata("/tenant", R"( { "b" : [ 1 , "x y" ] , "a" : 1.50 } )");
  {
    store s = open();
    ASSERT_FALSE(create_wait(s, "price", price));
    ASSERT_FALSE(create_wait(s, "id", id));
    ASSERT_FALSE(create_wait(s, "both", both));
    ASSERT_FALSE(create_wait(s, "spaced", spaced));
    ASSERT_FALSE(close_wait(s));
  }
  store s = open();
  std::map<std::string, filter> listed;
  for (auto& r : s.list_read_streams()) listed[r.name] = r.filter;
  EXPECT_EQ(listed["price"], price);
  EXPECT_EQ(listed["id"], id);
  EXPECT_EQ(listed["both"], both);
  EXPECT_EQ(listed["spaced"].fields.at(0).value, R"({"b":[1,"x y"],"a":1.50})")
      << "kept as written, compacted";
  EXPECT_FALSE(create_wait(s, "price", price)) << "the same filter after a restart";
  EXPECT_FALSE(create_wait(s, "price", filter::event_types({"Paid"}).where("/price", "1.25E1")))
      << "an equal value spelt otherwise is the same filter";
  EXPECT_FALSE(create_wait(s, "id", id));
  EXPECT_FALSE(create_wait(s, "both", both));
  EXPECT_FALSE(create_wait(s, "spaced", spaced));
  EXPECT_EQ(create_wait(s, "both", filter{}.where("/a", "2")), errc::read_stream_exists);
  EXPECT_EQ(create_wait(s, "id", filter{}.where("/id", "123456789012345678901235")),
            errc::read_stream_exists);
  ASSERT_FALSE(append_wait(s, "x-1", {make_event("T", R"({"a":2,"price":12.50})")}).ec);
  ASSERT_FALSE(append_wait(s, "x-2", {make_event("Paid", R"({"a":1,"price":12.50})")}).ec);
  EXPECT_EQ(linked(s, "both"), std::vector<std::string>{}) << "a == 1 and a == 2: nothing";
  EXPECT_EQ(linked(s, "price"), std::vector<std::string>{"x-2"});
}

// Earlier versions stored values re-spelt by Boost.JSON (12.5 as 1.25E1):
// such a file still opens, and the filter it holds is the same filter.
TEST_P(read_stream_filter_test, a_definition_stored_by_an_earlier_version_reads_as_the_same_filter) {
  {
    store s = open();
    ASSERT_FALSE(create_wait(s, "cheap", filter::event_types({"Paid"}).where("/price", "12.5")));
    ASSERT_FALSE(close_wait(s));
  }
  std::ofstream(std::filesystem::path(dir_.sub("store")) / "links" / "read_streams.json", std::ios::trunc)
      << R"({"readStreams":[{"name":"cheap","filter":{"types":["Paid"],"streamPrefix":"","where":{"/data/price":1.25E1}},"built":true}]})"
      << "\n";
  store s = open();
  ASSERT_EQ(s.list_read_streams().size(), 1u);
  EXPECT_EQ(s.list_read_streams()[0].filter.fields.at(0).value, "1.25E1");
  EXPECT_FALSE(create_wait(s, "cheap", filter::event_types({"Paid"}).where("/price", "12.5")));
  ASSERT_FALSE(append_wait(s, "order-1", {make_event("Paid", R"({"price":12.5})")}).ec);
  EXPECT_EQ(linked(s, "cheap"), std::vector<std::string>{"order-1"});
}

// Appends take JSON nested max_json_depth deep; a filter must read all of it.
TEST_P(read_stream_filter_test, events_nested_as_deep_as_an_append_takes_are_matched) {
  const std::size_t deepest = detail::max_json_depth;
  store s = open();
  ASSERT_FALSE(append_wait(s, "deep-1", {make_event("T", nested(deepest, "1"))}).ec);
  ASSERT_FALSE(append_wait(s, "deep-2", {make_event("T", nested(40, "2"))}).ec);
  EXPECT_EQ(append_wait(s, "deep-3", {make_event("T", nested(deepest + 1, "1"))}).ec, errc::invalid_event);
  ASSERT_FALSE(create_wait(s, "tenant-a", filter{}.where("/tenant", R"("a")")));
  EXPECT_EQ(linked(s, "tenant-a"), (std::vector<std::string>{"deep-1", "deep-2"}));
  const std::string pointer = "/deep" + [] {
    std::string p;
    for (std::size_t i = 0; i + 2 < detail::max_json_depth; ++i) p += "/0";
    return p;
  }();
  ASSERT_FALSE(create_wait(s, "innermost", filter{}.where(pointer, "[1]")));
  EXPECT_EQ(linked(s, "innermost"), std::vector<std::string>{"deep-1"});
  // A value as deep as a value may be (the event's whole array, one level below its root).
  const std::string whole = std::string(deepest - 1, '[') + "1" + std::string(deepest - 1, ']');
  ASSERT_FALSE(create_wait(s, "whole", filter{}.where("/deep", whole)));
  EXPECT_EQ(linked(s, "whole"), std::vector<std::string>{"deep-1"});
}

// Integers are compared digit for digit: as doubles, ...234 and ...235 are one number.
TEST_P(read_stream_filter_test, integers_of_any_size_are_compared_exactly) {
  store s = open();
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"big-1", "123456789012345678901234"}, {"big-2", "123456789012345678901235"},
      {"u64-1", "18446744073709551615"},     {"u64-2", "18446744073709551614"},
      {"i64-1", "-9223372036854775808"},     {"i64-2", "-9223372036854775807"},
      {"dbl-1", "9007199254740993"},         {"dbl-2", "9007199254740992"},
      {"dec-1", "1.00000000000000000001"},   {"dec-2", "1"}};
  for (const auto& [stream, id] : ids)
    ASSERT_FALSE(append_wait(s, stream, {make_event("T", R"({"id":)" + id + "}")}).ec);
  for (const auto& [stream, id] : ids) {
    ASSERT_FALSE(create_wait(s, "by-" + stream, filter{}.where("/id", id)));
    EXPECT_EQ(linked(s, "by-" + stream), std::vector<std::string>{stream}) << id;
  }
  ASSERT_FALSE(create_wait(s, "one", filter{}.where("/id", "1.0e0")));
  EXPECT_EQ(linked(s, "one"), std::vector<std::string>{"dec-2"}) << "1.0e0 is the number 1";
}

}  // namespace
