// A bounded cache of open files, shared by the writer and all readers, so that
// thousands of streams do not mean thousands of open descriptors.
//
// Threading: get()/create()/erase() are safe from any thread (one mutex, held
// only for the map operation, never during I/O). A handed-out cached_file stays
// usable after eviction until its last user drops it.
#pragma once

#include <evstore/file_system.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace evstore::detail {

struct cached_file {
  std::unique_ptr<evstore::file> file;
  // Bytes known to be allocated (file size); maintained by the single writer only.
  std::uint64_t allocated = 0;
  // Writer: a write ending at `end` may have grown the file.
  void note_written(std::uint64_t end) { allocated = end > allocated ? end : allocated; }
};

class file_cache {
 public:
  file_cache(std::shared_ptr<file_system> fs, bool writable, std::size_t capacity);
  file_cache(const file_cache&) = delete;
  file_cache& operator=(const file_cache&) = delete;

  // Opens (or returns the cached) existing file.
  [[nodiscard]] boost::system::result<std::shared_ptr<cached_file>> get(const std::string& path);
  // Creates or empties the file (read-write) and caches it. Writer only.
  [[nodiscard]] boost::system::result<std::shared_ptr<cached_file>> create(const std::string& path);
  void erase(const std::string& path);

 private:
  void insert_locked(const std::string& path, std::shared_ptr<cached_file> f);

  std::shared_ptr<file_system> fs_;
  bool writable_;
  std::size_t capacity_;
  std::mutex mutex_;
  std::list<std::string> lru_;  // front = most recent
  struct slot {
    std::shared_ptr<cached_file> file;
    std::list<std::string>::iterator lru_pos;
  };
  std::unordered_map<std::string, slot> map_;
};

}  // namespace evstore::detail
