// The engine's one wording of a file's damage or failed I/O, so that every
// part (store, journal, partition log, stream index, migration) reports the
// same way: what happened, the file, the byte offset.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace evstore::detail {

// "checksum mismatch in log/p000-00000003.evs at offset 4096" (corrupt_data).
inline error corruption_at(std::string_view what, const std::string& file, std::uint64_t offset) {
  return error(errc::corrupt_data,
               std::string(what) + " in " + file + " at offset " + std::to_string(offset));
}

// "writing log/p000-00000003.evs at offset 4096 (errno 5)" with the file
// system's own code: `doing` is the verb.
inline error io_error_at(boost::system::error_code ec, std::string_view doing, const std::string& file,
                         std::uint64_t offset) {
  return error(ec, std::string(doing) + " " + file + " at offset " + std::to_string(offset) + " (errno " +
                       std::to_string(ec.value()) + ")");
}

}  // namespace evstore::detail
