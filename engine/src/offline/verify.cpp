// verify_store (verify.hpp) for a store of format 2: reads every event through
// $all and through its stream (the store checks each $all entry against the
// record it points to, and each record's position, stream and version), then
// reads the files the reads never need in full: every partition log from its
// first record (scan_partition_tail with no unsynced window: any bad record
// followed by a valid one is damage, reported with the segment and the
// in-segment offset), every run of the stream index (each block, and each
// stream's versions contiguous within the run) and the checkpoint.
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/store_json.hpp"
#include "index/index_manifest.hpp"
#include "index/index_run_reader.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "log/partition_scan.hpp"
#include <evstore/verify.hpp>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace evstore {
namespace format = detail::format;
namespace {

constexpr std::uint64_t page_size = 4096;

// Reads [from, from + count) of `stream` forward; on an error narrows down to
// the single damaged events, records each once, and goes on.
template <class OnEvent>
void scan(const store& s, const std::string& stream, std::uint64_t from, std::uint64_t count,
          verify_report& report, std::set<std::string>& seen, OnEvent&& on_event) {
  // Every event on disk, those a delete or stream metadata hides included.
  auto page = s.read(stream, {.from = from, .max_count = count, .include_hidden = true});
  if (page) {
    for (const recorded_event& e : page->events) on_event(e);
    return;
  }
  if (count > 1) {
    const std::uint64_t half = count / 2;
    scan(s, stream, from, half, report, seen, on_event);
    scan(s, stream, from + half, count - half, report, seen, on_event);
    return;
  }
  if (seen.insert(page.error().detail).second) report.damage.push_back(page.error());
}

// Reads all of $all, checking that each stream's versions follow each other;
// returns each stream's event count.
std::unordered_map<std::string, std::uint64_t> scan_all(
    const store& s, std::uint64_t total, verify_report& report, std::set<std::string>& seen,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  std::unordered_map<std::string, std::uint64_t> per_stream;
  for (std::uint64_t at = 0; at < total; at += page_size) {
    scan(s, "$all", at, std::min(page_size, total - at), report, seen, [&](const recorded_event& e) {
      std::uint64_t& next = per_stream[std::string(e.stream)];
      // A version gap right after an unreadable $all position is that damage, already reported.
      if (e.version != next && report.damage.empty()) {
        report.damage.push_back(error(errc::corrupt_data, "$all position " + std::to_string(e.position) +
                                                              " has " + std::string(e.stream) + " version " +
                                                              std::to_string(e.version) + ", expected " +
                                                              std::to_string(next)));
      }
      next = e.version + 1;
      ++report.events_checked;
    });
    if (progress) progress(at + std::min(page_size, total - at), total);
  }
  return per_stream;
}

// Checks that stream `name`, of which $all lists `count` events, has them
// indexed, and reads them.
void check_stream(const store& s, const std::string& name, std::uint64_t count, verify_report& report,
                  std::set<std::string>& seen) {
  ++report.streams_checked;
  // Asked per stream rather than taken from list_streams(), which leaves out
  // a stream it cannot load: a failed read must be reported as itself.
  auto version = s.stream_version(name);
  if (!version) {
    report.damage.push_back(version.error());
    return;
  }
  const std::uint64_t indexed = *version ? **version + 1 : 0;
  if (indexed < count || (indexed > count && report.damage.empty())) {
    report.damage.push_back(error(errc::corrupt_data, "stream " + name + " has " + std::to_string(indexed) +
                                                          " indexed events, $all has " +
                                                          std::to_string(count)));
  }
  for (std::uint64_t at = 0; at < indexed; at += page_size) {
    scan(s, name, at, std::min(page_size, indexed - at), report, seen, [](const recorded_event&) {});
  }
}

// The store's files, read directly.
class file_check {
 public:
  file_check(const store& s, verify_report& report)
      : fs_(*s.options().file_system), dir_(s.options().directory), report_(report) {}

  // store.json; false if it cannot be read (nothing else can then be checked).
  bool read_meta() {
    auto f = fs_.open(detail::layout::store_json(dir_), open_mode::read_only);
    if (!f) return add(detail::io_error_at(f.error(), "opening", "store.json", 0)), false;
    auto text = detail::read_all(**f);
    if (!text) return add(detail::io_error_at(text.error(), "reading", "store.json", 0)), false;
    auto meta = detail::parse_store_json(detail::to_string_view(*text), "store.json");
    if (!meta) return add(meta.error()), false;
    meta_ = *meta;
    geometry_.segment_size = meta_.segment_size;
    return true;
  }

  // The checkpoint: a valid slot for this many partitions, promising no more
  // than the store holds.
  void checkpoint(std::optional<std::uint64_t> published) {
    auto f = fs_.open(detail::layout::checkpoint(dir_), open_mode::read_only);
    if (!f) return add(detail::io_error_at(f.error(), "opening", "index/checkpoint", 0));
    auto bytes = detail::read_all(**f);
    if (!bytes) return add(detail::io_error_at(bytes.error(), "reading", "index/checkpoint", 0));
    cp_ = format::decode_checkpoint2_file(*bytes, meta_.partitions);
    if (!cp_) return add(detail::corruption_at("no valid checkpoint slot", "index/checkpoint", 0));
    if (published && cp_->all_count > *published) {
      add(detail::corruption_at("the checkpoint promises " + std::to_string(cp_->all_count) +
                                    " events, the store holds " + std::to_string(*published),
                                "index/checkpoint", 0));
    }
  }

