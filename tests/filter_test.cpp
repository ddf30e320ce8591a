// Read-stream filters: the stored JSON form (docs/http.md's shape), validation, matching.
#include "json/json_check.hpp"
#include "links/filter_matcher.hpp"
#include <evstore/read_stream.hpp>

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

namespace {

TEST(filter, numbers_are_equal_when_they_spell_the_same_decimal) {
  const auto same = [](const char* filter_value, const char* event_value) {
    const detail::filter_matcher m(filter{}.where("/n", filter_value));
    return m.matches(event("s", "T", std::string(R"({"n":)") + event_value + "}"));
  };
  for (auto [a, b] : std::vector<std::pair<const char*, const char*>>{
           {"12.5", "1.25E1"},
           {"12.5", "12.50"},
           {"1", "1.0"},
           {"1", "10e-1"},
           {"0", "-0.0"},
           {"0", "0e99"},
           {"-3", "-3.000"},
           {"100", "1e2"},
           {"123456789012345678901234", "123456789012345678901234.0"},
           {"18446744073709551615", "18446744073709551615"},
           {"-9223372036854775808", "-9223372036854775808"}}) {
    EXPECT_TRUE(same(a, b)) << a << " == " << b;
  }
  for (auto [a, b] : std::vector<std::pair<const char*, const char*>>{
           {"123456789012345678901234", "123456789012345678901235"},
           {"9007199254740992", "9007199254740993"},
           {"18446744073709551615", "18446744073709551614"},
           {"1", "1.0000000000000000000001"},
           {"1", "-1"},
           {"1", "\"1\""},
           {"0", "false"},
           {"0", "null"},
           {"1e300", "1e-300"}}) {
    EXPECT_FALSE(same(a, b)) << a << " != " << b;
  }
}

TEST(filter, objects_compare_by_members_and_strings_after_unescaping) {
  const detail::filter_matcher m(filter{}.where("/v", R"({"a":[1,"x"],"b":{"c":null}})"));
  EXPECT_TRUE(m.matches(event("s", "T", R"({"v":{"b":{"c":null},"a":[1.0,"\u0078"]}})")));
  EXPECT_TRUE(m.matches(event("s", "T", R"({"v":{"b":1,"a":[1,"x"],"b":{"c":null}}})")))
      << "the last of a repeated key";
  EXPECT_FALSE(m.matches(event("s", "T", R"({"v":{"a":[1,"x"],"b":{"c":null},"d":1}})")));
  EXPECT_FALSE(m.matches(event("s", "T", R"({"v":{"a":["x",1],"b":{"c":null}}})")));
  const detail::filter_matcher escaped(filter{}.where("/a~1b/~0", "1"));
  EXPECT_TRUE(escaped.matches(event("s", "T", R"({"a/b":{"~":1}})")));
  const detail::filter_matcher index(filter{}.where("/a/1", "1"));
  EXPECT_TRUE(index.matches(event("s", "T", R"({"a":[0,1]})")));
  EXPECT_FALSE(index.matches(event("s", "T", R"({"a":{"01":1}})")));
  const detail::filter_matcher leading_zero(filter{}.where("/a/01", "1"));
  EXPECT_FALSE(leading_zero.matches(event("s", "T", R"({"a":[0,1]})"))) << "01 is no array index";
  EXPECT_TRUE(leading_zero.matches(event("s", "T", R"({"a":{"01":1}})")));
}

TEST(filter, conditions_on_one_pointer_must_all_hold_and_survive_to_json) {
  const filter f = filter{}.where("/a", "1").where("/a", "1.0").where_metadata("/a", "2");
  const detail::filter_matcher m(f);
  EXPECT_TRUE(m.matches(event("s", "T", R"({"a":1})", R"({"a":2})")));
  const filter g = filter{}.where("/a", "1").where("/a", "2");
  EXPECT_FALSE(detail::filter_matcher(g).matches(event("s", "T", R"({"a":2})")));
  for (const filter& x : {f, g}) {
    auto back = filter::from_json(x.to_json());
    ASSERT_TRUE(back) << x.to_json();
    EXPECT_EQ(*back, x) << x.to_json();
  }
  EXPECT_NE(g.to_json().find("\"fields\""), std::string::npos) << "\"where\" cannot hold two /a";
  auto twice = filter::from_json(R"({"where":{"/data/a":1,"/data/a":2}})");
  ASSERT_FALSE(twice) << "a repeated key in \"where\" is refused, not collapsed";
  EXPECT_NE(twice.error().message().find("twice"), std::string::npos);
}

TEST(filter, values_keep_their_spelling_through_json) {
  auto f = filter::from_json(
      R"({"types":["Paid"],"where":{"/data/price": 12.50 ,"/data/id":123456789012345678901234,"/metadata/x":{ "a" : [ 1e2 ] }}})");
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->fields.size(), 3u);
  EXPECT_EQ(f->fields[0].value, "12.50");
  EXPECT_EQ(f->fields[1].value, "123456789012345678901234");
  EXPECT_EQ(f->fields[2].value, R"({"a":[1e2]})");
  EXPECT_EQ(filter::from_json(f->to_json()).value(), *f);
  auto member = filter::from_json_member(R"({"filter":{"where":{"/data/n":1.50}}})", "filter");
  ASSERT_TRUE(member) << member.error().message();
  EXPECT_EQ(member->fields.at(0).value, "1.50");
  EXPECT_FALSE(filter::from_json_member(R"({"filtre":{}})", "filter"));
}

