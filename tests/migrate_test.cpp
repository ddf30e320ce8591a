// `evstore migrate`'s writing side (engine/src/migrate/v2_writer.hpp,
// migrate_store.hpp) on stores written by the format-1 engine: the format-2
// store it writes is checked file by file with the low-level readers (all.idx
// entries, the records they point at, the stream index, the checkpoint, the
// head, store.json, the carried read streams and consumers); a crash at
// every write followed by a rerun ends as an uninterrupted run does, and the
// source is never changed. The engine writes format 2 only, so the format-1
// sources are the committed fixtures (tests/data/v1/README.md, and
// tests/data/v1-store: tests/data/README.md), with what the format-1 engine
// read from them. migrate_open_test.cpp opens the result with the engine.
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/store_json.hpp"
#include "index/index_manifest.hpp"
#include "index/stream_index.hpp"
#include "links/read_stream_definitions.hpp"
#include "live/consumer_files.hpp"
#include "log/log_layout.hpp"
#include "log/partition_scan.hpp"
#include "log/partitioner.hpp"
#include "migrate/migrate_store.hpp"
#include "migrate/v1_reader.hpp"
#include "migrate/v2_writer.hpp"
#include "support/store_fixture.hpp"
#include "support/v1_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace evstore::detail::migrate;
using evstore::detail::store_description;
namespace format = evstore::detail::format;
namespace layout = evstore::detail::layout;

