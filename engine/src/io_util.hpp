// Small helpers over the file seam.
#pragma once

#include <evstore/file_system.hpp>

#include <string_view>
#include <vector>

namespace evstore::detail {

// The whole file (as large as size() says; shorter if it shrank meanwhile).
inline boost::system::result<std::vector<std::byte>> read_all(file& f) {
  auto size = f.size();
  if (!size) return size.error();
  std::vector<std::byte> bytes(*size);
  auto n = f.read_at(0, bytes);
  if (!n) return n.error();
  bytes.resize(*n);
  return bytes;
}

inline std::string_view to_string_view(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace evstore::detail
