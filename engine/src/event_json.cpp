#include <evstore/event_json.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <charconv>

namespace evstore {
namespace {

result<event_data> event_from(const boost::json::value& v, std::size_t index) {
  const std::string where = "event " + std::to_string(index) + ": ";
  const auto* obj = v.if_object();
  if (obj == nullptr) return error(errc::invalid_event, where + "not a JSON object");
  const auto* type = obj->if_contains("type");
  if (type == nullptr || !type->is_string() || type->as_string().empty()) {
    return error(errc::invalid_event, where + "needs a non-empty string \"type\"");
  }
  event_data e;
  e.type = std::string(type->as_string());
  if (const auto* data = obj->if_contains("data")) e.data = boost::json::serialize(*data);
  if (const auto* meta = obj->if_contains("metadata"); meta != nullptr && !meta->is_null()) {
    e.metadata = boost::json::serialize(*meta);
  }
  if (const auto* id = obj->if_contains("id"); id != nullptr && !id->is_null()) {
    if (!id->is_string()) return error(errc::invalid_event, where + "\"id\" must be a UUID string");
    try {
      e.id = boost::uuids::string_generator()(std::string(id->as_string()));
    } catch (const std::exception&) {
      return error(errc::invalid_event, where + "\"id\" is not a UUID");
    }
  }
  return e;
}

}  // namespace

result<std::vector<event_data>> parse_events_json(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec) return error(errc::invalid_event, "malformed JSON: " + ec.message());
  std::vector<event_data> events;
  if (const auto* arr = v.if_array()) {
    if (arr->empty()) return error(errc::invalid_event, "an empty array appends nothing");
    events.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto e = event_from((*arr)[i], i);
      if (!e) return e.error();
      events.push_back(std::move(*e));
    }
  } else {
    auto e = event_from(v, 0);
    if (!e) return e.error();
    events.push_back(std::move(*e));
  }
  return events;
}

void append_event_json(std::string& out, const recorded_event& e) {
  out += "{\"stream\":";
  out += boost::json::serialize(boost::json::string_view(e.stream.data(), e.stream.size()));
  out += ",\"version\":";
  out += std::to_string(e.version);
  out += ",\"position\":";
  out += std::to_string(e.position);
  out += ",\"type\":";
  out += boost::json::serialize(boost::json::string_view(e.type.data(), e.type.size()));
  // data and metadata were validated as JSON on append: embed them as they are.
  out += ",\"data\":";
  out += e.data;
  out += ",\"metadata\":";
  out += e.metadata.empty() ? std::string_view("null") : e.metadata;
  out += ",\"id\":";
  if (e.id) {
    out += '"';
    out += boost::uuids::to_string(*e.id);
    out += '"';
  } else {
    out += "null";
  }
  out += ",\"committedAt\":";
  out += std::to_string(e.committed_at);
  out += '}';
}

std::optional<expected_version> parse_expected_version(std::string_view text) {
  if (text == "any") return expect::any;
  if (text == "no_stream") return expect::no_stream;
  if (text == "stream_exists") return expect::stream_exists;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return expect::exactly(v);
}

}  // namespace evstore
