#include "support/crash_invariants.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace evstore::test {

namespace {

// The fields in which two recorded events differ ("" when none).
std::string diff_recorded(const recorded_event& x, const recorded_event& y) {
  std::string d;
  if (x.stream != y.stream) d += " stream;";
  if (x.type != y.type) d += " type;";
  if (x.data != y.data) d += " data;";
  if (x.metadata != y.metadata) d += " metadata;";
  if (x.id != y.id) d += " id;";
  if (x.version != y.version)
    d += " version " + std::to_string(x.version) + "/" + std::to_string(y.version) + ";";
  if (x.position != y.position)
    d += " position " + std::to_string(x.position) + "/" + std::to_string(y.position) + ";";
  if (x.committed_at != y.committed_at) d += " committed_at;";
  return d;
}

}  // namespace

std::vector<std::string> check_views_agree_with_all(const store& s, const std::vector<recorded_event>& all,
                                                    const std::set<std::string>& names_in) {
  std::vector<std::string> problems;
  auto fail = [&problems](std::string m) { problems.push_back(std::move(m)); };

  std::map<std::string, std::vector<const recorded_event*>, std::less<>> by_stream;
  for (const recorded_event& e : all) by_stream[std::string(e.stream)].push_back(&e);
  // A limit past the store's own count: a stream_count() too low must not hide a stream.
  const std::vector<stream_info> listed =
      s.list_streams(0, std::max<std::size_t>(100000, s.stream_count() + 1));
  std::set<std::string> names = names_in;
  for (const stream_info& info : listed) names.insert(info.name);
  for (const auto& [name, events] : by_stream) names.insert(name);

  for (const std::string& name : names) {
    const auto it = by_stream.find(name);
    const std::size_t expected = it == by_stream.end() ? 0 : it->second.size();
    auto page = s.read(name);
    if (!page) {
      // A stream that cannot be read is reported once: a store that refuses
      // damaged data (corrupt_data) says so here, and only here.
      if (page.error().code == errc::stream_not_found && expected == 0) continue;
      fail("(e) read " + name + " failed: " + page.error().message() + " ($all has " +
           std::to_string(expected) + " of its events)");
      continue;
    }
    if (page->events.size() != expected) {
      fail("(d) stream " + name + " has " + std::to_string(page->events.size()) + " events, $all has " +
           std::to_string(expected));
    }
    for (std::size_t v = 0; v < std::min(page->events.size(), expected); ++v) {
      const recorded_event& e = page->events[v];
      std::string d = diff_recorded(e, *it->second[v]);
      if (e.version != v)
        d += " version " + std::to_string(e.version) + " at index " + std::to_string(v) + ";";
      if (!d.empty()) {
        fail("(d) stream " + name + " version " + std::to_string(v) + " differs from $all position " +
             std::to_string(it->second[v]->position) + ":" + d);
        break;
      }
    }
    auto version = s.stream_version(name);
    if (!version) {
      fail("(e) stream_version(" + name + ") failed: " + version.error().message());
    } else if (*version != (expected == 0 ? std::nullopt : std::optional<std::uint64_t>(expected - 1))) {
      fail("(d) stream_version(" + name + ") is " +
           (*version ? std::to_string(**version) : std::string("none")) + ", $all has " +
           std::to_string(expected) + " events of it");
    }
  }

  std::size_t nonempty = 0;
  for (const auto& [name, events] : by_stream) nonempty += events.empty() ? 0 : 1;
  if (listed.size() != nonempty) {
    fail("(d) list_streams lists " + std::to_string(listed.size()) + " streams, $all has events of " +
         std::to_string(nonempty));
  }
  for (const stream_info& info : listed) {
    const auto it = by_stream.find(info.name);
    const std::size_t in_all = it == by_stream.end() ? 0 : it->second.size();
    if (info.event_count != in_all) {
      fail("(d) list_streams says " + info.name + " has " + std::to_string(info.event_count) +
           " events, $all " + std::to_string(in_all));
    }
  }

  // The lazy range over $all agrees with the page.
  auto range = s.events("$all");
  std::size_t k = 0;
  for (const recorded_event& e : range) {
    if (k >= all.size() || !diff_recorded(e, all[k]).empty()) {
      fail("(d) events(\"$all\") differs from read(\"$all\") at position " + std::to_string(k));
      break;
    }
    ++k;
  }
  if (range.error()) fail("(e) events(\"$all\") failed: " + range.error()->message());
  if (k != all.size() && problems.empty())
    fail("(d) events(\"$all\") yielded " + std::to_string(k) + " events");
  return problems;
}

}  // namespace evstore::test
