// Errors of the partition log, in the store's wording (store_impl::corruption,
// store_impl::read_error): what happened, the file relative to the store
// directory, and the byte offset within that file.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace evstore::detail {

// "checksum mismatch in log/p000-00000003.evs at offset 4096" (corrupt_data).
inline error log_corruption(std::string_view what, const std::string& file, std::uint64_t offset) {
  return error(errc::corrupt_data,
               std::string(what) + " in " + file + " at offset " + std::to_string(offset));
}

// "writing log/p000-00000003.evs at offset 4096 (errno 5)": `doing` is the verb.
inline error log_io_error(boost::system::error_code ec, std::string_view doing, const std::string& file,
                          std::uint64_t offset) {
  return error(ec, std::string(doing) + " " + file + " at offset " + std::to_string(offset) + " (errno " +
                       std::to_string(ec.value()) + ")");
}

}  // namespace evstore::detail
