// How the stream index reports damage and I/O failures: evstore's errc::corrupt_data
// (or the file system's own code) with the file and the byte offset, in the same
// words as the store's reads ("checksum mismatch in run-...sidx at offset 4096").
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace evstore::detail {

inline error index_corruption(std::string_view what, const std::string& path, std::uint64_t offset) {
  return error(errc::corrupt_data,
               std::string(what) + " in " + path + " at offset " + std::to_string(offset));
}

inline error index_io_error(boost::system::error_code ec, std::string_view doing, const std::string& path,
                            std::uint64_t offset) {
  return error(ec, std::string(doing) + " " + path + " at offset " + std::to_string(offset) + " (errno " +
                       std::to_string(ec.value()) + ")");
}

}  // namespace evstore::detail
