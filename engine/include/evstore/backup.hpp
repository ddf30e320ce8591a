// Online backup: a consistent copy of a store directory, taken while a
// writer (this process or another) goes on appending.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace evstore {

struct backup_report {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;   // copied
  std::uint64_t events = 0;  // in the backup, once opened
  std::uint64_t streams = 0;
};

// Copies `source` into `destination` (which must not exist or be empty), then
// opens the copy once as a writer so that recovery cuts whatever the copy
// caught half-written, and syncs it. The result holds every event the
// source's writer had acknowledged when the copy began, and no torn or
// partial append: it is the store as it was at one instant during the copy.
// Read and system stream links are not copied (their definitions are): they
// are rebuilt from $all when the backup is opened. Consumer positions are
// copied first, so none points past the copied events.
// progress(bytes copied, bytes to copy). Errors: invalid_argument (no store
// at `source`, `destination` not empty), the I/O error with the file's name.
[[nodiscard]] result<backup_report> backup_store(
    const std::string& source, const std::string& destination,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace evstore
