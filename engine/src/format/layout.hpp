// Paths of the files in a store directory (see format.hpp for their contents).
#pragma once

#include <string>
#include <string_view>

namespace evstore::detail::layout {

inline std::string join(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p += '/';
  p += name;
  return p;
}

inline std::string lock_file(std::string_view dir) { return join(dir, "LOCK"); }
inline std::string store_json(std::string_view dir) { return join(dir, "store.json"); }
inline std::string streams_dir(std::string_view dir) { return join(dir, "streams"); }
inline std::string index_dir(std::string_view dir) { return join(dir, "index"); }
inline std::string all_index(std::string_view dir) { return join(dir, "index/$all.idx"); }
// Format 2's $all index: all_entry2[position], no header (format.hpp).
inline std::string all_entries(std::string_view dir) { return join(dir, "index/all.idx"); }
inline std::string catalog(std::string_view dir) { return join(dir, "index/catalog"); }
inline std::string checkpoint(std::string_view dir) { return join(dir, "index/checkpoint"); }
inline std::string head(std::string_view dir) { return join(dir, "index/head"); }
// The batch a scavenge is erasing (scavenge_state.hpp), and the lock a batch
// and a backup's copy each hold.
inline std::string scavenge_state(std::string_view dir) { return join(dir, "index/scavenge"); }
inline std::string scavenge_lock(std::string_view dir) { return join(dir, "index/scavenge.lock"); }
inline std::string links_dir(std::string_view dir) { return join(dir, "links"); }
inline std::string journal(std::string_view dir) { return join(dir, "journal.wal"); }
// `encoded` is stream_name.hpp's encoding; it may contain '/' for very long names.
inline std::string partition(std::string_view dir, std::string_view encoded) {
  return join(dir, std::string("streams/").append(encoded).append(".evs"));
}
inline std::string stream_index(std::string_view dir, std::string_view encoded) {
  return join(dir, std::string("index/").append(encoded).append(".idx"));
}
inline std::string parent(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string(".") : std::string(path.substr(0, slash));
}

// The same, but "/" for a path in the root directory ("/s" -> "/"), where
// parent() gives "".
inline std::string parent_directory(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == 0) return "/";
  return parent(path);
}

}  // namespace evstore::detail::layout
