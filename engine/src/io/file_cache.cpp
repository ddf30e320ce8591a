#include "io/file_cache.hpp"

namespace evstore::detail {

file_cache::file_cache(std::shared_ptr<file_system> fs, bool writable, std::size_t capacity)
    : fs_(std::move(fs)), writable_(writable), capacity_(capacity < 4 ? 4 : capacity) {}

boost::system::result<std::shared_ptr<cached_file>> file_cache::get(const std::string& path) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = map_.find(path); it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
      return it->second.file;
    }
  }
  // Open outside the lock: two threads may race to open the same file; the
  // loser's handle is simply dropped.
  auto opened = fs_->open(path, writable_ ? open_mode::read_write : open_mode::read_only);
  if (!opened) return opened.error();
  auto f = std::make_shared<cached_file>();
  f->file = std::move(*opened);
  auto size = f->file->size();
  if (!size) return size.error();
  f->allocated = *size;
  std::lock_guard lock(mutex_);
  if (auto it = map_.find(path); it != map_.end()) return it->second.file;
  insert_locked(path, f);
  return f;
}

boost::system::result<std::shared_ptr<cached_file>> file_cache::create(const std::string& path) {
  auto opened = fs_->open(path, open_mode::read_write_create);
  if (!opened) return opened.error();
  auto f = std::make_shared<cached_file>();
  f->file = std::move(*opened);
  // A file left by an append that never committed (its stream is not in the
  // catalog) is stale: start it afresh.
  if (auto ec = f->file->truncate(0)) return ec;
  std::lock_guard lock(mutex_);
  if (auto it = map_.find(path); it != map_.end()) {
    lru_.erase(it->second.lru_pos);
    map_.erase(it);
  }
  insert_locked(path, f);
  return f;
}

void file_cache::erase(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (auto it = map_.find(path); it != map_.end()) {
    lru_.erase(it->second.lru_pos);
    map_.erase(it);
  }
}

void file_cache::insert_locked(const std::string& path, std::shared_ptr<cached_file> f) {
  lru_.push_front(path);
  map_.emplace(path, slot{std::move(f), lru_.begin()});
  while (map_.size() > capacity_) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
}

}  // namespace evstore::detail
