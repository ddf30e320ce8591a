#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include <evstore/event_json.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <charconv>

namespace evstore {
namespace {

// Data and metadata keep their text as written (compacted): the client's
// number spellings survive, which re-serializing the parsed value would lose.
std::string raw_json(const boost::json::object& obj, std::string_view raw_object, std::string_view key) {
  std::string out;
  if (auto raw = detail::raw_member(raw_object, key)) {
    detail::append_compact_json(out, *raw);
  } else {
    out = boost::json::serialize(obj.at(key));  // not reached for valid input; keeps the value either way
  }
  return out;
}

// `v` is the parsed object, `raw` its text; `where` prefixes every error detail ("event 2: ").
[[nodiscard]] result<event_data> event_from(const boost::json::value& v, std::string_view raw,
                                            const std::string& where) {
  const auto* obj = v.if_object();
  if (obj == nullptr) return error(errc::invalid_event, where + "not a JSON object");
  const auto* type = obj->if_contains("type");
  if (type == nullptr || !type->is_string() || type->as_string().empty()) {
    return error(errc::invalid_event, where + "needs a non-empty string \"type\"");
  }
  event_data e;
  e.type = std::string(type->as_string());
  if (obj->contains("data")) e.data = raw_json(*obj, raw, "data");
  if (const auto* meta = obj->if_contains("metadata"); meta != nullptr && !meta->is_null()) {
    e.metadata = raw_json(*obj, raw, "metadata");
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

// Data and metadata may nest max_json_depth deep (what an append takes), inside
// `envelope` levels: an exported line or an event (1), an array of events (2).
boost::json::parse_options depth_for(std::size_t envelope) {
  boost::json::parse_options opts;
  opts.max_depth = detail::max_json_depth + envelope;
  return opts;
}

}  // namespace

[[nodiscard]] result<std::vector<event_data>> parse_events_json(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec, {}, depth_for(2));
  if (ec) return error(errc::invalid_event, "malformed JSON: " + ec.message());
  std::vector<event_data> events;
  if (const auto* arr = v.if_array()) {
    if (arr->empty()) return error(errc::invalid_event, "an empty array appends nothing");
    events.reserve(arr->size());
    const auto raw = detail::raw_elements(text);
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto e = event_from((*arr)[i], i < raw.size() ? raw[i] : std::string_view(),
                          "event " + std::to_string(i) + ": ");
      if (!e) return e.error();
      events.push_back(std::move(*e));
    }
  } else {
    auto e = event_from(v, text, "event 0: ");
    if (!e) return e.error();
    events.push_back(std::move(*e));
  }
  return events;
}

[[nodiscard]] result<exported_event> parse_exported_event_json(std::string_view line) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(line, ec, {}, depth_for(1));
  if (ec) return error(errc::invalid_event, "malformed JSON: " + ec.message());
  const auto* obj = v.if_object();
  const auto* stream = obj ? obj->if_contains("stream") : nullptr;
  if (stream == nullptr || !stream->is_string()) {
    return error(errc::invalid_event, "an exported event needs a string \"stream\"");
  }
  exported_event out;
  out.stream = std::string(stream->as_string());
  if (const auto* version = obj->if_contains("version"); version != nullptr && !version->is_null()) {
    boost::system::error_code nec;
    const auto n = version->is_number() ? version->to_number<std::uint64_t>(nec) : 0;
    if (!version->is_number() || nec) {
      return error(errc::invalid_event, "\"version\" must be a non-negative integer");
    }
    out.version = n;
  }
  auto e = event_from(v, line, "");
  if (!e) return e.error();
  out.event = std::move(*e);
  return out;
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
  // data and metadata were validated as JSON on append: embed them as they
  // are, compacted if they span lines (one event, one line: NDJSON, SSE).
  const auto embed = [&out](std::string_view json) {
    if (detail::has_line_break(json)) {
      detail::append_compact_json(out, json);
    } else {
      out += json;
    }
  };
  out += ",\"data\":";
  embed(e.data);
  out += ",\"metadata\":";
  if (e.metadata.empty()) {
    out += "null";
  } else {
    embed(e.metadata);
  }
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
