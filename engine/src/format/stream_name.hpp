// Stream-name validation and the file-name encoding of stream names.
//
// Rules (docs/http.md, "Stream names"): 1..200 bytes of valid UTF-8, no control characters
// (U+0000..U+001F, U+007F..U+009F), no '/' or '\', not "." or "..". Names
// starting with '$' are reserved for the store: readable, never appendable.
// System streams, read only, follow the rules of what they are named after:
// "$et-<type>" any event type (non-empty printable UTF-8, '/' allowed, as
// long as the store's max_type_bytes), "$ce-<category>" a category (the part
// of a stream name before its first '-', so the stream-name rules).
//
// Encoding: bytes [a-z0-9_-] stand for themselves; every other byte (upper-case
// letters, '.', '%', '$', UTF-8 bytes, ...) is written "%HH" with upper-case hex.
// The result cannot contain '/', '\', NUL or a leading '.', two names never
// encode to strings that differ only in letter case (so case-folding file
// systems are safe), and Windows device names (con, nul, com1 ...) get their
// first byte escaped. An encoding longer than 240 bytes is split into path
// segments of at most 240 bytes, each but the last ending in "+" (a byte the
// encoding never produces otherwise), so it fits every file system's
// 255-byte name limit. decode(encode(n)) == n for every valid n.
#pragma once

#include <evstore/error.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace evstore::detail {

inline constexpr std::size_t max_stream_name_bytes = 200;

enum class name_use { append, read };

// Returns errc::invalid_stream_name (or {} if valid). With name_use::append a
// leading '$' is rejected.
[[nodiscard]] boost::system::error_code validate_stream_name(std::string_view name, name_use use);
// The rule `name` breaks, in words; empty if valid.
std::string stream_name_problem(std::string_view name, name_use use);
// errc::invalid_stream_name with the name (quoted, cut and made printable)
// and the rule it breaks; an empty error if valid.
error stream_name_error(std::string_view name, name_use use);

// REQUIRES: validate_stream_name(name, name_use::read) succeeded.
std::string encode_stream_file_name(std::string_view name);

// nullopt if `encoded` is not an output of encode_stream_file_name.
std::optional<std::string> decode_stream_file_name(std::string_view encoded);

}  // namespace evstore::detail
