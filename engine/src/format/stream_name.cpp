#include "format/stream_name.hpp"

#include "json/json_check.hpp"
#include "require.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace evstore::detail {
namespace {

// Longest path segment we emit, including the trailing '+' of a continued
// segment. Leaves room under the common 255-byte name limit for a file suffix.
constexpr std::size_t max_segment_bytes = 240;

// Every name byte becomes at most 3 encoded bytes ("%HH"), and each continued
// segment carries at least max_segment_bytes - 3 body bytes (its '+' plus a cut
// backed off across part of one escape), which bounds the number of "+/"
// separators. Anything longer cannot be an encoding, so decode rejects it
// before doing any work.
constexpr std::size_t max_body_bytes = 3 * max_stream_name_bytes;
constexpr std::size_t min_continued_body_bytes = max_segment_bytes - 3;
constexpr std::size_t max_encoded_bytes =
    max_body_bytes + 2 * ((max_body_bytes + min_continued_body_bytes - 1) / min_continued_body_bytes);

constexpr std::string_view hex_digits = "0123456789ABCDEF";

// Windows reserves these names (in any letter case) for devices; a file
// called "con" cannot be created there no matter what the directory is.
constexpr std::array<std::string_view, 24> windows_device_names = {
    "con",  "prn",  "aux",  "nul",  "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
};

bool is_literal_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_windows_device_name(std::string_view s) {
  // Device names are at most 4 bytes; anything longer cannot match.
  if (s.size() > 4) return false;
  std::string lowered(s);
  for (char& c : lowered) c = ascii_lower(c);
  for (std::string_view device : windows_device_names) {
    if (lowered == device) return true;
  }
  return false;
}

void append_escape(std::string& out, unsigned char c) {
  out.push_back('%');
  out.push_back(hex_digits[c >> 4]);
  out.push_back(hex_digits[c & 0x0F]);
}

// Only upper-case hex: accepting lower case would give one name two encodings
// that differ only in letter case, which a case-folding file system conflates.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Returns the length of the well-formed UTF-8 sequence starting at s[i] and
// stores its code point, or returns 0 if the bytes there are not well formed
// (stray continuation, overlong form, surrogate, above U+10FFFF, truncated).
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  // The second byte's allowed range carries the overlong/surrogate/range
  // checks (Unicode Table 3-7), so nothing has to be rechecked afterwards.
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // surrogates U+D800..U+DFFF
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return len;
}