namespace {

const std::string dir = "/s";
const std::string backup = "/s.v1";
const std::string tmp = "/s.v2-tmp";

using snapshot = std::map<std::string, std::string>;

snapshot files_of(const memory_file_system& fs) {
  snapshot out;
  for (const std::string& p : fs.files()) out[p] = fs.contents(p);
  return out;
}

// The files under `from`, renamed to be under `to`.
snapshot moved(const snapshot& files, const std::string& from, const std::string& to) {
  snapshot out;
  for (const auto& [path, bytes] : files) {
    if (path.compare(0, from.size() + 1, from + "/") == 0) out[to + path.substr(from.size())] = bytes;
  }
  return out;
}

snapshot under(const snapshot& files, const std::string& root) { return moved(files, root, root); }

// The paths whose bytes differ (with both sizes), or that only one has; "" when none.
std::string differences(const snapshot& got, const snapshot& want) {
  std::string out;
  for (const auto& [path, bytes] : got) {
    auto w = want.find(path);
    if (w == want.end()) {
      out += "only got " + path + "\n";
    } else if (w->second != bytes) {
      out += "differs " + path + " (" + std::to_string(bytes.size()) + " bytes, want " +
             std::to_string(w->second.size()) + ")\n";
    }
  }
  for (const auto& [path, bytes] : want) {
    if (!got.contains(path)) out += "missing " + path + "\n";
  }
  return out;
}

std::shared_ptr<memory_file_system> disk_of(const snapshot& files) {
  auto fs = std::make_shared<memory_file_system>();
  for (const auto& [path, bytes] : files) fs->set_contents(path, bytes);
  return fs;
}

// Store `name` of the committed fixture `fixture` (tests/data/v1), in `dir`,
// with what the format-1 engine read from it.
struct v1_source {
  snapshot files;
  v1::store_expectation want;
};

v1_source fixture_store(const std::string& fixture, const std::string& name) {
  auto f = v1::read_fixture(fixture);
  EXPECT_TRUE(f) << f.error().message();
  if (!f || !f->stores.contains(name)) {
    ADD_FAILURE() << "no store " << name << " in fixture " << fixture;
    return {};
  }
  return {files_of(*v1::disk_of(f->stores.at(name), dir)), f->expected.at(name)};
}

std::size_t streams_of(const std::vector<v1_event>& events) {
  std::set<std::string> names;
  for (const v1_event& e : events) names.insert(e.stream);
  return names.size();
}

// What the format-1 reader returns for `root` (checked against the engine in
// migrate_v1_reader_test.cpp): the events a migration must carry.
std::vector<v1_event> v1_events(file_system& fs, const std::string& root) {
  auto r = v1_reader::open(fs, root);
  EXPECT_TRUE(r) << r.error().message();
  std::vector<v1_event> out;
  if (!r) return out;
  for (;;) {
    auto n = r->next(out, 1000);
    EXPECT_TRUE(n) << n.error().message();
    if (!n || *n == 0) return out;
  }
}

format::bytes as_bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// Checks the format-2 store in `root` with the low-level readers against the
// events it must hold, in $all order.
void expect_format2_store(memory_file_system& mem, const std::shared_ptr<file_system>& fs,
                          const std::string& root, const std::vector<v1_event>& want,
                          std::uint32_t partitions, std::uint64_t segment_size) {
  SCOPED_TRACE(root);
  auto description = detail::read_store_json(mem, root);
  ASSERT_TRUE(description) << description.error().message();
  EXPECT_EQ(*description, (store_description{2, partitions, segment_size}));
  const detail::log_geometry g{segment_size};

  // all.idx: entry N at byte N * 16, each pointing at the record of position N.
  const std::string all = mem.contents(layout::all_entries(root));
  ASSERT_EQ(all.size(), want.size() * format::all_entry2_size);
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("position " + std::to_string(i));
    const v1_event& e = want[i];
    ASSERT_EQ(e.position, i);
    auto entry = format::decode_all_entry2(as_bytes(all).subspan(i * format::all_entry2_size));
    ASSERT_TRUE(entry);
    EXPECT_EQ(entry->partition, detail::default_partition(e.stream, partitions));
    EXPECT_EQ(entry->commit_end, e.commit_end);
    const std::string segment =
        mem.contents(detail::segment_path(root, entry->partition, g.segment_of(entry->offset)));
    // A segment grows by its appends (the writer allocates nothing ahead).
    ASSERT_LE(segment.size(), segment_size);
    ASSERT_LE(g.in_segment(entry->offset) + entry->size, segment.size());
    format::decoded_record r;
    ASSERT_EQ(format::decode_record(as_bytes(segment).subspan(g.in_segment(entry->offset), entry->size), r,
                                    format::record_names::required),
              format::decode_status::ok);
    EXPECT_EQ(r.size, entry->size);
    EXPECT_EQ(r.fields.stream, e.stream);
    EXPECT_EQ(r.fields.position, i);
    EXPECT_EQ(r.fields.version, e.version);
    EXPECT_EQ(r.fields.committed_at, e.committed_at);
    EXPECT_EQ(r.fields.commit_first_position, e.commit_first_position);
    EXPECT_EQ(r.fields.commit_count, e.commit_count);
    EXPECT_EQ(r.fields.commit_end, e.commit_end);
    ASSERT_EQ(r.fields.id.has_value(), e.id.has_value());
    if (e.id) {
      EXPECT_EQ(std::memcmp(r.fields.id->data(), e.id->data, 16), 0);
    }
    EXPECT_EQ(r.fields.type, e.type);
    EXPECT_EQ(r.fields.data, e.data);
    EXPECT_EQ(r.fields.metadata, e.metadata);
  }

  // The stream index: each stream's positions in version order, all in its runs.
  std::map<std::string, std::vector<std::uint64_t>> positions;
  for (const v1_event& e : want) {
    EXPECT_EQ(e.version, positions[e.stream].size());
    positions[e.stream].push_back(e.position);
  }
  auto index = detail::stream_index::open(fs, layout::index_dir(root), {.read_only = true});
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ((*index)->durable_end(), want.size());
  EXPECT_LE((*index)->runs().size(), 1u);
  for (const auto& [stream, expected] : positions) {
    std::vector<std::uint64_t> got;
    auto n = (*index)->lookup(stream, 0, expected.size() + 1, got);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(got, expected) << stream;
  }
  std::vector<std::uint64_t> none;
  auto absent = (*index)->lookup("no-such-stream", 0, 10, none);
  ASSERT_TRUE(absent);
  EXPECT_EQ(*absent, 0u);

