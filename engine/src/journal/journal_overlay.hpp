// A store's files as they would be after journal replay, without replaying:
// the frames after the checkpoint held in memory as writes per file, and a
// reader that lays them over the file's bytes. Used by what must read a store
// and never write it: repair's dry run (offline/) and the format-1 reader of
// `evstore migrate` (migrate/).
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace evstore::detail {

// Journal frames not yet covered by the checkpoint: path -> writes.

struct overlay_write {
  std::uint64_t offset = 0;
  std::vector<std::byte> data;
};
using overlay = std::map<std::string, std::vector<overlay_write>>;

// The files of a store, read through the journal frames a dry run did not apply.
class overlay_source {
 public:
  [[nodiscard]] static result<overlay_source> open(file_system& fs, const std::string& path,
                                                   const overlay& ov) {
    overlay_source s;
    if (auto it = ov.find(path); it != ov.end()) s.writes_ = &it->second;
    if (fs.exists(path)) {
      auto f = fs.open(path, open_mode::read_only);
      if (!f) return error(f.error(), path);
      auto size = (*f)->size();
      if (!size) return error(size.error(), path);
      s.file_ = std::move(*f);
      s.size_ = *size;
    } else if (s.writes_ == nullptr) {
      return error(boost::system::errc::make_error_code(boost::system::errc::no_such_file_or_directory),
                   path);
    }
    if (s.writes_ != nullptr) {
      for (const overlay_write& w : *s.writes_)
        s.size_ = std::max<std::uint64_t>(s.size_, w.offset + w.data.size());
    }
    return s;
  }

  std::uint64_t size() const { return size_; }

  // Bytes [offset, offset + buf.size()) clipped to size(); returns how many.
  [[nodiscard]] result<std::size_t> read(std::uint64_t offset, std::span<std::byte> buf) const {
    if (offset >= size_) return std::size_t{0};
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size_ - offset));
    std::size_t got = 0;
    if (file_) {
      auto r = file_->read_at(offset, buf.first(n));
      if (!r) return error(r.error(), "read");
      got = *r;
    }
    std::fill(buf.begin() + static_cast<std::ptrdiff_t>(got), buf.begin() + static_cast<std::ptrdiff_t>(n),
              std::byte{0});
    if (writes_ != nullptr) {
      for (const overlay_write& w : *writes_) {
        const std::uint64_t from = std::max(offset, w.offset);
        const std::uint64_t to = std::min(offset + n, w.offset + w.data.size());
        if (from < to)
          std::memcpy(buf.data() + (from - offset), w.data.data() + (from - w.offset), to - from);
      }
    }
    return n;
  }

 private:
  std::unique_ptr<file> file_;
  const std::vector<overlay_write>* writes_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace evstore::detail
