// Raw JSON text of already-validated documents: find a member's value as it
// was written, and copy JSON without insignificant whitespace. Used so that
// event data keeps the client's exact number spellings (129.5 stays 129.5,
// not Boost.JSON's 1.295E2) and so that every event prints on one line.
// Every function REQUIRES text that is valid JSON. Not checked: that costs a parse,
// and every caller passes event data validated when it was appended.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::detail {

// The values of a JSON array's elements (`array_text` is one array, with or
// without surrounding whitespace), as written.
std::vector<std::string_view> raw_elements(std::string_view array_text);

// The value of the top-level member `key` of a JSON object, as written;
// nullopt if absent. With a duplicated key, the last one (as Boost.JSON).
std::optional<std::string_view> raw_member(std::string_view object_text, std::string_view key);

// Every member of a JSON object as (key unescaped, value as written), in the
// order written, repeated keys included.
std::vector<std::pair<std::string, std::string_view>> raw_members(std::string_view object_text);

// The value at the JSON pointer (RFC 6901, REQUIRED well-formed) in `json`, as
// written; nullopt if there is none. An object member repeated: the last one
// (as Boost.JSON); an array index: digits without a leading zero.
std::optional<std::string_view> raw_at_pointer(std::string_view json, std::string_view pointer);

// Appends `json` without whitespace outside strings.
void append_compact_json(std::string& out, std::string_view json);

// True if `json` has a line break (only possible outside strings).
inline bool has_line_break(std::string_view json) {
  return json.find_first_of("\r\n") != std::string_view::npos;
}

}  // namespace evstore::detail