  // The checkpoint: every event, and each partition's end where a scan of its log ends.
  const std::string cp_file = mem.contents(layout::checkpoint(root));
  ASSERT_EQ(cp_file.size(), format::checkpoint2_file_size(partitions));
  auto cp = format::decode_checkpoint2_file(as_bytes(cp_file), partitions);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->sequence, 1u);
  EXPECT_TRUE(format::decode_checkpoint2(as_bytes(cp_file).subspan(format::checkpoint2_slot_size(partitions)),
                                         partitions))
      << "sequence 1 is in slot 1 (slot = sequence % 2)";
  EXPECT_EQ(cp->all_count, want.size());
  EXPECT_EQ(cp->stream_count, streams_of(want)) << "streams with an event below all_count";
  ASSERT_EQ(cp->ends.size(), partitions);
  std::uint64_t records = 0;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    auto scan = detail::scan_partition_tail(mem, root, static_cast<std::uint16_t>(p), g, 0,
                                            [](detail::log_locator, format::bytes) {});
    ASSERT_TRUE(scan) << scan.error().message();
    EXPECT_EQ(scan->how, detail::log_end_kind::clean) << scan->detail;
    EXPECT_EQ(cp->ends[p], scan->end) << "partition " << p;
    records += scan->records;
  }
  EXPECT_EQ(records, want.size());
  EXPECT_EQ(format::decode_head(as_bytes(mem.contents(layout::head(root)))), want.size());

  // No format-1 file, and no link (the store rebuilds them).
  for (const std::string& path : mem.files()) {
    if (path.compare(0, root.size() + 1, root + "/") != 0) continue;
    const std::string rel = path.substr(root.size() + 1);
    EXPECT_TRUE(rel == "store.json" || rel.starts_with("log/") || rel == "index/all.idx" ||
                rel == "index/manifest" || rel.starts_with("index/run-") || rel == "index/checkpoint" ||
                rel == "index/head" || rel == "links/read_streams.json" || rel.starts_with("consumers/"))
        << rel;
  }
}

// The read-stream definitions and consumer checkpoints of the source, in `root`.
void expect_carried_state(memory_file_system& mem, const std::string& root,
                          const std::vector<v1_read_stream>& read_streams,
                          const std::vector<v1_consumer>& consumers) {
  const std::string defs_path = root + "/links/read_streams.json";
  if (read_streams.empty()) {
    EXPECT_FALSE(mem.exists(defs_path) && mem.contents(defs_path).find("\"name\"") != std::string::npos);
  } else {
    auto defs = detail::parse_read_stream_definitions(mem.contents(defs_path), defs_path);
    ASSERT_TRUE(defs) << defs.error().message();
    ASSERT_EQ(defs->size(), read_streams.size());
    for (std::size_t i = 0; i < read_streams.size(); ++i) {
      EXPECT_EQ((*defs)[i].name, read_streams[i].name);
      EXPECT_EQ((*defs)[i].f.to_json(), read_streams[i].filter_json);
      EXPECT_EQ((*defs)[i].built, read_streams[i].built);
    }
  }
  std::vector<std::tuple<std::string, std::string, std::uint64_t, std::string>> want;
  want.reserve(consumers.size());
  for (const v1_consumer& c : consumers) want.emplace_back(c.stream, c.name, c.position, c.state);
  std::vector<std::tuple<std::string, std::string, std::uint64_t, std::string>> got;
  if (mem.exists(root + "/consumers") || !consumers.empty()) {
    auto listed = detail::list_consumer_checkpoints(mem, root + "/consumers");
    ASSERT_TRUE(listed) << listed.error().message();
    for (const consumer_info& c : *listed) got.emplace_back(c.stream, c.name, c.position, c.state);
  }
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

void expect_carried_state(memory_file_system& mem, const std::string& root,
                          const v1::store_expectation& want) {
  expect_carried_state(mem, root, want.read_streams, want.consumers);
}

migrate_options small_segments(std::uint32_t partitions) {
  migrate_options o;
  o.store.partitions = partitions;
  o.store.segment_size = detail::min_segment_size;
  o.store.memtable_bytes = 1024;  // several runs, then compacted into one
  o.store.write_buffer_bytes = 3000;
  o.batch = 7;
  return o;
}

// Segment files of the partition logs in `root`.
std::size_t segment_files(const memory_file_system& mem, const std::string& root) {
  std::size_t n = 0;
  for (const std::string& path : mem.files()) {
    if (path.starts_with(root + "/log/")) ++n;
  }
  return n;
}

// The longest stream name of `events` (the fixtures' 200-byte one).
std::string longest_stream(const std::vector<v1_event>& events) {
  std::string out;
  for (const v1_event& e : events) {
    if (e.stream.size() > out.size()) out = e.stream;
  }
  return out;
}

}  // namespace

