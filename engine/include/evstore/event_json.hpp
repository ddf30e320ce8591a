// JSON forms of events, shared by the CLI (NDJSON) and the HTTP layer.
//
// Appended event: {"type": "...", "data": <any JSON>, "metadata": <any JSON>, "id": "<uuid>"}
// Recorded event: {"stream","version","position","type","data","metadata","id","committedAt"}
#pragma once

#include <evstore/error.hpp>
#include <evstore/types.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore {

// Parses one event object or an array of them. Errors: invalid_event with a
// detail naming the problem (malformed JSON, missing string "type", bad id).
[[nodiscard]] result<std::vector<event_data>> parse_events_json(std::string_view text);

// Appends the JSON object of `e` to `out` (data and metadata embedded as JSON;
// metadata null when absent, id null when absent).
void append_event_json(std::string& out, const recorded_event& e);

// One line of `evstore export`: a recorded event's JSON object. Only
// "stream" and "type" are required; "version" (if present) is where import
// puts it; "position" and "committedAt" are not carried over.
struct exported_event {
  std::string stream;
  std::optional<std::uint64_t> version;
  event_data event;
};
[[nodiscard]] result<exported_event> parse_exported_event_json(std::string_view line);

// "any" | "no_stream" | "stream_exists" | <non-negative integer>; nullopt otherwise.
std::optional<expected_version> parse_expected_version(std::string_view text);

}  // namespace evstore