// An unknown key or operator, or a malformed pointer would otherwise widen or
// silently change a filter: each is refused with the reason.
TEST(filter, what_a_filter_cannot_say_is_refused_with_the_reason) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"where":{"/data/total":{"$gte":5,"$foo":1}}})", "unknown operator $foo"},
      {R"({"where":{"/data/total":{"$gt":5,"$gt":6}}})", "$gt given twice"},
      {R"({"where":{"/data/total":{"$gt":5,"b":1}}})", "mixes operators"},
      {R"({"where":{"/data/total":{"$lt":[1]}}})", "number or a string"},
      {R"({"where":{"/data/total":{"$gte":null}}})", "number or a string"},
      {R"({"where":{"/data/total":{"$in":[]}}})", "non-empty array"},
      {R"({"where":{"/data/tags":{"$hasAny":"x"}}})", "non-empty array"},
      {R"({"fields":[{"pointer":"/t","value":{"$in":5}}]})", "non-empty array"},
      {R"({"where":{"/data/x":{"$gt":1e400}}})", "out of range"},
      {R"({"type":["A"]})", "unknown key"},
      {R"({"types":["A"],"types":["B"]})", "twice"},
      {R"({"fields":[{"pointer":"/t","value":1,"op":"gt"}]})", "unknown key"},
      {R"({"streamPrefix":"a-","category":"b"})", "not both"},
      {R"({"where":{"/data/a~2":1}})", "JSON pointer"},
      {R"({"where":{"/data/x":1e400}})", "out of range"},
  };
  for (const auto& [json, reason] : refused) {
    auto f = filter::from_json(json);
    ASSERT_FALSE(f) << json;
    EXPECT_EQ(f.error().code, errc::invalid_argument) << json;
    EXPECT_NE(f.error().message().find(reason), std::string::npos) << json << ": " << f.error().message();
  }
  EXPECT_FALSE(filter{}.where("/a", R"({"x":1e400,"x":1})").validate()) << "a repeated key's lost value too";
  EXPECT_TRUE(filter{}.where("/a", R"({"$eq":{"$x":1}})").validate()) << "an operand is plain data";
  EXPECT_TRUE(filter{}.where("/a", R"({"b":{"$eq":1}})").validate()) << "a nested \"$\" key is plain data";
  EXPECT_FALSE(filter{}.where("/a~", "1").validate());
  EXPECT_FALSE(filter::event_types({"\xff"}).validate());
  std::string deep(detail::max_json_depth + 1, '[');
  deep += std::string(detail::max_json_depth + 1, ']');
  EXPECT_FALSE(filter{}.where("/a", deep).validate());
  EXPECT_TRUE(filter{}.where("/a", deep.substr(1, deep.size() - 2)).validate());
}

