// Parsing links/read_streams.json (format.md, "Links"): shared by the
// indexer, which loads the definitions (read_stream_definitions.cpp), and the
// format-1 reader of `evstore migrate`, which carries them over.
#pragma once

#include <evstore/error.hpp>
#include <evstore/read_stream.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

// One definition as links/read_streams.json lists it.
struct parsed_definition {
  std::string name;
  filter f;
  bool built;
};

// The definitions in `text`, the contents of links/read_streams.json at
// `path`; corrupt_data naming `path` and the reason if any does not parse or
// validate.
[[nodiscard]] result<std::vector<parsed_definition>> parse_read_stream_definitions(std::string_view text,
                                                                                   const std::string& path);

}  // namespace evstore::detail
