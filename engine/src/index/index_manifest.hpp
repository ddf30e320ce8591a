// The stream index's manifest (<dir>/manifest): which run files are live, and
// the next run number. Replaced as a whole: written to manifest.tmp, synced,
// renamed over manifest, directory synced; a crash leaves the old manifest or
// the new one. A run file the manifest does not name is an orphan of a crashed
// write or compaction (removed at open).
//   0   u8[8]  magic "EVSSMAN\n"
//   8   u32    format_version (2)
//   12  u32    run_count
//   16  u64    next_seq: the number of the next run file
//   24  u8[8]  reserved, zero
//   32  run[run_count] := u64 seq, u64 first_position, u64 end_position
//                         (the run's covered $all range; seq strictly increasing, < next_seq)
//   32 + 24 * run_count  u32 masked crc32c of all bytes before it
// The file is exactly 36 + 24 * run_count bytes.
#pragma once

#include "index/run_format.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace evstore::detail {

// A manifest names each run by its header's identity (seq and covered
// range); open checks the run file's header against it.
using manifest_run = run_format::run_header;

struct index_manifest {
  std::uint64_t next_seq = 1;
  std::vector<manifest_run> runs;  // oldest (lowest seq) first

  // nullopt when there is no manifest (a new index); corrupt_data with the
  // offset when it is damaged; the file system's error when it cannot be read.
  [[nodiscard]] static result<std::optional<index_manifest>> read(file_system& fs, const std::string& dir);
  // Atomic, durable replacement (see above).
  [[nodiscard]] result<void> write(file_system& fs, const std::string& dir) const;

  friend bool operator==(const index_manifest&, const index_manifest&) = default;
};

inline constexpr const char* manifest_name = "manifest";
inline constexpr const char* manifest_temp_name = "manifest.tmp";
// "run-<seq as 16 lowercase hex digits>.sidx"
std::string run_file_name(std::uint64_t seq);
// The seq of a run file name; nullopt for any other name.
std::optional<std::uint64_t> parse_run_file_name(const std::string& name);

}  // namespace evstore::detail
