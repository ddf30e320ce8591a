// What every route answers with: a status, a body and its type, extra
// headers; and the JSON error bodies ({"error": code, "message": text}) that
// HTTP responses, SSE error events and WebSocket replies share.
#pragma once

#include <evstore/error.hpp>

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::http {

struct api_response {
  unsigned status = 200;
  std::string body;
  // Always a literal or static text (the console's assets): a string_view,
  // so that a response does not allocate its type ("application/json" is
  // one byte too long for std::string's inline buffer).
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": code, "message": message}: built, so that a route (or a
// WebSocket reply) adds its own members before it is serialized.
boost::json::object error_object(std::string_view code, std::string_view message);
// The same for an engine error: its code ("stream_not_found") and message.
boost::json::object error_object(const evstore::error& e);
// The HTTP status of an engine error (409, 404, 400, 403, 503, 500).
unsigned status_of(const evstore::error& e);

// A response of `status` whose body is `body`, serialized.
api_response json_response(unsigned status, const boost::json::object& body);
// {"error": code, "message": message} with `status`.
api_response error_response(unsigned status, std::string_view code, std::string_view message);
// The same for an engine error: its status and code.
api_response from_error(const evstore::error& e);
// An engine error's code as the API names it ("stream_not_found", "io_error" for errors outside evstore).
std::string code_of(const boost::system::error_code& ec);

// `s` with each byte that starts no well-formed UTF-8 sequence replaced by
// U+FFFD: a text from a request (a stream name in an error's detail) may not
// be UTF-8, and a JSON body must be.
boost::json::string json_text(std::string_view s);
// A JSON string of `s` (as json_text()), serialized.
std::string json_string(std::string_view s);

}  // namespace evstore::http
