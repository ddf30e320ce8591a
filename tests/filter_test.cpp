// Read-stream filters: the stored JSON form (API.md's shape), validation, matching.
#include <evstore/read_stream.hpp>

#include "filter_matcher.hpp"

#include <gtest/gtest.h>

using namespace evstore;

namespace {

recorded_event event(std::string_view stream, std::string_view type, std::string_view data,
                     std::string_view metadata = {}) {
  recorded_event e;
  e.stream = stream;
  e.type = type;
  e.data = data;
  e.metadata = metadata;
  return e;
}

TEST(filter, api_shape_parses_and_round_trips) {
  auto f = filter::from_json(
      R"({"types":["OrderPaid","OrderShipped"],"streamPrefix":"order-","where":{"/data/total":1000,"/metadata/tenant":"a"}})");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->types, (std::vector<std::string>{"OrderPaid", "OrderShipped"}));
  EXPECT_EQ(f->stream_prefix, "order-");
  ASSERT_EQ(f->fields.size(), 2u);
  auto again = filter::from_json(f->to_json());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *f);
  auto category = filter::from_json(R"({"category":"cart"})");
  ASSERT_TRUE(category);
  EXPECT_EQ(category->stream_prefix, "cart-");
}

TEST(filter, bad_shapes_are_refused_with_invalid_argument) {
  for (const char* bad : {"[]", "{\"types\":\"x\"}", "{\"types\":[1]}", "{\"where\":{\"/total\":1}}",
                          "{\"where\":[]}", "{\"fields\":[{\"pointer\":\"a\",\"value\":1}]}", "not json",
                          "{\"streamPrefix\":3}", "{\"types\":[\"\"]}"}) {
    auto f = filter::from_json(bad);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().code, errc::invalid_argument) << bad;
  }
  EXPECT_FALSE(filter::event_types({"A"}).where("/x", "{nope").validate());
}

TEST(filter, matches_every_condition_together) {
  const detail::filter_matcher m(
      filter::event_types({"OrderPaid"}).where("/total", "1000").where_metadata("/tenant", "\"a\""));
  EXPECT_TRUE(m.matches(event("order-1", "OrderPaid", R"({"total":1000})", R"({"tenant":"a"})")));
  EXPECT_FALSE(m.matches(event("order-1", "OrderPaid", R"({"total":1000})", R"({"tenant":"b"})")));
  EXPECT_FALSE(m.matches(event("order-1", "OrderPaid", R"({"total":999})", R"({"tenant":"a"})")));
  EXPECT_FALSE(m.matches(event("order-1", "OrderShipped", R"({"total":1000})", R"({"tenant":"a"})")));
  EXPECT_FALSE(m.matches(event("order-1", "OrderPaid", R"({"total":1000})"))) << "no metadata: no match";
  const detail::filter_matcher prefix(filter::category("cart"));
  EXPECT_TRUE(prefix.matches(event("cart-1", "X", "{}")));
  EXPECT_FALSE(prefix.matches(event("carts-1", "X", "{}")));
  const detail::filter_matcher nested(filter{}.where("/a/0/b", "[1,2]"));
  EXPECT_TRUE(nested.matches(event("s", "X", R"({"a":[{"b":[1,2]}]})")));
  EXPECT_FALSE(nested.matches(event("s", "X", R"({"a":[{"b":[1]}]})")));
}

}  // namespace