// Every operator, on numbers, strings, arrays and missing values.
TEST(filter, operators_compare_as_documented) {
  const auto passes = [](const std::string& condition, const std::string& value) {
    const filter f = filter{}.where("/v", condition);
    EXPECT_TRUE(f.validate()) << condition;
    return detail::filter_matcher(f).matches(event("s", "T", R"({"v":)" + value + "}"));
  };
  struct row {
    const char* condition;
    std::vector<const char*> pass, fail;
  };
  const std::vector<row> rows = {
      {R"({"$eq":12.5})", {"12.50", "1.25E1"}, {"12.4", "\"12.5\""}},
      {R"({"$ne":1})", {"2", "\"1\"", "null", "[1]"}, {"1", "1.0", "1e0"}},
      {R"({"$gt":100})",
       {"100.0000000000000000001", "1e3", "123456789012345678901234"},
       {"100", "1e2", "99", "-1000", "\"200\"", "true", "null"}},
      {R"({"$gte":100})", {"100", "1e2", "101"}, {"99.999", "\"100\""}},
      {R"({"$lt":-1})", {"-2", "-1.5", "-1e400"}, {"-1", "0", "1", "-0.5", "\"-2\""}},
      {R"({"$lte":0})", {"0", "-0.0", "-1e-300"}, {"1e-300", "[]"}},
      {R"({"$gt":9007199254740992})", {"9007199254740993"}, {"9007199254740992", "9007199254740992.0"}},
      {R"({"$gt":"b"})", {"\"ba\"", "\"c\"", "\"\u00e9\""}, {"\"b\"", "\"a\"", "\"B\"", "2"}},
      {R"({"$lt":"b"})", {"\"a\"", "\"\"", "\"B\""}, {"\"b\"", "\"ba\"", "\"\u00e9\"", "1"}},
      {R"({"$gte":10,"$lt":20})", {"10", "19.99"}, {"9.99", "20", "\"15\""}},
      {R"({"$lt":20,"$gte":10})", {"15"}, {"25"}},
      {R"({"$in":[1,"a",null,{"x":[2]}]})",
       {"1.0", "\"a\"", "null", R"({"x":[2.0]})"},
       {"2", "\"b\"", "[1]", "false"}},
      {R"({"$has":"vip"})",
       {R"(["a","vip"])", R"(["vip"])"},
       {"\"vip\"", "[]", R"(["VIP"])", R"({"vip":1})"}},
      {R"({"$has":[1]})", {"[[1],2]"}, {"[1]"}},
      {R"({"$hasAny":["a",2]})", {R"(["x","a"])", "[2.0]"}, {"[]", R"(["b"])", "\"a\"", "2"}},
      {R"({"$eq":{"$x":1}})", {R"({"$x":1})"}, {"1"}},
      {R"({"$ne":1,"$in":[1,2,3]})", {"2", "3"}, {"1", "4"}},
  };
  for (const row& r : rows) {
    for (const char* v : r.pass) EXPECT_TRUE(passes(r.condition, v)) << r.condition << " on " << v;
    for (const char* v : r.fail) EXPECT_FALSE(passes(r.condition, v)) << r.condition << " on " << v;
  }
  // No value at the pointer passes no condition, $ne included.
  for (const char* c : {R"({"$ne":1})", R"({"$lt":5})", R"({"$in":[null]})"}) {
    EXPECT_FALSE(detail::filter_matcher(filter{}.where("/v", c)).matches(event("s", "T", R"({"w":1})"))) << c;
  }
}