  // Every partition log in full. Returns the records read.
  std::uint64_t logs() {
    std::uint64_t records = 0;
    for (std::uint32_t each = 0; each < meta_.partitions; ++each) {
      const auto p = static_cast<std::uint16_t>(each);
      std::optional<error> bad;
      auto scan = detail::scan_partition_tail(
          fs_, dir_, p, geometry_, geometry_.records_start(0),
          [&](detail::log_locator at, format::bytes bytes) {
            format::decoded_record r;
            if (bad) return;
            if (format::decode_record(bytes, r, format::record_names::required) !=
                    format::decode_status::ok ||
                (r.kind != format::record_kind_event && r.kind != format::record_kind_erased)) {
              bad = detail::corruption_at("record of an unknown kind or without a name",
                                          detail::segment_relative_path(p, geometry_.segment_of(at.offset)),
                                          geometry_.in_segment(at.offset));
            }
          },
          {.unsynced_window = detail::unlimited_window});
      if (bad) add(*bad);
      if (!scan) {
        add(scan.error());
        continue;
      }
      records += scan->records;
      // A torn tail past the checkpoint is an append in flight (or one the
      // next writer's open cuts); below it, acknowledged records are gone.
      if (cp_ && p < cp_->ends.size() && scan->end < cp_->ends[p]) {
        add(detail::corruption_at("the log ends before the checkpoint's end (" +
                                      std::to_string(cp_->ends[p]) + ")" +
                                      (scan->detail.empty() ? "" : ": " + scan->detail),
                                  detail::segment_relative_path(p, geometry_.segment_of(scan->end)),
                                  geometry_.in_segment(scan->end)));
      }
    }
    return records;
  }

  // Every run the manifest names, block by block.
  void stream_index() {
    const std::string index_dir = detail::layout::index_dir(dir_);
    auto manifest = detail::index_manifest::read(fs_, index_dir);
    if (!manifest) return add(manifest.error());
    if (!*manifest) {
      if (cp_ && cp_->all_count > 0)
        add(detail::corruption_at("no stream index manifest", "index/manifest", 0));
      return;
    }
    for (const detail::manifest_run& run : (*manifest)->runs) {
      auto reader = detail::index_run_reader::open(
          fs_, detail::layout::join(index_dir, detail::run_file_name(run.seq)));
      if (!reader) {
        add(reader.error());
        continue;
      }
      if (auto ok = (*reader)->verify(); !ok) add(ok.error());
    }
  }

 private:
  void add(error e) { report_.damage.push_back(std::move(e)); }

  file_system& fs_;
  const std::string& dir_;
  verify_report& report_;
  detail::store_description meta_;
  detail::log_geometry geometry_;
  std::optional<format::checkpoint2> cp_;
};

}  // namespace

verify_report verify_store(const store& s,
                           const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  verify_report report;
  std::set<std::string> seen;
  const std::uint64_t total = s.event_count();
  const auto per_stream = scan_all(s, total, report, seen, progress);
  std::unordered_map<std::string, std::uint64_t> listed;
  for (std::size_t offset = 0;; offset += 1000) {
    auto streams = s.list_streams(offset, 1000);
    if (offset >= s.stream_count()) break;
    for (const stream_info& info : streams) listed[info.name] = info.event_count;
  }
  for (const auto& [name, count] : per_stream) check_stream(s, name, count, report, seen);
  // After a failed read of $all, streams it could not show are no damage.
  const bool read_failed = std::any_of(report.damage.begin(), report.damage.end(),
                                       [](const error& e) { return e.code != errc::corrupt_data; });
  for (const auto& [name, count] : listed) {
    if (!per_stream.count(name) && !read_failed) {
      report.damage.push_back(error(errc::corrupt_data, "stream " + name + " has " + std::to_string(count) +
                                                            " indexed events that $all does not list"));
    }
  }

  file_check files(s, report);
  if (!files.read_meta()) return report;
  // A follower's count may lag the writer's checkpoint.
  files.checkpoint(s.options().read_only ? std::nullopt : std::optional<std::uint64_t>(total));
  const std::uint64_t records = files.logs();
  // A log that could not be read holds records verify did not count: no damage.
  const bool any_read_failed = std::any_of(report.damage.begin(), report.damage.end(),
                                           [](const error& e) { return e.code != errc::corrupt_data; });
  if (records < total && !any_read_failed) {
    report.damage.push_back(error(errc::corrupt_data, "the partition logs hold " + std::to_string(records) +
                                                          " readable records, $all has " +
                                                          std::to_string(total)));
  }
  files.stream_index();
  return report;
}

}  // namespace evstore
