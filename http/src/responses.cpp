// JSON error bodies. See responses.hpp.
#include "responses.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace evstore::http {
namespace {

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms,
// no surrogates, at most U+10FFFF) that starts `s`, or 0.
std::size_t utf8_sequence(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c == 0xE0)
    n = 3, lo = 0xA0;
  else if (c == 0xED)
    n = 3, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF)
    n = 3;
  else if (c == 0xF0)
    n = 4, lo = 0x90;
  else if (c == 0xF4)
    n = 4, hi = 0x8F;
  else if (c >= 0xF1 && c <= 0xF3)
    n = 4;
  else
    return 0;
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  }
  return n;
}

unsigned status_for(const boost::system::error_code& ec) {
  if (ec.category() == evstore::category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::wrong_expected_version: return 409;
      case errc::read_stream_exists: return 409;
      case errc::duplicate_event_id: return 409;
      case errc::refused: return 403;
      case errc::consumer_busy: return 409;
      case errc::stream_not_found: return 404;
      case errc::stream_deleted: return 404;
      case errc::stream_tombstoned: return 410;
      case errc::invalid_stream_name: return 400;
      case errc::invalid_event: return 400;
      case errc::invalid_argument: return 400;
      case errc::read_only: return 403;
      case errc::store_closed: return 503;
      case errc::store_failed: return 503;
      case errc::corrupt_data: return 500;
      default: return 500;
    }
  }
  return 500;
}

}  // namespace

boost::json::string json_text(std::string_view s) {
  boost::json::string text;
  text.reserve(s.size());
  while (!s.empty()) {
    const std::size_t n = utf8_sequence(s);
    text.append(n > 0 ? s.substr(0, n) : std::string_view("\xEF\xBF\xBD"));
    s.remove_prefix(n > 0 ? n : 1);
  }
  return text;
}

std::string json_string(std::string_view s) {
  // Printable ASCII without '"' or '\\' (every usual stream name) is its own
  // JSON text: quoted as is, without building and serializing a json::string.
  const bool plain =
      std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; });
  if (plain) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
  }
  return boost::json::serialize(json_text(s));
}

std::string code_of(const boost::system::error_code& ec) {
  return ec.category() == evstore::category() ? ec.message() : "io_error";
}

unsigned status_of(const evstore::error& e) { return status_for(e.code); }

boost::json::object error_object(std::string_view code, std::string_view message) {
  return {{"error", json_text(code)}, {"message", json_text(message)}};
}

boost::json::object error_object(const evstore::error& e) {
  return error_object(code_of(e.code), e.message());
}

api_response json_response(unsigned status, const boost::json::object& body) {
  api_response r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

api_response error_response(unsigned status, std::string_view code, std::string_view message) {
  return json_response(status, error_object(code, message));
}

api_response from_error(const evstore::error& e) { return json_response(status_of(e), error_object(e)); }

}  // namespace evstore::http
