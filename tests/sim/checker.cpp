#include "checker.hpp"

#include "trace.hpp"

#include <boost/uuid/uuid_io.hpp>

#include <algorithm>

namespace evstore::sim {
namespace {

std::string at(const std::string& who, std::string_view stream, std::uint64_t sequence) {
  return who + ": " + std::string(stream) + "@" + std::to_string(sequence) + ": ";
}

}  // namespace

std::vector<std::uint64_t> before(std::vector<std::uint64_t> positions, std::uint64_t limit) {
  positions.erase(std::lower_bound(positions.begin(), positions.end(), limit), positions.end());
  return positions;
}

void expect_event(const std::string& who, std::string_view stream, const recorded_event& got, const model& m,
                  std::uint64_t position, std::uint64_t sequence) {
  const auto where = at(who, stream, sequence);
  expect(position < m.all().size(),
         where + "no such acknowledged event (position " + std::to_string(position) + ")");
  const stored_event& want = m.all()[position];
  const sim_event& e = want.event;
  expect(got.position == want.position,
         where + "position " + std::to_string(got.position) + ", want " + std::to_string(want.position));
  expect(got.stream == e.stream, where + "stream '" + std::string(got.stream) + "', want '" + e.stream + "'");
  expect(got.version == want.version,
         where + "version " + std::to_string(got.version) + ", want " + std::to_string(want.version));
  expect(got.sequence == sequence, where + "sequence " + std::to_string(got.sequence));
  expect(got.type == e.type, where + "type '" + std::string(got.type) + "', want '" + e.type + "'");
  const std::string_view data = e.data.empty() ? std::string_view("null") : std::string_view(e.data);
  expect(got.data == data, where + "data '" + std::string(got.data) + "', want '" + std::string(data) + "'");
  expect(got.metadata == e.metadata, where + "metadata differs");
  expect(got.id == e.id, where + "id " + (got.id ? to_string(*got.id) : "none") + ", want " +
                             (e.id ? to_string(*e.id) : "none"));
}

std::uint64_t expect_stream(const store& s, const std::string& who, std::string_view stream, const model& m,
                            const std::vector<std::uint64_t>& want, std::uint64_t from, std::uint64_t page) {
  std::uint64_t seq = from;
  for (;;) {
    auto p = s.read(stream, {.from = seq, .max_count = page});
    if (!p && p.error().code == errc::stream_not_found && want.empty()) return 0;
    expect(p.has_value(), at(who, stream, seq) + "read failed: " + (p ? "" : p.error().message()));
    for (const recorded_event& e : p->events) {
      expect(seq < want.size(), at(who, stream, seq) + "an event the model does not have (position " +
                                    std::to_string(e.position) + ", stream " + std::string(e.stream) + ")");
      expect_event(who, stream, e, m, want[seq], seq);
      ++seq;
    }
    if (p->end || p->events.empty()) break;
    expect(p->next == seq, at(who, stream, seq) + "page next " + std::to_string(p->next));
  }
  expect(seq == want.size(), at(who, stream, seq) + "read " + std::to_string(seq) + " events, want " +
                                 std::to_string(want.size()));
  return seq - from;
}

std::string describe(const filter& f) {
  std::string out = "{types";
  for (const auto& t : f.types) out += " '" + t + "'";
  out += ", prefix '" + f.stream_prefix + "'";
  for (const auto& c : f.fields)
    out += std::string(", ") + (c.in_metadata ? "meta" : "data") + " '" + c.pointer + "' = " + c.value;
  return out + "}";
}

void check_writer(const store& s, const options& o, const model& m, rng& r, bool links_current) {
  const std::uint64_t n = m.all().size();
  expect(s.event_count() == n,
         "writer: event_count " + std::to_string(s.event_count()) + ", model " + std::to_string(n));
  const auto all = m.positions("$all");
  // The tail always, the whole log now and then.
  const std::uint64_t from = r.chance(20) ? 0 : n - std::min<std::uint64_t>(n, r.between(1, 40));
  expect_stream(s, "writer", "$all", m, all, from, r.between(1, 50));

  // list_streams walks the stream index (a hash of the name), not creation
  // order: the same streams with the same counts, each once.
  const auto& order = m.stream_order();
  auto listed = s.list_streams();
  expect(listed.size() == order.size(), "writer: list_streams has " + std::to_string(listed.size()) +
                                            " streams, model " + std::to_string(order.size()));
  std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  auto sorted_order = order;
  std::sort(sorted_order.begin(), sorted_order.end());
  for (std::size_t i = 0; i < std::min(sorted_order.size(), listed.size()); ++i) {
    expect(listed[i].name == sorted_order[i] && listed[i].event_count == m.count(sorted_order[i]),
           "writer: list_streams (by name) [" + std::to_string(i) + "] is " + listed[i].name + "/" +
               std::to_string(listed[i].event_count) + ", model " + sorted_order[i] + "/" +
               std::to_string(m.count(sorted_order[i])));
  }
  for (int k = 0; k < 2 && !order.empty(); ++k) {
    const std::string& name = r.pick(order);
    expect_stream(s, "writer", name, m, m.positions(name), 0, r.between(1, 20));
    auto v = s.stream_version(name);
    expect(v && *v && **v + 1 == m.count(name), "writer: stream_version of " + name);
  }
  if (!order.empty()) {  // backward, from the end
    const std::string& name = r.pick(order);
    const auto want = m.positions(name);
    auto p = s.read(name, {.from = from_end, .max_count = 5, .direction = direction::backward});
    expect(p.has_value(), "writer: backward read of " + name + " failed");
    std::uint64_t seq = want.size();
    for (const auto& e : p->events) {
      expect(seq > 0, "writer: backward read of " + name + " returned too many events");
      --seq;
      expect_event("writer", name, e, m, want[seq], seq);
    }
  }
  if (!links_current) return;
  const auto listed_rs = s.list_read_streams();
  expect(listed_rs.size() == m.read_streams.size(), "writer: list_read_streams has " +
                                                        std::to_string(listed_rs.size()) + ", model " +
                                                        std::to_string(m.read_streams.size()));
  for (const auto& [name, f] : m.read_streams) {
    if (o.on("filters") && o.on("filter-roundtrip")) {
      const auto it =
          std::find_if(listed_rs.begin(), listed_rs.end(), [&](const auto& x) { return x.name == name; });
      expect(it != listed_rs.end(), "writer: list_read_streams lacks " + name);
      expect(it->filter == f, "writer: read stream " + name + " has filter " + describe(it->filter) +
                                  ", created with " + describe(f));
    }
    expect_stream(s, "writer", name, m, m.positions(name), 0, r.between(1, 30));
  }
  if (o.on("system-streams")) {
    // Each one's tail always, the whole of each now and then (like $all above).
    const bool whole = r.chance(20);
    for (const std::string& sys : m.system_streams()) {
      const auto want = m.positions(sys);
      expect_stream(s, "writer", sys, m, want,
                    whole ? 0 : want.size() - std::min<std::size_t>(want.size(), 8), 64);
    }
    return;
  }
  static const char* const system[] = {"$ce-a", "$ce-b", "$ce-c", "$et-A", "$et-B", "$et-C"};
  const std::string sys = system[r.below(6)];
  expect_stream(s, "writer", sys, m, m.positions(sys), 0, r.between(1, 30));
}

std::uint64_t check_follower(const store& f, const model& m, bool must_equal) {
  const std::uint64_t n = f.event_count();
  // Appends the writer answered with an I/O error may be on the disk (in doubt
  // until it reopens): a follower may read them, nothing beyond them.
  std::uint64_t doubt = 0;
  for (const append_request& r : m.in_doubt()) doubt += r.events.size();
  expect(n <= m.all().size() + doubt, "follower: ahead of the writer: " + std::to_string(n) +
                                          " events, writer acknowledged " + std::to_string(m.all().size()) +
                                          (doubt ? " (+" + std::to_string(doubt) + " in doubt)" : ""));
  if (must_equal) {
    expect(n == m.all().size(), "follower: stuck at " + std::to_string(n) +
                                    " events after refresh(), writer has " + std::to_string(m.all().size()));
  }
  if (doubt > 0) return n;  // what it read is checked once the writer's reopen settled the doubt
  expect_stream(f, "follower", "$all", m, before(m.positions("$all"), n), n > 20 ? n - 20 : 0, 7);
  return n;
}

void check_copy(const store& c, const model& m, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t n = c.event_count();
  expect(n >= lo && n <= hi, "backup: " + std::to_string(n) + " events, want between " + std::to_string(lo) +
                                 " and " + std::to_string(hi));
  expect(m.append_boundary(n), "backup: ends inside an append (" + std::to_string(n) + " events)");
  expect_stream(c, "backup", "$all", m, before(m.positions("$all"), n), 0, 64);
  for (const std::string& name : m.stream_order()) {
    expect_stream(c, "backup", name, m, before(m.positions(name), n), 0, 64);
  }
}

}  // namespace evstore::sim
