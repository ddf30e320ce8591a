// Committed fixtures of format-1 stores (tests/data/v1/README.md): the files
// of stores the format-1 engine wrote, with what that engine read from them
// after its own recovery. Once the engine writes format 2 nothing can write a
// format-1 store any more; the tests of `evstore migrate`'s format-1 side
// (migrate/v1_reader.hpp) read these instead.
//
// A fixture <name> is two files in tests/data/v1/:
//   <name>.v1img  the stores' files (an archive: format below);
//   <name>.json   per store, the events $all reads after the format-1
//                 recovery, its read-stream definitions and consumer
//                 checkpoints, and what recovery did with the damages
//                 (damage recipes below) the tests make to it.
// Both hold one or more stores, each under its own name (the first path
// component in the archive, a key of "stores" in the JSON).
//
// Archive: the magic "evstore-v1-image\n" (17 bytes), then per file, sorted by
// path: u32 path length, path ("<store>/<path in the store>", '/'-separated),
// u64 file size, u32 extent count, then per extent (sorted, apart) u64 offset,
// u64 length and its bytes; bytes outside the extents are zeros (runs of 64
// zeros or more are left out: a preallocated journal is mostly zeros).
// Integers are little-endian.
//
// The writing half (to_archive, to_json) is for the generator
// (tests/data/v1/generate_fixtures.cpp), which is built only at commits that
// still have the format-1 engine.
#pragma once

#include "format/format.hpp"
#include "migrate/v1_reader.hpp"
#include <evstore/error.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::test::v1 {

using detail::migrate::v1_consumer;
using detail::migrate::v1_event;
using detail::migrate::v1_read_stream;
namespace format = detail::format;

// The files of one store: path relative to its directory -> bytes.
using disk_image = std::map<std::string, std::string>;

// What the format-1 engine's open (recovery) did with a store.
struct recovery_outcome {
  bool opens = false;
  // The error's message when it does not open, or when it opens but reading
  // $all then fails (damage recovery did not look at).
  std::string error;
  std::uint64_t event_count = 0;  // events $all reads when it opens and reads
  friend bool operator==(const recovery_outcome&, const recovery_outcome&) = default;
};

// What the format-1 engine read from one store.
struct store_expectation {
  // $all in order after the engine's recovery, every field. The commit
  // fields come from the appends' results; a store written up to a crash has
  // none (the engine reads do not show them): all zero and
  // has_commit_fields false.
  std::vector<v1_event> events;
  bool has_commit_fields = true;
  // links/read_streams.json and consumers/, as the generator created them
  // (filter_json: filter::to_json()), sorted as v1_reader returns them.
  std::vector<v1_read_stream> read_streams;
  std::vector<v1_consumer> consumers;
  // By damage recipe name (below): the engine's recovery of the damaged store.
  std::map<std::string, recovery_outcome> damaged;
  // Free text: how the generator made the store.
  std::string made_by;
};

struct fixture {
  std::map<std::string, disk_image> stores;
  std::map<std::string, store_expectation> expected;
};

// tests/data/v1 in the source tree (EVSTORE_TEST_SOURCE_DIR).
std::string data_dir();
// Reads <dir>/<name>.v1img and <dir>/<name>.json (dir: data_dir() if empty).
// Errors: the file system's for a missing or unreadable file, corrupt_data
// naming the file (and offset in the archive) when one does not parse or the
// two name different stores.
[[nodiscard]] result<fixture> read_fixture(const std::string& name, const std::string& dir = {});
// The same from the two files' bytes (errors name <name>.v1img or <name>.json).
[[nodiscard]] result<fixture> parse_fixture(const std::string& name, std::string_view archive,
                                            std::string_view json_text);

// A memory file system holding `image` under `dir` (files synced: a power
// loss keeps them), and the files under `dir` of a file system, as an image.
std::shared_ptr<testing::memory_file_system> disk_of(const disk_image& image, const std::string& dir);
void load(testing::memory_file_system& fs, const disk_image& image, const std::string& dir);
disk_image image_of(const testing::memory_file_system& fs, const std::string& dir);

// ---------------------------------------------------------------------------
// Reading a store's image with the format codecs.

// Entries of index/$all.idx, and entry `position` (REQUIRES: < all_entries()).
std::uint64_t all_entries(const disk_image& image);
format::all_entry all_entry(const disk_image& image, std::uint64_t position);

// ---------------------------------------------------------------------------
// Damage recipes: a crash or bit rot the tests make to an intact image; the
// generator records what recovery did with each (store_expectation::damaged).
// Each returns where it damaged (the file's bytes there are changed).
struct damage_site {
  std::string file;  // relative to the store's directory
  std::uint64_t offset = 0;
};

// "cut_last_all_entry": the last $all entry never reached the file (a process
// died while the last append's entries were written).
damage_site cut_last_all_entry(disk_image& image);
// "tear_last_record": the record of the last $all entry (of `stream`, whose
// partition is streams/<stream>.evs: a name that encodes as itself) is cut
// in its middle.
damage_site tear_last_record(disk_image& image, const std::string& stream);
// "flip_second_catalog_record": a byte of the second catalog record's stream
// name flipped; `first_stream`: the stream of the first catalog record.
damage_site flip_second_catalog_record(disk_image& image, const std::string& first_stream);

// ---------------------------------------------------------------------------
// Writing (the generator).

std::string to_archive(const std::map<std::string, disk_image>& stores);
std::string to_json(const std::map<std::string, store_expectation>& expected);

}  // namespace evstore::test::v1
