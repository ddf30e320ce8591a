// aggregate()'s snapshot files (store/snapshots.cpp): where they live, and
// removing a stream's when its events are erased.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

namespace evstore::detail {

class store_impl;

// <directory>/snapshots/<stream>: the snapshots of every fold of `stream`.
std::string snapshot_directory(const store_impl& store, std::string_view stream);

// Removes every snapshot of `stream`, durably (a state folded from erased
// events must not outlive them). No directory: nothing to do.
[[nodiscard]] boost::system::error_code remove_snapshots(const store_impl& store, std::string_view stream);

}  // namespace evstore::detail
