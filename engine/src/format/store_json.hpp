// store.json, the file that makes a directory an evstore store and says which
// format it holds (docs/format.md: version 2, and version 1 at its end):
//   version 1  {"format":"evstore","version":1}
//   version 2  {"format":"evstore","version":2,"partitions":N,"segment_size":S}
// N is the number of partition logs (1..1000), S the size of each segment file
// in bytes (a multiple of 4096 in [8 KiB, 4 GiB], log/log_layout.hpp); both are
// fixed when the store is created. A directory without store.json is not a
// store: it is written last when a store is created, atomically (temp file,
// fdatasync, rename, fsync of the directory), so a crash never leaves half a
// store behind. Readers accept unknown members (a later minor addition) but
// not an unknown version.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace evstore::detail {

struct store_description {
  std::uint32_t version = 2;
  std::uint32_t partitions = 0;    // version 2 only (0 in version 1)
  std::uint64_t segment_size = 0;  // version 2 only (0 in version 1)
  friend bool operator==(const store_description&, const store_description&) = default;
};

// Parses the text of store.json; `path` names the file in errors. Errors:
// corrupt_data when it is not a JSON object with "format":"evstore" and an
// integer "version", or a version-2 member is missing or out of range (naming
// the member); format_mismatch for a version other than 1 or 2.
[[nodiscard]] result<store_description> parse_store_json(std::string_view text, const std::string& path);

// The text written for `d` (one line). REQUIRES: d.version is 1 or 2.
std::string store_json_text(const store_description& d);

// Reads <dir>/store.json. Errors: invalid_argument "no evstore store" when it
// is missing, the file system's error (file and offset) when it cannot be
// read, otherwise as parse_store_json.
[[nodiscard]] result<store_description> read_store_json(file_system& fs, const std::string& dir);

// Writes <dir>/store.json atomically and durably (see above). invalid_argument
// for a version-2 description out of range (nothing written).
[[nodiscard]] result<void> write_store_json(file_system& fs, const std::string& dir,
                                            const store_description& d);

}  // namespace evstore::detail