TEST(migrate_store, writes_a_format_2_store_with_every_event_and_keeps_the_source_as_the_backup) {
  // mixed: buffered, a 200-byte stream name with 4 KB events, a read stream
  // and a consumer; realistic: durable, a read stream and two consumers.
  for (const std::string name : {"mixed", "realistic"}) {
    SCOPED_TRACE(name);
    const v1_source source = fixture_store(name, name);
    const std::vector<v1_event>& want = source.want.events;
    ASSERT_TRUE(source.want.has_commit_fields);
    ASSERT_GT(want.size(), 100u);
    auto mem = disk_of(source.files);
    ASSERT_EQ(v1_events(*mem, dir), want) << "the format-1 reader reads what the format-1 engine read";

    auto result = migrate_store(mem, dir, small_segments(3));
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_TRUE(result->migrated_now);
    EXPECT_TRUE(result->wrote_store);
    EXPECT_EQ(result->events, want.size());
    EXPECT_EQ(result->streams, streams_of(want));
    EXPECT_EQ(result->read_streams, source.want.read_streams.size());
    EXPECT_EQ(result->consumers, source.want.consumers.size());
    EXPECT_EQ(result->left_out.events, 0u);
    EXPECT_EQ(result->store, dir);
    EXPECT_EQ(result->backup, backup);

    expect_format2_store(*mem, mem, dir, want, 3, detail::min_segment_size);
    expect_carried_state(*mem, dir, source.want);
    // The memtable went out as several runs, compacted into one at the end.
    auto manifest = detail::index_manifest::read(*mem, layout::index_dir(dir));
    ASSERT_TRUE(manifest && *manifest);
    EXPECT_EQ((*manifest)->runs.size(), 1u);
    EXPECT_GT((*manifest)->next_seq, 3u);
    // More segment files (8 KiB each) than partitions: logs rolled over.
    EXPECT_GT(segment_files(*mem, dir), 3u);
    EXPECT_EQ(longest_stream(want).size(), name == "mixed" ? 200u : 11u);
    const snapshot after = files_of(*mem);
    EXPECT_EQ(under(after, backup), moved(source.files, dir, backup)) << "the source is kept as it was";
    EXPECT_TRUE(under(after, tmp).empty());

    // A second run finds the job done and writes nothing.
    auto again = migrate_store(mem, dir, small_segments(3));
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_FALSE(again->migrated_now);
    EXPECT_EQ(again->events, want.size());
    EXPECT_EQ(again->backup, backup);
    EXPECT_EQ(files_of(*mem), after);
  }
}

TEST(migrate_store, migrates_a_thousand_events_of_one_stream_over_many_segments) {
  const v1_source source = fixture_store("bulk", "bulk");
  const std::vector<v1_event>& want = source.want.events;
  ASSERT_EQ(want.size(), 1000u);
  auto mem = disk_of(source.files);
  auto result = migrate_store(mem, dir, small_segments(2));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->events, want.size());
  EXPECT_EQ(result->streams, 1u);
  expect_format2_store(*mem, mem, dir, want, 2, detail::min_segment_size);
  expect_carried_state(*mem, dir, source.want);
  EXPECT_TRUE(mem->exists(detail::segment_path(dir, detail::default_partition("bulk", 2), 3)));
  EXPECT_EQ(under(files_of(*mem), backup), moved(source.files, dir, backup));
}

TEST(migrate_store, carries_the_journal_frames_of_a_durable_store_that_was_not_closed) {
  const v1_source source = fixture_store("journal", "journal");
  ASSERT_TRUE(source.files.contains(dir + "/journal.wal"));
  const std::vector<v1_event>& want = source.want.events;
  auto mem = disk_of(source.files);
  ASSERT_EQ(v1_events(*mem, dir), want);
  // The last appends are past the checkpoint: only the journal has them.
  ASSERT_TRUE(std::any_of(want.begin(), want.end(),
                          [](const v1_event& e) { return e.stream == "new-after-checkpoint"; }));
  auto result = migrate_store(mem, dir, small_segments(1));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->events, want.size());
  expect_format2_store(*mem, mem, dir, want, 1, detail::min_segment_size);
  EXPECT_EQ(under(files_of(*mem), backup), moved(source.files, dir, backup));
}

