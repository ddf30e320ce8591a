// Validation of JSON text without building a DOM (Boost.JSON's SAX parser with
// a handler that keeps nothing), so checking an event costs a pass over its bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace evstore::detail {

// The deepest nesting of arrays and objects any JSON the store takes may have
// (event data and metadata, consumer state, filter values), and the depth
// every parser of such JSON must accept: one limit, so that what an append
// accepts a filter can always read.
inline constexpr std::size_t max_json_depth = 64;

// True if `text` is exactly one JSON value (RFC 8259, UTF-8), surrounding
// whitespace allowed, nested at most max_json_depth deep.
bool is_valid_json(std::string_view text) noexcept;

// True if `text` is valid UTF-8 with no control characters (used for event types).
bool is_printable_utf8(std::string_view text) noexcept;

}  // namespace evstore::detail
