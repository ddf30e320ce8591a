// Fuzz target: stream-name validation and the file-name encoding
// (stream_name.hpp). A valid name encodes to a safe relative path that decodes
// back to it; a string that decodes is the one encoding of its name.
#include "format/stream_name.hpp"
#include "fuzz_check.hpp"

#include <string>

using namespace evstore::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view s(reinterpret_cast<const char*>(data), size);
  if (!validate_stream_name(s, name_use::read)) {
    const std::string enc = encode_stream_file_name(s);
    FUZZ_CHECK(!enc.empty() && enc.front() != '.' && enc.front() != '/');
    FUZZ_CHECK(enc.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-%ABCDEF+/") == std::string::npos);
    FUZZ_CHECK(enc.find("..") == std::string::npos && enc.find("//") == std::string::npos);
    const auto back = decode_stream_file_name(enc);
    FUZZ_CHECK(back && *back == s);
    if (s.front() != '$') FUZZ_CHECK(!validate_stream_name(s, name_use::append));
  }
  if (const auto name = decode_stream_file_name(s)) {
    FUZZ_CHECK(!validate_stream_name(*name, name_use::read));
    FUZZ_CHECK(encode_stream_file_name(*name) == s);
  }
  return 0;
}