// Every sampled crash state of a format-1 store (tests/data/v1, crash_*):
// the migration carries exactly what the format-1 recovery read.
TEST(migrate_store, carries_what_the_format_1_recovery_reads_from_every_crash_state) {
  for (const std::string fixture : {"crash_buffered", "crash_durable", "buffered_crash"}) {
    auto f = v1::read_fixture(fixture);
    ASSERT_TRUE(f) << f.error().message();
    for (const auto& [name, image] : f->stores) {
      std::string trace = fixture;
      trace.append("/").append(name);
      SCOPED_TRACE(trace);
      const v1::store_expectation& expected = f->expected.at(name);
      auto mem = v1::disk_of(image, dir);
      // Crash states have no commit fields in the expectation (reads of the
      // format-1 engine do not show them): the reader's, checked elsewhere.
      std::vector<v1_event> want = v1_events(*mem, dir);
      ASSERT_EQ(want.size(), expected.events.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        v1_event e = want[i];
        if (!expected.has_commit_fields) {
          e.commit_first_position = 0;
          e.commit_count = 0;
          e.commit_end = false;
        }
        ASSERT_EQ(e, expected.events[i]) << "position " << i;
      }
      auto result = migrate_store(mem, dir, small_segments(2));
      ASSERT_TRUE(result) << result.error().message();
      EXPECT_EQ(result->events, want.size());
      expect_format2_store(*mem, mem, dir, want, 2, detail::min_segment_size);
      EXPECT_EQ(v1::image_of(*mem, backup), image) << "the source is kept as it was";
    }
  }
}

TEST(migrate_store, a_crash_at_any_write_then_a_rerun_ends_as_an_uninterrupted_run) {
  const v1_source source = fixture_store("mixed", "mixed");
  const std::vector<v1_event>& want = source.want.events;
  const migrate_options options = small_segments(2);
  snapshot reference;
  std::uint64_t writes = 0;
  {
    auto mem = disk_of(source.files);
    auto counting = std::make_shared<fault_injecting_file_system>(mem);
    auto r = migrate_store(counting, dir, options);
    ASSERT_TRUE(r) << r.error().message();
    writes = counting->operation_count();
    reference = files_of(*mem);
    expect_format2_store(*mem, mem, dir, want, 2, detail::min_segment_size);
    expect_carried_state(*mem, dir, source.want);
    EXPECT_TRUE(mem->exists(detail::segment_path(dir, 0, 2))) << "partition 0 rolled over twice";
  }
  ASSERT_GT(writes, 50u);
  for (std::uint64_t k = 0; k < writes; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k) + " of " + std::to_string(writes) + " writes");
    auto mem = disk_of(source.files);
    {
      auto faults = std::make_shared<fault_injecting_file_system>(mem);
      faults->crash_after(k);
      auto crashed = migrate_store(faults, dir, options);
      ASSERT_FALSE(crashed) << "the run cannot finish";
    }
    mem->power_loss(k % 2 == 0 ? power_loss_mode::synced_only : power_loss_mode::random_prefix, k);
    const snapshot after_crash = files_of(*mem);
    if (mem->exists(dir + "/store.json") && detail::read_store_json(*mem, dir)->version == 1) {
      EXPECT_EQ(under(after_crash, dir), under(source.files, dir)) << "the source is untouched";
    } else {
      EXPECT_EQ(under(after_crash, backup), moved(source.files, dir, backup)) << "the source is untouched";
    }
    auto rerun = migrate_store(mem, dir, options);
    ASSERT_TRUE(rerun) << rerun.error().message();
    EXPECT_EQ(rerun->events, want.size());
    EXPECT_EQ(rerun->backup, backup);
    ASSERT_EQ(differences(files_of(*mem), reference), "");
  }
}