TEST(filter, operators_survive_json_and_their_order_does_not_matter) {
  auto f = filter::from_json(
      R"({"where":{"/data/total":{ "$gte" : 10.0 , "$lt":2E1},"/metadata/tags":{"$has":"a"}}})");
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->fields.size(), 2u);
  EXPECT_EQ(f->fields[0].value, R"({"$gte":10.0,"$lt":2E1})") << "kept as written, compacted";
  auto back = filter::from_json(f->to_json());
  ASSERT_TRUE(back) << f->to_json();
  EXPECT_EQ(*back, *f);
  const detail::filter_matcher m(*f);
  EXPECT_TRUE(m.matches(event("s", "T", R"({"total":15})", R"({"tags":["a"]})")));
  EXPECT_FALSE(m.matches(event("s", "T", R"({"total":20})", R"({"tags":["a"]})")));
  EXPECT_TRUE(m.same_filter(
      filter{}.where("/total", R"({"$lt":20,"$gte":10})").where_metadata("/tags", R"({"$has":"a"})")))
      << "the same operators in another order, the same operands spelt otherwise";
  EXPECT_FALSE(m.same_filter(
      filter{}.where("/total", R"({"$lte":20,"$gte":10})").where_metadata("/tags", R"({"$has":"a"})")));
  EXPECT_FALSE(
      m.same_filter(filter{}.where("/total", R"({"$gte":10})").where_metadata("/tags", R"({"$has":"a"})")));
}

// Joins: names, alternatives (any) and conjunctions (all), nested.
TEST(filter, joins_take_named_streams_and_alternatives_in_any_combination) {
  const filter carts_or_order_1 =
      filter::one_of({filter::of_streams({"order-1", "order-7"}), filter::category("cart")});
  const detail::filter_matcher m(carts_or_order_1);
  EXPECT_TRUE(m.matches(event("order-1", "X", "{}")));
  EXPECT_TRUE(m.matches(event("order-7", "X", "{}")));
  EXPECT_TRUE(m.matches(event("cart-3", "X", "{}")));
  EXPECT_FALSE(m.matches(event("order-2", "X", "{}")));
  EXPECT_FALSE(m.matches(event("order-10", "X", "{}"))) << "a name is exact, not a prefix";
  // Top-level parts AND the alternatives: only Paid events of those streams.
  filter paid = carts_or_order_1;
  paid.types = {"Paid"};
  EXPECT_TRUE(detail::filter_matcher(paid).matches(event("cart-3", "Paid", "{}")));
  EXPECT_FALSE(detail::filter_matcher(paid).matches(event("cart-3", "Added", "{}")));
  // all: every sub-filter.
  filter both;
  both.all = {filter::category("cart"), filter{}.where("/total", R"({"$gte":10})")};
  EXPECT_TRUE(detail::filter_matcher(both).matches(event("cart-1", "X", R"({"total":10})")));
  EXPECT_FALSE(detail::filter_matcher(both).matches(event("cart-1", "X", R"({"total":9})")));
  EXPECT_FALSE(detail::filter_matcher(both).matches(event("order-1", "X", R"({"total":10})")));
  // Nested: (order-1 OR (cart-* AND (Paid OR total >= 100))).
  filter nested =
      filter::one_of({filter::of_streams({"order-1"}), [] {
                        filter c = filter::category("cart");
                        c.any = {filter::event_types({"Paid"}), filter{}.where("/total", R"({"$gte":100})")};
                        return c;
                      }()});
  const detail::filter_matcher n(nested);
  EXPECT_TRUE(n.matches(event("order-1", "Added", R"({"total":1})")));
  EXPECT_TRUE(n.matches(event("cart-1", "Paid", R"({"total":1})")));
  EXPECT_TRUE(n.matches(event("cart-1", "Added", R"({"total":100})")));
  EXPECT_FALSE(n.matches(event("cart-1", "Added", R"({"total":99})")));
  EXPECT_FALSE(n.matches(event("order-2", "Paid", R"({"total":100})")));
  for (const filter& f : {carts_or_order_1, paid, both, nested}) {
    ASSERT_TRUE(f.validate()) << f.to_json();
    auto back = filter::from_json(f.to_json());
    ASSERT_TRUE(back) << f.to_json() << ": " << back.error().message();
    EXPECT_EQ(*back, f) << f.to_json();
    EXPECT_TRUE(detail::filter_matcher(f).same_filter(*back));
  }
  EXPECT_FALSE(detail::filter_matcher(nested).same_filter(carts_or_order_1));
  EXPECT_EQ(filter::event_types({"A"}).to_json().find("any"), std::string::npos)
      << "a filter without joins keeps its stored form";
}

