// Small helpers over the file seam.
#pragma once

#include <evstore/file_system.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

// The whole file (as large as size() says; shorter if it shrank meanwhile).
[[nodiscard]] inline boost::system::result<std::vector<std::byte>> read_all(file& f) {
  auto size = f.size();
  if (!size) return size.error();
  std::vector<std::byte> bytes(*size);
  auto n = f.read_at(0, bytes);
  if (!n) return n.error();
  bytes.resize(*n);
  return bytes;
}

// Replaces `path` with `bytes` so that a crash leaves the old contents or the
// new ones: temp file, fdatasync, rename, fsync of the directory.
[[nodiscard]] inline boost::system::error_code write_file_atomically(file_system& fs, const std::string& path,
                                                                     std::span<const std::byte> bytes) {
  const std::string temp = path + ".tmp";
  auto f = fs.open(temp, open_mode::read_write_create);
  if (!f) return f.error();
  if (auto ec = (*f)->truncate(0)) return ec;
  if (auto ec = (*f)->write_at(0, bytes)) return ec;
  if (auto ec = (*f)->sync()) return ec;
  f->reset();
  if (auto ec = fs.rename(temp, path)) return ec;
  const auto slash = path.rfind('/');
  return fs.sync_directory(slash == std::string::npos ? std::string(".") : path.substr(0, slash));
}

inline std::string_view to_string_view(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace evstore::detail