TEST(migrate_store, a_failed_read_or_write_fails_the_run_and_a_rerun_finishes_it) {
  // realistic: a read stream and two consumers to carry; closed: none.
  for (const std::string name : {"realistic", "closed"}) {
    SCOPED_TRACE(name);
    const v1_source source = fixture_store(name, name);
    const migrate_options options = small_segments(2);
    snapshot reference;
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    {
      auto mem = disk_of(source.files);
      auto counting = std::make_shared<fault_injecting_file_system>(mem);
      ASSERT_TRUE(migrate_store(counting, dir, options));
      reads = counting->read_count();
      writes = counting->operation_count();
      reference = files_of(*mem);
    }
    ASSERT_GT(reads, 10u);
    const auto eio = make_error_code(boost::system::errc::io_error);
    for (const bool read : {true, false}) {
      for (std::uint64_t k = 1; k <= (read ? reads : writes); ++k) {
        SCOPED_TRACE(std::string(read ? "read " : "write ") + std::to_string(k));
        auto mem = disk_of(source.files);
        auto faults = std::make_shared<fault_injecting_file_system>(mem);
        if (read) {
          faults->fail_read(k, eio, false);
        } else {
          faults->fail_operation(k, eio, false);
        }
        auto r = migrate_store(faults, dir, options);
        if (!r) {
          EXPECT_FALSE(r.error().detail.empty());
          const snapshot now = files_of(*mem);
          if (under(now, backup).empty()) {
            EXPECT_EQ(under(now, dir), under(source.files, dir)) << "the source is untouched";
          } else {
            EXPECT_EQ(under(now, backup), moved(source.files, dir, backup)) << "the source is untouched";
          }
        }
        auto rerun = migrate_store(mem, dir, options);
        ASSERT_TRUE(rerun) << rerun.error().message();
        snapshot got = files_of(*mem);
        if (r) {
          // The failure was harmless: removing a run the final compaction
          // replaced. The orphan stays for the engine's next open to remove
          // (index/stream_index.hpp, remove_orphans).
          std::erase_if(got, [&](const auto& file) {
            return file.first.starts_with(dir + "/index/run-") && !reference.contains(file.first);
          });
        }
        ASSERT_EQ(differences(got, reference), "");
      }
    }
  }
}

TEST(migrate_store, refuses_without_a_store_or_with_a_backup_in_the_way_and_when_the_store_is_open) {
  auto empty = std::make_shared<memory_file_system>();
  auto none = migrate_store(empty, dir);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, errc::invalid_argument);

  const v1_source source = fixture_store("closed", "closed");
  auto mem = disk_of(source.files);
  mem->set_contents(backup + "/store.json", "{}");
  auto in_the_way = migrate_store(mem, dir);
  ASSERT_FALSE(in_the_way);
  EXPECT_EQ(in_the_way.error().code, errc::invalid_argument);
  EXPECT_NE(in_the_way.error().detail.find(backup), std::string::npos) << in_the_way.error().detail;
  EXPECT_EQ(under(files_of(*mem), dir), under(source.files, dir));

  // The format-1 engine held LOCK while open; nothing here can open a
  // format-1 store, so the test holds it as that engine did.
  auto fs = disk_of(source.files);
  auto held = fs->lock(layout::lock_file(dir));
  ASSERT_TRUE(held);
  auto locked = migrate_store(fs, dir);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, errc::store_locked);
  EXPECT_FALSE(fs->exists(tmp));
  EXPECT_EQ(under(files_of(*fs), dir), under(source.files, dir));
}

TEST(migrate_store, a_leftover_temporary_directory_is_replaced) {
  const v1_source source = fixture_store("closed", "closed");
  auto mem = disk_of(source.files);
  mem->set_contents(tmp + "/store.json",
                    R"({"format":"evstore","version":2,"partitions":1,"segment_size":8192})");
  mem->set_contents(tmp + "/log/p000-00000000.evs", "stale");
  mem->set_contents(tmp + "/index/deep/er/junk", "stale");
  auto r = migrate_store(mem, dir, small_segments(1));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->wrote_store);
  expect_format2_store(*mem, mem, dir, source.want.events, 1, detail::min_segment_size);
  EXPECT_FALSE(mem->exists(tmp));
}

// --- v2_writer on its own ----------------------------------------------------

namespace {

v2_event event(std::string_view stream, std::uint64_t version, bool end) {
  return {stream, version, 1764000000000, std::nullopt, "T", "{}", "", end};
}

}  // namespace

