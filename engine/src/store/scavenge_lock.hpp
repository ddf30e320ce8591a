// The lock that keeps a scavenge's batch (scavenger.cpp) and a backup's copy
// (offline/backup.cpp) apart: a copy must never catch a record half erased.
#pragma once

#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <memory>
#include <string>

namespace evstore::detail {

// Holds index/scavenge.lock of the store in `dir`, waiting while another holds it.
[[nodiscard]] result<std::unique_ptr<file_lock>> lock_scavenge(file_system& fs, const std::string& dir);

}  // namespace evstore::detail