TEST(filter, joins_from_json_keep_spelling_and_bad_ones_are_refused) {
  auto f = filter::from_json(
      R"({"types":["Paid"],"any":[{"streams":["order-1"]},{"category":"cart","where":{"/data/total":{"$gt":12.50}}}]})");
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->any.size(), 2u);
  EXPECT_EQ(f->any[0].streams, std::vector<std::string>{"order-1"});
  EXPECT_EQ(f->any[1].stream_prefix, "cart-");
  EXPECT_EQ(f->any[1].fields.at(0).value, R"({"$gt":12.50})");
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"any":[]})", "non-empty array of filters"},
      {R"({"all":{}})", "non-empty array of filters"},
      {R"({"streams":[]})", "non-empty array of names"},
      {R"({"streams":["a",1]})", "non-empty array of names"},
      {R"({"streams":[""]})", "empty stream name"},
      {R"({"any":[{"typo":1}]})", "unknown key"},
      {R"({"any":[{"where":{"/data/x":{"$nope":1}}}]})", "unknown operator"},
      {R"({"any":[{"any":[{"any":[{"any":[{"any":[{"types":["A"]}]}]}]}]}]})", "nested deeper than 4"},
  };
  for (const auto& [json, reason] : refused) {
    auto r = filter::from_json(json);
    ASSERT_FALSE(r) << json;
    EXPECT_EQ(r.error().code, errc::invalid_argument) << json;
    EXPECT_NE(r.error().message().find(reason), std::string::npos) << json << ": " << r.error().message();
  }
  EXPECT_TRUE(filter::from_json(R"({"any":[{"any":[{"any":[{"any":[{"types":["A"]}]}]}]}]})"))
      << "4 levels are allowed";
  filter wide;
  for (int i = 0; i < 1100; ++i) wide.streams.push_back("s-" + std::to_string(i));
  auto too_wide = wide.validate();
  ASSERT_FALSE(too_wide);
  EXPECT_NE(too_wide.error().message().find("more than 1024 parts"), std::string::npos);
}

// What an access check of a read stream relies on.
TEST(filter, stream_prefixes_bound_every_stream_a_filter_can_take) {
  using prefixes = std::optional<std::vector<std::string>>;
  EXPECT_EQ(filter::event_types({"A"}).stream_prefixes(), std::nullopt);
  EXPECT_EQ(filter::category("cart").stream_prefixes(), prefixes({"cart-"}));
  EXPECT_EQ(filter::of_streams({"a-1", "b-2"}).stream_prefixes(), prefixes({"a-1", "b-2"}));
  EXPECT_EQ(filter::one_of({filter::of_streams({"a-1"}), filter::category("c")}).stream_prefixes(),
            prefixes({"a-1", "c-"}));
  EXPECT_EQ(filter::one_of({filter::of_streams({"a-1"}), filter::event_types({"A"})}).stream_prefixes(),
            std::nullopt)
      << "one alternative of any stream: any stream";
  filter bounded_by_all = filter::event_types({"A"});
  bounded_by_all.all = {filter::event_types({"B"}), filter::category("x")};
  EXPECT_EQ(bounded_by_all.stream_prefixes(), prefixes({"x-"}));
  filter prefix_and_any = filter::category("x");
  prefix_and_any.any = {filter::event_types({"A"})};
  EXPECT_EQ(prefix_and_any.stream_prefixes(), prefixes({"x-"}));
}

}  // namespace