TEST(v2_writer, an_empty_store_is_complete_and_store_json_appears_only_at_finish) {
  auto mem = std::make_shared<memory_file_system>();
  auto w = v2_writer::create(mem, "/e", {.partitions = 2, .segment_size = detail::min_segment_size});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_FALSE(mem->exists("/e/store.json")) << "not a store before finish";
  auto written = (*w)->finish();
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_EQ(written->events, 0u);
  EXPECT_EQ(written->ends,
            (std::vector<std::uint64_t>{format::segment_records_start, format::segment_records_start}));
  expect_format2_store(*mem, mem, "/e", {}, 2, detail::min_segment_size);
  EXPECT_TRUE(mem->exists("/e/index/manifest"));
}

TEST(v2_writer, refuses_a_version_gap_an_unfinished_append_a_bad_name_and_a_non_empty_directory) {
  auto mem = std::make_shared<memory_file_system>();
  {
    auto w = v2_writer::create(mem, "/a", {.segment_size = detail::min_segment_size});
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->add(event("s", 0, true)));
    auto gap = (*w)->add(event("s", 2, true));
    ASSERT_FALSE(gap);
    EXPECT_EQ(gap.error().code, errc::invalid_argument);
    EXPECT_NE(gap.error().detail.find("position 1"), std::string::npos) << gap.error().detail;
    EXPECT_FALSE((*w)->finish()) << "errors are sticky";
    EXPECT_FALSE(mem->exists("/a/store.json"));
  }
  {
    auto w = v2_writer::create(mem, "/b", {.segment_size = detail::min_segment_size});
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->add(event("s", 0, false)));
    auto unfinished = (*w)->finish();
    ASSERT_FALSE(unfinished);
    EXPECT_EQ(unfinished.error().code, errc::invalid_argument);
    EXPECT_FALSE(mem->exists("/b/store.json"));
  }
  {
    auto w = v2_writer::create(mem, "/c", {.segment_size = detail::min_segment_size});
    ASSERT_TRUE(w);
    auto bad = (*w)->add(event("", 0, true));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, errc::invalid_argument);
  }
  mem->set_contents("/d/something", "x");
  auto busy = v2_writer::create(mem, "/d", {});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, errc::invalid_argument);
  auto bad_options = v2_writer::create(mem, "/f", {.partitions = 0});
  ASSERT_FALSE(bad_options);
  EXPECT_EQ(bad_options.error().code, errc::invalid_argument);
  EXPECT_FALSE(v2_writer::create(mem, "/g", {.segment_size = 10000}));
}

namespace {

// Writes 40 events (appends of three) to "/w" through `fs`; the first error.
result<v2_written> write_forty(const std::shared_ptr<file_system>& fs) {
  auto w = v2_writer::create(fs, "/w", {.segment_size = detail::min_segment_size, .memtable_bytes = 1024});
  if (!w) return w.error();
  for (std::uint64_t v = 0; v < 40; ++v) {
    if (auto ok = (*w)->add(event("s" + std::to_string(v % 4), v / 4, v % 3 == 2 || v == 39)); !ok)
      return ok.error();
  }
  return (*w)->finish();
}

}  // namespace

TEST(v2_writer, a_failed_write_is_reported_with_the_file_and_leaves_no_store_json) {
  std::uint64_t writes = 0;
  {
    auto faults = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
    ASSERT_TRUE(write_forty(faults));
    writes = faults->operation_count();
  }
  for (std::uint64_t k = 1; k <= writes; ++k) {
    auto mem = std::make_shared<memory_file_system>();
    auto faults = std::make_shared<fault_injecting_file_system>(mem);
    faults->fail_operation(k, make_error_code(boost::system::errc::io_error), false);
    auto done = write_forty(faults);
    if (done) continue;  // a write whose failure is harmless (removing a compacted run)
    EXPECT_EQ(done.error().code, boost::system::errc::io_error) << k << ": " << done.error().detail;
    EXPECT_FALSE(done.error().detail.empty()) << k;
    if (mem->exists("/w/store.json")) {
      // Only syncs come after store.json's rename: a store, but not a success.
      EXPECT_TRUE(done.error().detail.find("syncing the directory") != std::string::npos ||
                  done.error().detail.find("writing /w/store.json") != std::string::npos)
          << k << ": " << done.error().detail;
    }
  }
}

