// JSON forms of events, shared by the CLI (NDJSON) and the HTTP layer.
//
// Appended event: {"type": "...", "data": <any JSON>, "metadata": <any JSON>, "id": "<uuid>"}
// Recorded event: {"stream","version","position","type","data","metadata","id","committedAt"}
#pragma once

#include <evstore/error.hpp>
#include <evstore/types.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace evstore {

// Parses one event object or an array of them. Errors: invalid_event with a
// detail naming the problem (malformed JSON, missing string "type", bad id).
result<std::vector<event_data>> parse_events_json(std::string_view text);

// Appends the JSON object of `e` to `out` (data and metadata embedded as JSON;
// metadata null when absent, id null when absent).
void append_event_json(std::string& out, const recorded_event& e);

// "any" | "no_stream" | "stream_exists" | <non-negative integer>; nullopt otherwise.
std::optional<expected_version> parse_expected_version(std::string_view text);

}  // namespace evstore
