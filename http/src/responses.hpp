// What every route answers with: a status, a body and its type, extra
// headers; and the JSON error bodies ({"error": code, "message": text}) that
// HTTP responses, SSE error events and WebSocket replies share.
#pragma once

#include <evstore/error.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::http {

struct api_response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": code, "message": message} with `status`.
api_response error_response(unsigned status, std::string_view code, std::string_view message);
// The same for an engine error: its status (409, 404, 400, 403, 503, 500) and code.
api_response from_error(const evstore::error& e);
// An engine error's code as the API names it ("stream_not_found", "io_error" for errors outside evstore).
std::string code_of(const boost::system::error_code& ec);

// A JSON string of `s`. Texts from requests (a stream name in an error's
// detail) may not be UTF-8: each byte that starts no well-formed sequence is
// written as U+FFFD, so the body stays valid JSON.
std::string json_string(std::string_view s);

}  // namespace evstore::http
