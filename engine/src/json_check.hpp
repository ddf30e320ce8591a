// Validation of JSON text without building a DOM (Boost.JSON's SAX parser with
// a handler that keeps nothing), so checking an event costs a pass over its bytes.
#pragma once

#include <string_view>

namespace evstore::detail {

// True if `text` is exactly one JSON value (RFC 8259, UTF-8), surrounding
// whitespace allowed.
bool is_valid_json(std::string_view text) noexcept;

// True if `text` is valid UTF-8 with no control characters (used for event types).
bool is_printable_utf8(std::string_view text) noexcept;

}  // namespace evstore::detail