// --- the committed format-1 fixture -------------------------------------------

namespace {

const std::string fixture_dir = std::string(EVSTORE_TEST_SOURCE_DIR) + "/data/v1-store";

// Loads every file under `from` (a real directory) into `to` under `root`.
void load_tree(file_system& real, const std::string& from, memory_file_system& to, const std::string& root) {
  auto names = real.list(from);
  ASSERT_TRUE(names) << from;
  for (const std::string& name : *names) {
    const std::string path = layout::join(from, name);
    const std::string target = layout::join(root, name);
    if (real.list(path)) {
      load_tree(real, path, to, target);
      continue;
    }
    auto f = real.open(path, open_mode::read_only);
    ASSERT_TRUE(f) << path;
    auto size = (*f)->size();
    ASSERT_TRUE(size);
    std::string bytes(*size, '\0');
    auto n = (*f)->read_at(0, std::as_writable_bytes(std::span(bytes)));
    ASSERT_TRUE(n && *n == bytes.size()) << path;
    to.set_contents(target, bytes);
  }
}

// The events tests/data/v1-store holds.
struct fixture_event {
  std::string stream;
  std::string type;
  std::string data;
  std::string metadata;
  bool has_id;
  bool commit_end;
};
const std::vector<fixture_event> fixture_events = {
    {"order-1", "Placed", R"({"n":1})", R"({"by":"fixture"})", true, false},
    {"order-1", "Paid", R"({"total":12.5})", "", false, true},
    {"cart-1", "Added", R"({"sku":"a"})", "", true, true},
    {"order-1", "Shipped", "null", "", false, true},
    {"cart-1", "Added", R"({"sku":"b"})", "", false, false},
    {"cart-1", "Added", R"({"sku":"c"})", "", false, false},
    {"cart-1", "Removed", R"({"sku":"a"})", R"({"why":"changed mind"})", true, true},
    {"invoice-7", "Issued", R"({"total":12.5})", "", false, true},
};

boost::uuids::uuid fixture_id(std::size_t i) {
  boost::uuids::uuid id{};
  for (std::size_t b = 0; b < 16; ++b) id.data[b] = static_cast<std::uint8_t>(i * 16 + b + 1);
  return id;
}

}  // namespace

TEST(migrate_fixture, the_committed_format_1_store_reads_and_migrates) {
  auto real = posix_file_system();
  ASSERT_TRUE(real->exists(fixture_dir + "/store.json")) << fixture_dir;
  auto mem = std::make_shared<memory_file_system>();
  load_tree(*real, fixture_dir, *mem, dir);
  const snapshot source = files_of(*mem);

  const std::vector<v1_event> got = v1_events(*mem, dir);
  ASSERT_EQ(got.size(), fixture_events.size());
  std::map<std::string, std::uint64_t> versions;
  std::uint64_t commit_first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("position " + std::to_string(i));
    const fixture_event& want = fixture_events[i];
    EXPECT_EQ(got[i].stream, want.stream);
    EXPECT_EQ(got[i].version, versions[want.stream]++);
    EXPECT_EQ(got[i].position, i);
    EXPECT_EQ(got[i].type, want.type);
    EXPECT_EQ(got[i].data, want.data);
    EXPECT_EQ(got[i].metadata, want.metadata);
    EXPECT_EQ(got[i].id, want.has_id ? std::optional(fixture_id(i)) : std::nullopt);
    EXPECT_EQ(got[i].commit_end, want.commit_end);
    EXPECT_EQ(got[i].commit_first_position, commit_first);
    EXPECT_GT(got[i].committed_at, 1700000000000);  // written after November 2023
    if (want.commit_end) commit_first = i + 1;
  }

  auto result = migrate_store(mem, dir, small_segments(2));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->events, fixture_events.size());
  EXPECT_EQ(result->streams, 3u);
  expect_format2_store(*mem, mem, dir, got, 2, detail::min_segment_size);
  expect_carried_state(*mem, dir,
                       {{"paid", filter::event_types({"Paid"}).where("/total", "12.5").to_json(), true}},
                       {{"order-1", "billing", 2, R"({"seen":2})"}});
  EXPECT_EQ(under(files_of(*mem), backup), moved(source, dir, backup));
}
