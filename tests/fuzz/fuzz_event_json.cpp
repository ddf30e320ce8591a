// Fuzz target: event JSON (event_json.hpp) and the raw-text helpers under it.
// An accepted event's data and metadata are valid JSON equal, as values, to
// what the parsed document holds, and an event prints as one line of JSON that
// parses back to the same fields.
#include "fuzz_check.hpp"
#include "json/json_text.hpp"
#include <evstore/event_json.hpp>

#include <boost/json.hpp>

#include <string>

namespace {

boost::json::value parse_or_null(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  FUZZ_CHECK(!ec);
  return v;
}

void check_event(const boost::json::object& source, const evstore::event_data& e) {
  if (const auto* d = source.if_contains("data")) FUZZ_CHECK(parse_or_null(e.data) == *d);
  if (const auto* m = source.if_contains("metadata"); m != nullptr && !m->is_null()) {
    FUZZ_CHECK(parse_or_null(e.metadata) == *m);
  }
  evstore::recorded_event r;
  r.stream = "s";
  r.type = e.type;
  r.data = e.data.empty() ? std::string_view("null") : std::string_view(e.data);
  r.metadata = e.metadata;
  r.id = e.id;
  std::string line;
  evstore::append_event_json(line, r);
  FUZZ_CHECK(line.find('\n') == std::string::npos);
  const auto back = parse_or_null(line).as_object();
  FUZZ_CHECK(back.at("type").as_string() == e.type);
  FUZZ_CHECK(back.at("data") == parse_or_null(r.data));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto events = evstore::parse_events_json(text);
  if (events) {
    const auto doc = parse_or_null(text);
    if (const auto* arr = doc.if_array()) {
      FUZZ_CHECK(arr->size() == events->size());
      for (std::size_t i = 0; i < arr->size(); ++i) check_event((*arr)[i].as_object(), (*events)[i]);
    } else {
      FUZZ_CHECK(events->size() == 1);
      check_event(doc.as_object(), events->front());
    }
  }
  (void)evstore::parse_exported_event_json(text);
  (void)evstore::parse_expected_version(text);
  // Compaction keeps the value of any valid JSON.
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  if (!ec) {
    std::string compact;
    evstore::detail::append_compact_json(compact, text);
    FUZZ_CHECK(parse_or_null(compact) == v);
  }
  return 0;
}
