// JSON forms of events (event_json.hpp) and the raw-text helpers under them.
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include <evstore/event_json.hpp>

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace evstore;

TEST(event_json, data_keeps_the_clients_number_spellings_and_loses_only_whitespace) {
  auto events = parse_events_json(R"({"type":"OrderPlaced","data":{ "total" : 129.5,
      "qty": [1, 2.50e3, -0.0], "note": "two  spaces, a \"quote\" and a }" }, "metadata": {"k": 1E5}})");
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, "OrderPlaced");
  EXPECT_EQ((*events)[0].data,
            R"({"total":129.5,"qty":[1,2.50e3,-0.0],"note":"two  spaces, a \"quote\" and a }"})");
  EXPECT_EQ((*events)[0].metadata, R"({"k":1E5})");
}

TEST(event_json, arrays_escaped_keys_and_duplicates_follow_the_parsed_document) {
  auto events =
      parse_events_json(R"([{"type":"A","data":1.0},{"type":"B","d\u0061ta":"x","data":"y"},{"type":"C"}])");
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].data, "1.0");
  EXPECT_EQ((*events)[1].data, R"("y")") << "the last of duplicated keys, as Boost.JSON";
  EXPECT_EQ((*events)[2].data, "") << "no data: stored as null";
  EXPECT_EQ((*events)[2].metadata, "");
}

TEST(event_json, bad_events_are_refused_with_the_reason) {
  struct bad {
    const char* text;
    const char* reason;
  };
  for (const bad& b :
       {bad{"", "malformed JSON"}, bad{"{\"type\":\"A\"", "malformed JSON"}, bad{"[]", "empty array"},
        bad{"42", "not a JSON object"}, bad{"{\"data\":1}", "\"type\""}, bad{"{\"type\":\"\"}", "\"type\""},
        bad{"[{\"type\":\"A\"},{\"type\":7}]", "event 1"}, bad{"{\"type\":\"A\",\"id\":\"nope\"}", "UUID"},
        bad{"{\"type\":\"A\",\"id\":7}", "UUID"}}) {
    auto r = parse_events_json(b.text);
    ASSERT_FALSE(r) << b.text;
    EXPECT_EQ(r.error().code, errc::invalid_event) << b.text;
    EXPECT_NE(r.error().message().find(b.reason), std::string::npos)
        << b.text << " -> " << r.error().message();
  }
}

TEST(event_json, a_recorded_event_prints_on_one_line_even_if_its_data_spans_lines) {
  // The C++ API stores data as the application gave it (validated, not rewritten).
  recorded_event e;
  e.stream = "orders-1";
  e.type = "OrderPlaced";
  e.data = "{\n  \"total\": 129.5,\n  \"note\": \"a b\"\n}";
  e.metadata = "{\r\n\"k\": 1}";
  e.version = 2;
  e.position = 7;
  e.committed_at = 1700000000000;
  std::string line;
  append_event_json(line, e);
  EXPECT_EQ(
      line,
      R"({"stream":"orders-1","version":2,"position":7,"type":"OrderPlaced",)"
      R"("data":{"total":129.5,"note":"a b"},"metadata":{"k":1},"id":null,"committedAt":1700000000000})");
  EXPECT_FALSE(boost::json::parse(line).as_object().empty());
}

TEST(event_json, an_exported_line_parses_back_with_stream_and_version) {
  recorded_event e;
  e.stream = "cart-1";
  e.type = "ItemAdded";
  e.data = R"({"price":12.50})";
  e.version = 3;
  e.position = 9;
  std::string line;
  append_event_json(line, e);
  auto back = parse_exported_event_json(line);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->stream, "cart-1");
  EXPECT_EQ(back->version, 3u);
  EXPECT_EQ(back->event.type, "ItemAdded");
  EXPECT_EQ(back->event.data, R"({"price":12.50})");
  EXPECT_EQ(back->event.metadata, "");

  auto no_version = parse_exported_event_json(R"({"stream":"s","type":"A"})");
  ASSERT_TRUE(no_version);
  EXPECT_FALSE(no_version->version);
  EXPECT_FALSE(parse_exported_event_json(R"({"type":"A"})")) << "stream is required";
  EXPECT_FALSE(parse_exported_event_json(R"({"stream":"s","type":"A","version":-1})"));
  EXPECT_FALSE(parse_exported_event_json(R"({"stream":"s","type":"A","version":"3"})"));
}

TEST(json_text, members_elements_and_compaction) {
  using namespace evstore::detail;
  const std::string_view obj = R"( { "a" : [1, {"b": "]}"}] , "s\"k" : "v" , "n":-1.5e3 } )";
  EXPECT_EQ(raw_member(obj, "a"), R"([1, {"b": "]}"}])");
  EXPECT_EQ(raw_member(obj, "s\"k"), R"("v")");
  EXPECT_EQ(raw_member(obj, "n"), "-1.5e3");
  EXPECT_FALSE(raw_member(obj, "missing"));
  const auto elements = raw_elements(R"([ true, null ,"x,y", {"z":[]} ])");
  ASSERT_EQ(elements.size(), 4u);
  EXPECT_EQ(elements[2], R"("x,y")");
  EXPECT_EQ(elements[3], R"({"z":[]})");
  std::string out;
  append_compact_json(out, "{ \"a b\" : [ 1 ,\n 2 ] ,\t\"c\":\"\\\" x\" }");
  EXPECT_EQ(out, R"({"a b":[1,2],"c":"\" x"})");
}

// The HTTP append takes what the C++ append takes: data nested max_json_depth deep.
TEST(event_json, data_nested_as_deep_as_an_append_takes_parses) {
  const std::size_t d = detail::max_json_depth;
  const std::string deep = std::string(d, '[') + std::string(d, ']');
  auto events = parse_events_json(R"([{"type":"T","data":)" + deep + "}]");
  ASSERT_TRUE(events) << events.error().message();
  EXPECT_EQ(events->at(0).data, deep);
  EXPECT_TRUE(parse_exported_event_json(R"({"stream":"s","type":"T","data":)" + deep + "}"));
}
