#include "workload.hpp"

#include "catalog.hpp"

#include <array>
#include <utility>

namespace evstore::sim {
namespace {

boost::uuids::uuid make_id(rng& r) {
  boost::uuids::uuid id{};
  const std::uint64_t a = r.next(), b = r.next();
  for (int i = 0; i < 8; ++i) {
    id.data[i] = static_cast<std::uint8_t>(a >> (8 * i));
    id.data[8 + i] = static_cast<std::uint8_t>(b >> (8 * i));
  }
  return id;
}

// Data an issue-10 filter can select on: "k" (a catalog value), now and then
// the key that needs pointer escapes, and (deep-nesting) arrays nested up to
// the append limit of 64 levels, the enclosing object counted.
std::string filter_data(rng& r, const options& o, sim_event& e, std::uint64_t n) {
  const std::string k = r.pick(field_values(o));
  std::string data = "{\"n\":" + std::to_string(n) + ",\"k\":" + k;
  e.fields["/k"] = k;
  if (r.chance(20)) {
    const std::string v = r.pick(field_values(o));
    data += ",\"x/y~z\":" + v;
    e.fields[odd_key_pointer] = v;
  }
  if (o.on("deep-nesting") && r.chance(20)) {
    static const int depths[] = {31, 32, 33, 34, 48, 63, 64};
    const int arrays = depths[r.below(7)] - 1;
    data += ",\"deep\":" + std::string(arrays, '[') + std::string(arrays, ']');
  }
  return data + "}";
}

sim_event make_event(rng& r, const options& o, const std::string& stream, std::uint64_t& nonce) {
  static const char* const types[] = {"A", "B", "C"};
  sim_event e;
  e.stream = stream;
  e.type = types[r.below(3)];
  if (const auto extra = extra_types(o); !extra.empty() && r.chance(15)) e.type = r.pick(extra);
  const std::uint64_t n = ++nonce;
  switch (r.below(8)) {
    case 0: e.data = ""; break;  // reads back as null
    case 1:
      e.data = "{\"n\":" + std::to_string(n) + ",\"pad\":\"" + std::string(r.between(100, 3000), 'x') + "\"}";
      break;
    default: e.data = o.on("filters") ? filter_data(r, o, e, n) : "{\"n\":" + std::to_string(n) + "}"; break;
  }
  if (e.data.empty()) {
    e.fields[""] = "null";  // the pointer "" is the whole document
  } else {
    e.fields["/n"] = std::to_string(n);
  }
  if (r.chance(25)) {
    const std::string m = std::to_string(r.below(1000));
    e.metadata = "{\"m\":" + m + "}";
    e.metadata_fields["/m"] = m;
  }
  if (r.chance(85)) e.id = make_id(r);
  return e;
}

}  // namespace

const char* name_of(op_kind k) {
  switch (k) {
    case op_kind::append: return "append";
    case op_kind::retry: return "retry";
    case op_kind::read_with_fault: return "read-with-fault";
    case op_kind::subscribe: return "subscribe";
    case op_kind::consumer: return "consumer";
    case op_kind::create_read_stream: return "create-read-stream";
    case op_kind::delete_read_stream: return "delete-read-stream";
    case op_kind::follower_open: return "follower-open";
    case op_kind::follower_refresh: return "follower-refresh";
    case op_kind::follower_read: return "follower-read";
    case op_kind::follower_race: return "follower-race";
    case op_kind::follower_close: return "follower-close";
    case op_kind::close_backfill: return "close-backfill";
    case op_kind::backup: return "backup";
    case op_kind::restart: return "restart";
    case op_kind::kill: return "kill";
    case op_kind::power_loss: return "power-loss";
  }
  return "?";
}

op_kind next_op(rng& r, const options& o, const world& w) {
  if (!w.writer_up && r.chance(60)) return op_kind::restart;
  if (w.writer_failed && r.chance(35)) return op_kind::restart;
  // Weights; a class switched off, or an operation that cannot run now, weighs 0.
  const bool follower = o.on("follower");
  const std::array<std::pair<op_kind, std::uint64_t>, 17> weights = {{
      {op_kind::append, 40},
      {op_kind::retry, o.on("retries") ? 6 : 0},
      {op_kind::read_with_fault, o.on("read-errors") ? 3 : 0},
      {op_kind::subscribe, o.on("subscriptions") ? (o.on("sub-churn") ? 5 : 2) : 0},
      {op_kind::consumer, o.on("consumers") ? 4 : 0},
      {op_kind::create_read_stream, o.on("read-streams") ? 3 : 0},
      {op_kind::delete_read_stream, o.on("read-streams") ? 2 : 0},
      {op_kind::follower_open, follower && !w.follower_open ? 4 : 0},
      {op_kind::follower_refresh, follower && w.follower_open ? 10 : 0},
      {op_kind::follower_read, follower && w.follower_open ? 4 : 0},
      {op_kind::follower_race, follower && o.on("race") && w.follower_open ? 1 : 0},
      {op_kind::follower_close, follower && w.follower_open ? 1 : 0},
      {op_kind::backup, o.on("backup") ? 1 : 0},
      {op_kind::restart, 2},
      {op_kind::kill, o.on("crash") ? 2 : 0},
      {op_kind::power_loss, o.on("power-loss") && w.fsync ? 1 : 0},
      {op_kind::close_backfill,
       o.on("close-backfill") && o.on("read-streams") ? 1 : 0},  // a store of its own
  }};
  std::uint64_t total = 0;
  for (const auto& [k, wt] : weights) total += wt;
  std::uint64_t x = r.below(total);
  for (const auto& [k, wt] : weights) {
    if (x < wt) return k;
    x -= wt;
  }
  return op_kind::append;
}

append_request make_append(rng& r, const options& o, const model& m, std::uint64_t& nonce) {
  append_request a;
  a.stream = r.pick(stream_names());
  if (const auto extra = extra_streams(o); !extra.empty() && r.chance(15)) a.stream = r.pick(extra);
  const std::size_t n = r.chance(70) ? 1 : r.between(2, 4);
  for (std::size_t i = 0; i < n; ++i) a.events.push_back(make_event(r, o, a.stream, nonce));
  // Every event of a retried append needs an id, and a multi-event append
  // without ids on all of them is still valid: leave it as drawn.
  const std::uint64_t count = m.count(a.stream);
  switch (r.below(10)) {
    case 0: a.expected = expect::no_stream; break;
    case 1: a.expected = expect::stream_exists; break;
    case 2:
    case 3:
      a.expected = expect::exactly(count > 0 ? count - 1 : 0);
      break;                                                          // right (or wrong on a new stream)
    case 4: a.expected = expect::exactly(count + r.below(3)); break;  // wrong: conflicts
    default: a.expected = expect::any; break;
  }
  return a;
}

append_request make_simple_append(rng& r, const options& o, const std::string& stream, std::uint64_t& nonce) {
  append_request a;
  a.stream = stream;
  a.events.push_back(make_event(r, o, stream, nonce));
  return a;
}

filter make_filter(rng& r, const options& o) {
  filter f;
  if (r.chance(60)) {
    std::vector<std::string> types = {"A", "B", "C"};
    const auto extra = extra_types(o);
    types.insert(types.end(), extra.begin(), extra.end());
    for (std::uint64_t i = 0, n = r.between(1, 2); i < n; ++i) f.types.push_back(r.pick(types));
  }
  if (r.chance(25)) {
    std::vector<std::string> prefixes = {"a-", "b", "c-"};
    for (const std::string& s : extra_streams(o)) {
      if (auto c = category_of(s)) prefixes.push_back(*c + "-");
    }
    f.stream_prefix = r.pick(prefixes);
  }
  const auto values = field_values(o);
  if (r.chance(60)) {
    switch (r.below(5)) {
      case 0: f.where(odd_key_pointer, r.pick(values)); break;
      case 1: f.where_metadata("/m", std::to_string(r.below(1000))); break;
      case 2: f.where("", "null"); break;  // the whole document: events appended without data
      default: f.where("/k", r.pick(values)); break;
    }
  }
  // A big integer whose neighbour events hold: only an exact comparison tells them apart.
  if (o.on("big-integers") && r.chance(30)) f.where("/k", r.pick(big_integers()));
  // Two conditions on one pointer: both must hold (a conjunction).
  if (o.on("filter-roundtrip") && r.chance(20)) {
    const std::string v = r.pick(values);
    f.where("/k", v).where("/k", r.chance(50) ? v : r.pick(values));
  }
  return f;
}

std::optional<append_request> make_retry(rng& r, const model& m, const std::vector<append_request>& failed) {
  if (!failed.empty() && r.chance(50)) {
    append_request a = failed[failed.size() - 1 - r.below(std::min<std::size_t>(failed.size(), 5))];
    if (a.events.front().id) return a;
  }
  const auto& commits = m.commits();
  if (commits.empty()) return std::nullopt;
  const commit& c = commits[commits.size() - 1 - r.below(std::min<std::size_t>(commits.size(), 10))];
  // Inside the window whether or not the writer reloaded it from disk (see model::predict).
  if (c.first_version + model::retry_window < m.count(c.request.stream) + 1) return std::nullopt;
  append_request a = c.request;
  if (r.chance(30)) a.expected = expect::no_stream;  // a retry is recognised before the version check
  // One retry in eight carries other data under the same ids: not a retry,
  // refused (duplicate_event_id). Decided by an id's byte rather than a draw,
  // so that the seeds' sequences stay as they were.
  if (a.events.front().id && (a.events.front().id->data[0] & 7u) == 0) {
    sim_event& e = a.events.back();
    e.data = e.data.empty() || e.data == "null" ? "{}" : "";
    e.fields.clear();
  }
  return a;
}

}  // namespace evstore::sim
