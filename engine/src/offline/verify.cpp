#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include <evstore/verify.hpp>

#include <algorithm>
#include <array>
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
  auto page = s.read(stream, {.from = from, .max_count = count});
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

// The 256-byte header of `path`: its magic, checksum, reserved bytes and, for
// a stream's files, the stream's name. Reads never need the headers, so only
// verify (and repair, which trusts them) would notice their damage.
void check_header(const store& s, const std::string& path, format::file_kind kind, std::string_view stream,
                  verify_report& report) {
  file_system& fs = *s.options().file_system;
  const std::string rel = path.substr(s.options().directory.size() + 1);
  if (!fs.exists(path)) return;  // a missing file shows up as missing events
  auto f = fs.open(path, open_mode::read_only);
  if (!f) {
    report.damage.push_back(error(f.error(), "cannot read " + rel));
    return;
  }
  std::array<std::byte, format::file_header_size> buf{};
  auto n = (*f)->read_at(0, buf);
  if (!n) {
    // A failed read says nothing about the bytes: report the I/O error, not damage.
    report.damage.push_back(error(n.error(), "reading " + rel + " at offset 0"));
    return;
  }
  const auto h = *n == buf.size() ? format::decode_file_header(buf, kind) : std::nullopt;
  const std::string_view want = stream.substr(0, format::header_name_capacity);
  if (!h || (kind != format::file_kind::all_index && kind != format::file_kind::catalog && h->name != want)) {
    report.damage.push_back(error(errc::corrupt_data, "damaged file header in " + rel + " at offset 0"));
  }
}

// Reads all of $all, checking that each stream's versions follow each other;
// returns each stream's event count.
std::unordered_map<std::string, std::uint64_t> scan_all(
    const store& s, verify_report& report, std::set<std::string>& seen,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  const std::uint64_t total = s.event_count();
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

}  // namespace

verify_report verify_store(const store& s,
                           const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  verify_report report;
  std::set<std::string> seen;
  const auto per_stream = scan_all(s, report, seen, progress);
  std::unordered_map<std::string, std::uint64_t> listed;
  for (std::size_t offset = 0;; offset += 1000) {
    auto streams = s.list_streams(offset, 1000);
    if (offset >= s.stream_count()) break;
    for (const stream_info& info : streams) listed[info.name] = info.event_count;
  }
  for (const auto& [name, count] : per_stream) check_stream(s, name, count, report, seen);
  const std::string& dir = s.options().directory;
  check_header(s, detail::layout::all_index(dir), format::file_kind::all_index, {}, report);
  check_header(s, detail::layout::catalog(dir), format::file_kind::catalog, {}, report);
  for (const auto& [name, count] : listed) {
    const std::string enc = detail::encode_stream_file_name(name);
    check_header(s, detail::layout::partition(dir, enc), format::file_kind::partition, name, report);
    check_header(s, detail::layout::stream_index(dir, enc), format::file_kind::stream_index, name, report);
  }
  // After a failed read of $all, streams it could not show are no damage.
  const bool read_failed = std::any_of(report.damage.begin(), report.damage.end(),
                                       [](const error& e) { return e.code != errc::corrupt_data; });
  for (const auto& [name, count] : listed) {
    if (!per_stream.count(name) && !read_failed) {
      report.damage.push_back(error(errc::corrupt_data, "stream " + name + " has " + std::to_string(count) +
                                                            " indexed events that $all does not list"));
    }
  }
  return report;
}

}  // namespace evstore