bool is_control(std::uint32_t cp) { return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

std::string stream_name_problem(std::string_view name, name_use use) {
  // The indexer names these after an event's type or its stream's category,
  // so they follow those rules: every system stream it writes can be read.
  if (use == name_use::read && name.starts_with("$et-")) {
    const std::string_view type = name.substr(4);
    if (type.empty()) return "'$et-' is followed by an event type";
    return is_printable_utf8(type) ? std::string() : "an event type is printable UTF-8";
  }
  if (use == name_use::read && name.starts_with("$ce-")) {
    std::string category = stream_name_problem(name.substr(4), use);
    return category.empty() ? category : "'$ce-' is followed by a category, and " + category;
  }
  if (name.empty()) return "a stream name is at least 1 byte";
  if (name.size() > max_stream_name_bytes) {
    return "a stream name is at most " + std::to_string(max_stream_name_bytes) + " bytes (this one is " +
           std::to_string(name.size()) + ")";
  }
  // "." and ".." would alias directories if a name ever reached a path
  // unencoded; the rule is part of the public contract either way.
  if (name == "." || name == "..") return "'.' and '..' are not stream names";
  if (use == name_use::append && name.front() == '$')
    return "names starting with '$' are the store's own: read, never appended to";
  for (std::size_t i = 0; i < name.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(name, i, cp);
    // (Words only on the failure path: this runs on every read and append.)
    if (len == 0) return "a stream name is valid UTF-8 (it is not at byte " + std::to_string(i) + ")";
    if (is_control(cp))
      return "a stream name holds no control character (one is at byte " + std::to_string(i) + ")";
    if (cp == '/' || cp == '\\')
      return "a stream name holds no '/' or '\\' (one is at byte " + std::to_string(i) + ")";
    i += len;
  }
  return {};
}

[[nodiscard]] boost::system::error_code validate_stream_name(std::string_view name, name_use use) {
  if (stream_name_problem(name, use).empty()) return {};
  return make_error_code(errc::invalid_stream_name);
}

error stream_name_error(std::string_view name, name_use use) {
  std::string problem = stream_name_problem(name, use);
  if (problem.empty()) return {};
  // A name may be any bytes and any length: quote a short, printable part.
  std::string shown;
  for (const char c : name.substr(0, 64)) shown += (c >= 0x20 && c < 0x7F) ? c : '?';
  if (name.size() > 64) shown += "...";
  return {errc::invalid_stream_name, "'" + shown + "': " + problem};
}

std::string encode_stream_file_name(std::string_view name) {
  EVSTORE_REQUIRE(!validate_stream_name(name, name_use::read));
  std::string body;
  body.reserve(3 * name.size());
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_literal_byte(c)) {
      body.push_back(ch);
    } else {
      append_escape(body, c);
    }
  }
  // Only an all-literal name can encode to a device name (any escape adds a
  // '%'), so the body equals the name here and its first byte is a letter.
  if (is_windows_device_name(body)) {
    std::string escaped;
    append_escape(escaped, static_cast<unsigned char>(body.front()));
    body.replace(0, 1, escaped);
  }
  if (body.size() <= max_segment_bytes) return body;

  // Split greedily. Each continued segment holds at most
  // max_segment_bytes - 1 body bytes so that it fits with its '+'. A cut
  // never lands inside "%HH": '%' only ever starts an escape, so a '%' one or
  // two bytes before the cut means the cut must move back to that '%'.
  std::string out;
  out.reserve(body.size() + 2 * (body.size() / (max_segment_bytes - 3) + 1));
  std::size_t pos = 0;
  while (body.size() - pos > max_segment_bytes) {
    std::size_t cut = pos + max_segment_bytes - 1;
    if (body[cut - 1] == '%') {
      cut -= 1;
    } else if (body[cut - 2] == '%') {
      cut -= 2;
    }
    out.append(body, pos, cut - pos);
    out.append("+/");
    pos = cut;
  }
  out.append(body, pos, std::string::npos);
  return out;
}

std::optional<std::string> decode_stream_file_name(std::string_view encoded) {
  // "$et-<type>" is as long as the store's longest type: no fixed bound.
  if (encoded.empty() || (encoded.size() > max_encoded_bytes && !encoded.starts_with("%24et-")))
    return std::nullopt;

  // Parse leniently (any "+/" is a separator, any upper-case escape is
  // accepted), then demand that re-encoding reproduces the input byte for
  // byte. That single check rejects every non-canonical form: needless
  // escapes, a missing device-name escape, misplaced or missing splits,
  // over-long segments and a trailing "+".
  std::string name;
  name.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size();) {
    const char ch = encoded[i];
    if (is_literal_byte(static_cast<unsigned char>(ch))) {
      name.push_back(ch);
      i += 1;
    } else if (ch == '%') {
      if (encoded.size() - i < 3) return std::nullopt;
      const int high = hex_value(encoded[i + 1]);
      const int low = hex_value(encoded[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      name.push_back(static_cast<char>(high * 16 + low));
      i += 3;
    } else if (ch == '+' && i + 1 < encoded.size() && encoded[i + 1] == '/') {
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  // encode is only defined on valid names, so only they can be its outputs.
  if (validate_stream_name(name, name_use::read)) return std::nullopt;
  if (encode_stream_file_name(name) != encoded) return std::nullopt;
  return name;
}

}  // namespace evstore::detail
