// The request/response routes of evstored. See api.hpp.
#include "api.hpp"

#include "console_assets.hpp"
#include <evstore/event_json.hpp>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <variant>

namespace evstore::http {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // needs two hex digits
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

// The console's files, with headers that keep the page to its own origin's
// scripts, styles and API, out of frames, and revalidated on every load.
api_response console_response(const console_asset& a) {
  api_response r;
  r.content_type = a.content_type;
  r.body = std::string(a.body);
  r.headers = {
      {"Cache-Control", "no-cache"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}};
  return r;
}

}  // namespace

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);  // digits only: no sign, no spaces
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<target> parse_target(std::string_view raw) {
  if (raw.empty() || raw.front() != '/') return std::nullopt;
  target t;
  const auto q = raw.find('?');
  const std::string_view path = raw.substr(0, q);
  // Split first, decode each segment after: an encoded '/' stays inside its segment.
  std::size_t at = 1;
  while (at <= path.size()) {
    const auto slash = path.find('/', at);
    const std::string_view seg =
        path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    auto decoded = percent_decode(seg, false);
    if (!decoded) return std::nullopt;
    if (path.size() > 1) t.segments.push_back(std::move(*decoded));  // "/" alone has no segments
    if (slash == std::string_view::npos) break;
    at = slash + 1;
  }
  // A trailing slash leaves an empty last segment: "/streams/" names the
  // empty stream (400 invalid_stream_name), not the stream list.
  if (q != std::string_view::npos) {
    std::string_view query = raw.substr(q + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value =
          percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!key || !value) return std::nullopt;
      if (!key->empty()) t.query[*key] = *value;
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return t;
}

namespace {

// The one parser of subscribe parameters: `from` (a non-negative integer,
// `default_from` without it), or Last-Event-ID (resume after that event),
// which comes first; with consumers allowed, ?consumer= starts at the
// consumer's position instead, and `from` is not read.
subscribe_params parse_subscribe(const target& t, std::string stream, std::uint64_t default_from,
                                 std::string_view last_event_id, bool consumers) {
  subscribe_params p{.stream = std::move(stream), .from = default_from};
  if (consumers) {
    if (auto c = t.query.find("consumer"); c != t.query.end()) {
      p.consumer = c->second;
      return p;
    }
  }
  if (!last_event_id.empty()) {
    const auto id = to_u64(last_event_id);
    if (!id || *id == from_end) {
      p.invalid = "Last-Event-ID must be an event number";
    } else {
      p.from = *id + 1;
    }
  } else if (auto f = t.query.find("from"); f != t.query.end()) {
    if (const auto v = to_u64(f->second)) {
      p.from = *v;
    } else {
      p.invalid = "from must be a non-negative integer";
    }
  }
  return p;
}

}  // namespace

route route_request(std::string_view method, std::string_view raw_target, bool upgrade,
                    std::string_view accept, std::string_view last_event_id) {
  // Only an upgrade or a GET accepting an event stream can go elsewhere than
  // api::handle: the target of any other request (every append) is parsed
  // once, there, not twice.
  if (!upgrade && (method != "GET" || accept.find("text/event-stream") == std::string_view::npos)) return {};
  auto t = parse_target(raw_target);
  if (!t) return {};  // api::handle answers 400
  if (upgrade) {
    if (t->segments.size() != 1 || t->segments[0] != "subscribe")
      return {.kind = route_kind::upgrade_elsewhere};
    // A WebSocket subscription reads $all from its end unless told otherwise;
    // it does not resume by Last-Event-ID (an SSE header).
    std::string stream = t->query.count("stream") ? t->query["stream"] : "$all";
    return {.kind = route_kind::websocket,
            .subscribe = parse_subscribe(*t, std::move(stream), from_end, {}, true)};
  }
  if (method == "GET" && t->segments.size() == 2 && t->segments[0] == "streams" && t->query.count("live") &&
      t->query["live"] == "true" && accept.find("text/event-stream") != std::string_view::npos) {
    return {.kind = route_kind::sse,
            .subscribe = parse_subscribe(*t, t->segments[1], 0, last_event_id, false)};
  }
  return {};
}

namespace {

// What a write expects of its stream: Expected-Version, or HTTP's own
// preconditions (If-Match: "<version>" or *, If-None-Match: *), whose
// mismatch answers 412 instead of 409.
struct write_condition {
  expected_version expected = expect::any;
  bool precondition = false;  // from If-Match / If-None-Match
};

// The version in a strong entity tag "<version>" (what reads send as ETag).
std::optional<std::uint64_t> etag_version(std::string_view tag) {
  if (tag.size() < 3 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
  return to_u64(tag.substr(1, tag.size() - 2));
}

// The request's condition (any when it has none); an error response when a
// header is malformed or both kinds are given.
std::variant<write_condition, api_response> condition_of(const api_request& request) {
  const auto bad = [](std::string_view why) { return error_response(400, "invalid_expected_version", why); };
  const bool http_condition = !request.if_match.empty() || !request.if_none_match.empty();
  if (!http_condition) {
    if (request.expected_version.empty()) return write_condition{};
    if (auto e = parse_expected_version(request.expected_version)) return write_condition{*e, false};
    return bad("Expected-Version must be any, no_stream, stream_exists or a version");
  }
  if (!request.expected_version.empty() || (!request.if_match.empty() && !request.if_none_match.empty()))
    return bad("give one of Expected-Version, If-Match and If-None-Match");
  if (!request.if_none_match.empty()) {
    if (request.if_none_match != "*")
      return bad("If-None-Match takes * on a write (the stream must not exist)");
    return write_condition{expect::no_stream, true};
  }
  if (request.if_match == "*") return write_condition{expect::stream_exists, true};
  if (auto v = etag_version(request.if_match)) return write_condition{expect::exactly(*v), true};
  return bad("If-Match takes * or one entity tag \"<version>\", as reads send in ETag");
}

// 409 wrong_expected_version (412 for If-Match / If-None-Match), with what
// the write expected and where the stream is.
api_response version_conflict(boost::system::error_code ec, const append_result& r, bool precondition) {
  auto body = error_object("wrong_expected_version", error(ec, r.detail).message());
  body["expected"] = json_text(to_string(r.expected));
  body["actual"] = r.actual ? boost::json::value(*r.actual) : boost::json::value(nullptr);
  auto resp = json_response(precondition ? 412 : 409, body);
  if (precondition && r.actual) resp.headers.emplace_back("ETag", "\"" + std::to_string(*r.actual) + "\"");
  return resp;
}

}  // namespace

api::api(store& s, boost::asio::any_io_executor engine_executor, api_options options, server_metrics& metrics)
    : store_(s),
      engine_(std::move(engine_executor)),
      options_(options),
      metrics_(metrics),
      scavenges_(std::make_unique<scavenge_job>(s)) {}

namespace {

// A read stream's events come from the streams its filter takes: a token
// bound to prefixes reads it only when each prefix (or name) the filter
// bounds its streams by is within them.
bool may_read_links(const permissions& who, const evstore::filter& f) {
  if (who.whole_store()) return who.may_read();
  const auto prefixes = f.stream_prefixes();
  return prefixes && std::all_of(prefixes->begin(), prefixes->end(),
                                 [&](const std::string& p) { return !p.empty() && who.may_read_all_of(p); });
}

std::string not_in_acl(std::string_view what, const std::string& stream) {
  return "the access list of '" + stream + "' does not let this token " + std::string(what);
}

}  // namespace

bool api::may_read(const permissions& who, std::string_view stream) const {
  if (who.may_administer()) return who.may_read(stream);
  if (!stream.starts_with('$')) {
    // An in-memory list (a few definitions), not a disk read.
    for (const read_stream_info& r : store_.list_read_streams()) {
      if (r.name == stream) return may_read_links(who, r.filter) && filter_listed_to_read(who, r.filter);
    }
  }
  return who.may_read(stream) && listed_to_read(who, stream);
}

bool api::listed_to_read(const permissions& who, std::string_view stream) const {
  if (who.may_administer()) return true;
  // A stream's events also reach $ce-<category> and every other $ stream
  // ($all, $et-<type>): each is readable when every access list among the
  // streams it may take lets the token read.
  if (stream.starts_with("$ce-")) return all_listed_to_read(who, std::string(stream.substr(4)) + "-");
  if (stream.starts_with('$')) return all_listed_to_read(who, "");
  return who.listed_in(store_.stream_metadata_of(stream).acl.read);
}

bool api::listed_to_write(const permissions& who, std::string_view stream) const {
  return who.may_administer() || who.listed_in(store_.stream_metadata_of(stream).acl.write);
}

bool api::all_listed_to_read(const permissions& who, std::string_view prefix) const {
  if (who.may_administer()) return true;
  // No stream starting with '$' has a list, but a read stream whose filter
  // takes $ streams takes $lifecycle (every list and limit): all lists then.
  if (prefix.starts_with('$')) prefix = {};
  const auto lists = store_.access_lists(prefix);
  return std::all_of(lists.begin(), lists.end(), [&](const auto& l) { return who.listed_in(l.second.read); });
}

bool api::filter_listed_to_read(const permissions& who, const evstore::filter& f) const {
  if (who.may_administer()) return true;
  const auto prefixes = f.stream_prefixes();
  if (!prefixes) return all_listed_to_read(who, "");
  return std::all_of(prefixes->begin(), prefixes->end(),
                     [&](const std::string& p) { return all_listed_to_read(who, p); });
}

void api::handle(api_request request, std::function<void(api_response)> done) {
  auto t = parse_target(request.target);
  if (!t) return done(error_response(400, "bad_request", "malformed request target"));
  const auto& seg = t->segments;
  const std::string& m = request.method;
  // Synchronous routes that read files run on the engine's executor.
  auto on_engine = [this, &done](std::function<api_response()> work) {
    boost::asio::post(engine_, [work = std::move(work), done = std::move(done)] { done(work()); });
  };
  const permissions& who = request.who;
  // The token was checked for the method (a read or a change) as the header
  // came; here for what the route touches.
  auto forbidden = [&done](const std::string& why) { done(error_response(403, "forbidden", why)); };
  if (seg.size() == 2 && seg[0] == "streams") {
    const std::string stream = seg[1];
    if (m == "POST") {
      if (!who.may_append(stream)) return forbidden("this token may not append to '" + stream + "'");
      if (!listed_to_write(who, stream)) return forbidden(not_in_acl("write", stream));
      return append(stream, request, done);
    }
    if ((m == "GET" || m == "HEAD") && !may_read(who, stream))
      return forbidden("this token may not read '" + stream + "'");
    if (m == "GET") return on_engine([this, stream, tt = *t] { return read(stream, tt); });
    if (m == "HEAD") return on_engine([this, stream] { return head(stream); });
    if (m == "DELETE") {
      if (!who.may_change(stream)) return forbidden("this token may not delete '" + stream + "'");
      if (!listed_to_write(who, stream)) return forbidden(not_in_acl("write", stream));
      return delete_stream(stream, *t, request, done);
    }
    return done(error_response(405, "method_not_allowed", "use GET, HEAD, POST or DELETE on a stream"));
  }
  if (seg.size() == 3 && seg[0] == "streams" && seg[2] == "metadata") {
    const std::string stream = seg[1];
    if (m == "PUT") {
      if (!who.may_change(stream))
        return forbidden("this token may not set the metadata of '" + stream + "'");
      if (!listed_to_write(who, stream)) return forbidden(not_in_acl("write", stream));
      return put_metadata(stream, request, done);
    }
    if (m == "GET") {
      if (!may_read(who, stream)) return forbidden("this token may not read '" + stream + "'");
      return done(get_metadata(stream));
    }
    return done(error_response(405, "method_not_allowed", "use GET or PUT on a stream's metadata"));
  }
  if (seg.size() == 1 && seg[0] == "streams") {
    if (m == "GET") return on_engine([this, tt = *t, who] { return list(tt, who); });
    return done(error_response(405, "method_not_allowed", "use GET"));
  }
  if (seg.size() == 2 && seg[0] == "read-streams") {
    // A read stream's filter may take any stream's events.
    if ((m == "PUT" || m == "DELETE") && !who.may_administer())
      return forbidden("creating and dropping read streams needs a write token without stream prefixes");
    if (m == "PUT") return create_read_stream(seg[1], request.body, done);
    if (m == "DELETE") return delete_read_stream(seg[1], done);
    return done(error_response(405, "method_not_allowed", "use PUT or DELETE on a read stream"));
  }
  if (seg.size() == 2 && seg[0] == "admin" && seg[1] == "scavenge") {
    if (!who.may_administer()) return forbidden("scavenging needs a write token without stream prefixes");
    if (m == "POST" || m == "GET") return done(scavenge(m));
    return done(error_response(405, "method_not_allowed", "use POST to start a scavenge, GET to see it"));
  }
  if (seg.size() == 2 && seg[0] == "consumers" && m == "PUT") {
    const auto stream = t->query.find("stream");
    if (stream == t->query.end())
      return done(error_response(400, "invalid_argument", "name the consumer's stream: ?stream="));
    if (!may_read(who, stream->second)) return forbidden("this token may not read '" + stream->second + "'");
    // A reset rewrites what the consumer has done: a change of the stream's, as a write is.
    if (!listed_to_write(who, stream->second)) return forbidden(not_in_acl("write", stream->second));
    return reset_consumer(stream->second, seg[1], request.body, done);
  }
  if (seg.size() == 2 && seg[0] == "consumers" && m == "GET") {
    return on_engine([this, name = seg[1], tt = *t, who] { return consumer(name, tt, who); });
  }
  if (seg.size() == 1 && seg[0] == "consumers" && m == "GET")
    return on_engine([this, who] { return consumers(who); });
  if (seg.size() == 1 && seg[0] == "health" && m == "GET") return done(health());
  if (seg.size() == 1 && seg[0] == "metrics" && m == "GET") return done(metrics());
  if (m == "GET" || m == "HEAD") {
    if (const console_asset* a = find_console_asset(request.target)) return done(console_response(*a));
  }
  done(error_response(404, "not_found", "no route for " + m + " " + request.target));
}

void api::append(const std::string& stream, api_request& request, std::function<void(api_response)>& done) {
  auto condition = condition_of(request);
  if (auto* refused = std::get_if<api_response>(&condition)) return done(std::move(*refused));
  const write_condition c = std::get<write_condition>(condition);
  const expected_version expected = c.expected;
  const bool precondition = c.precondition;
  auto events = parse_events_json(request.body);
  if (!events) return done(from_error(events.error()));
  store_.append(
      stream, std::move(*events), expected,
      [stream, precondition, done = std::move(done)](boost::system::error_code ec, const append_result& r) {
        if (ec == errc::wrong_expected_version) return done(version_conflict(ec, r, precondition));
        if (ec) return done(from_error({ec, r.detail}));  // the engine's detail, e.g. which event is invalid
        // Appended into one string: every append's answer is built here.
        api_response resp;
        resp.status = 201;
        std::string& b = resp.body;
        b.reserve(96 + stream.size());
        b += "{\"stream\":";
        b += json_string(stream);
        b += ",\"version\":";
        b += std::to_string(r.version);
        b += ",\"position\":";
        b += std::to_string(r.position);
        b += ",\"firstVersion\":";
        b += std::to_string(r.first_version);
        b += ",\"firstPosition\":";
        b += std::to_string(r.first_position);
        b += r.created_stream ? ",\"createdStream\":true" : ",\"createdStream\":false";
        b += r.duplicate ? ",\"duplicate\":true}" : ",\"duplicate\":false}";
        done(std::move(resp));
      });
}

namespace {

// The answer to a delete or a metadata change: what append answers, less
// what only an append has.
// The answer to a delete or a metadata change: the stream, its last version
// and the $lifecycle event's position.
boost::json::object lifecycle_body(const std::string& stream, const append_result& r) {
  boost::json::object body;
  body["stream"] = stream;
  body["version"] = r.actual ? boost::json::value(*r.actual) : boost::json::value(nullptr);
  body["position"] = r.position;
  return body;
}

std::function<void(boost::system::error_code, append_result)> lifecycle_answer(
    std::string stream, std::function<void(api_response)> done, bool precondition) {
  return [stream = std::move(stream), done = std::move(done), precondition](boost::system::error_code ec,
                                                                            const append_result& r) {
    if (ec == errc::wrong_expected_version) return done(version_conflict(ec, r, precondition));
    if (ec) return done(from_error({ec, r.detail}));
    done(json_response(200, lifecycle_body(stream, r)));
  };
}

// A metadata member: absent or null is no limit, else a non-negative integer.
std::optional<std::string> read_limit(const boost::json::object& o, std::string_view key,
                                      std::optional<std::uint64_t>& out) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_uint64()) {
    out = v->get_uint64();
  } else if (v->is_int64() && v->get_int64() >= 0) {
    out = static_cast<std::uint64_t>(v->get_int64());
  } else {
    return std::string(key) + " must be a non-negative integer or null";
  }
  return std::nullopt;
}

// "acl": null or {"read": [names] | null, "write": [names] | null}.
std::optional<std::string> read_acl(const boost::json::value& v, stream_acl& out) {
  if (v.is_null()) return std::nullopt;
  constexpr std::string_view shape = "acl must be null or {\"read\": [names], \"write\": [names]}";
  if (!v.is_object()) return std::string(shape);
  for (const auto& member : v.get_object()) {
    const std::string_view key = member.key();
    if (key != "read" && key != "write") return std::string(shape);
    if (member.value().is_null()) continue;
    if (!member.value().is_array()) return std::string(shape);
    std::vector<std::string> names;
    for (const boost::json::value& n : member.value().get_array()) {
      if (!n.is_string()) return std::string(shape);
      names.emplace_back(n.get_string());
    }
    (key == "read" ? out.read : out.write) = std::move(names);
  }
  return std::nullopt;
}

boost::json::value acl_json(const stream_acl& acl) {
  if (acl.empty()) return nullptr;
  const auto names = [](const std::optional<std::vector<std::string>>& list) -> boost::json::value {
    if (!list) return nullptr;
    boost::json::array a;
    for (const std::string& n : *list) a.emplace_back(n);
    return a;
  };
  return boost::json::object{{"read", names(acl.read)}, {"write", names(acl.write)}};
}

}  // namespace

void api::delete_stream(const std::string& stream, const target& t, api_request& request,
                        std::function<void(api_response)>& done) {
  auto condition = condition_of(request);
  if (auto* refused = std::get_if<api_response>(&condition)) return done(std::move(*refused));
  const write_condition c = std::get<write_condition>(condition);
  const expected_version expected = c.expected;
  const bool precondition = c.precondition;
  delete_options options{.expected = expected};
  if (auto it = t.query.find("hard"); it != t.query.end()) {
    if (it->second != "true" && it->second != "false")
      return done(error_response(400, "invalid_argument", "hard must be true or false"));
    options.hard = it->second == "true";
  }
  bool erase = false;
  if (auto it = t.query.find("erase"); it != t.query.end()) {
    if (it->second != "true" && it->second != "false")
      return done(error_response(400, "invalid_argument", "erase must be true or false"));
    erase = it->second == "true";
  }
  if (!erase)
    return store_.delete_stream(stream, options, lifecycle_answer(stream, std::move(done), precondition));
  // The delete, then a scavenge of the stream on a thread of its own; the
  // answer waits for both.
  store_.delete_stream(stream, options,
                       [this, stream, precondition, done = std::move(done)](boost::system::error_code ec,
                                                                            const append_result& r) {
                         if (ec) return lifecycle_answer(stream, done, precondition)(ec, r);
                         scavenges_->erase(stream, [stream, r, done](result<scavenge_report> erased) {
                           if (!erased) return done(from_error(erased.error()));
                           boost::json::object body = lifecycle_body(stream, r);
                           body["eventsErased"] = erased->events_erased;
                           body["bytesErased"] = erased->bytes_erased;
                           body["bytesReleased"] = erased->bytes_released;
                           done(json_response(200, body));
                         });
                       });
}

api_response api::scavenge(const std::string& method) {
  if (method == "GET") return json_response(200, scavenges_->status());
  if (!scavenges_->start())
    return error_response(409, "scavenge_running", "a scavenge is running: GET /admin/scavenge shows it");
  return json_response(202, scavenges_->status());
}

void api::put_metadata(const std::string& stream, api_request& request,
                       std::function<void(api_response)>& done) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(request.body, ec);
  if (ec || !v.is_object())
    return done(error_response(400, "invalid_argument", "the body must be a JSON object"));
  const boost::json::object& o = v.get_object();
  for (const auto& member : o) {
    const std::string_view key = member.key();
    if (key != "maxCount" && key != "maxAge" && key != "truncateBefore" && key != "acl")
      return done(error_response(400, "invalid_argument",
                                 "unknown member '" + std::string(key) +
                                     "': metadata takes maxCount, maxAge (seconds), truncateBefore and acl"));
  }
  stream_metadata m;
  // Without "acl" the stream keeps its access list (a change of limits never
  // opens a stream); with it, even null (no list), the list is replaced:
  // only an administrator's token may.
  const bool sets_acl = o.contains("acl");
  if (sets_acl) {
    if (auto bad = read_acl(o.at("acl"), m.acl)) return done(error_response(400, "invalid_argument", *bad));
    if (!request.who.may_administer())
      return done(error_response(
          403, "forbidden",
          "changing the access list of '" + stream + "' needs a write token without stream prefixes"));
  }
  std::optional<std::uint64_t> age;
  for (const auto& [key, out] :
       {std::pair<std::string_view, std::optional<std::uint64_t>*>{"maxCount", &m.max_count},
        {"maxAge", &age},
        {"truncateBefore", &m.truncate_before}}) {
    if (auto bad = read_limit(o, key, *out)) return done(error_response(400, "invalid_argument", *bad));
  }
  if (age) {
    if (*age > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000))
      return done(error_response(400, "invalid_argument", "maxAge is too large"));
    m.max_age = std::chrono::seconds(static_cast<std::int64_t>(*age));
  }
  auto condition = condition_of(request);
  if (auto* refused = std::get_if<api_response>(&condition)) return done(std::move(*refused));
  const write_condition c = std::get<write_condition>(condition);
  const expected_version expected = c.expected;
  const bool precondition = c.precondition;
  auto answer = lifecycle_answer(stream, std::move(done), precondition);
  if (sets_acl) return store_.set_stream_metadata(stream, m, expected, std::move(answer));
  store_.set_stream_limits(stream, m, expected, std::move(answer));
}

api_response api::get_metadata(const std::string& stream) const {
  const stream_metadata m = store_.stream_metadata_of(stream);
  boost::json::object body;
  body["stream"] = stream;
  const auto put = [&](std::string_view key, const std::optional<std::uint64_t>& v) {
    body[key] = v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  put("maxCount", m.max_count);
  put("maxAge", m.max_age ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(m.max_age->count()))
                          : std::nullopt);
  put("truncateBefore", m.truncate_before);
  body["acl"] = acl_json(m.acl);
  return json_response(200, body);
}

api_response api::read(const std::string& stream, const target& t) const {
  read_options o;
  if (auto it = t.query.find("direction"); it != t.query.end()) {
    if (it->second == "backward") {
      o.direction = direction::backward;
    } else if (it->second != "forward") {
      return error_response(400, "invalid_argument", "direction must be forward or backward");
    }
  }
  o.from = o.direction == direction::backward ? from_end : 0;
  if (auto it = t.query.find("from"); it != t.query.end()) {
    auto v = to_u64(it->second);
    if (!v) return error_response(400, "invalid_argument", "from must be a non-negative integer");
    o.from = *v;
  }
  o.max_count = 100;
  if (auto it = t.query.find("limit"); it != t.query.end()) {
    auto v = to_u64(it->second);
    if (!v || *v == 0) return error_response(400, "invalid_argument", "limit must be a positive integer");
    o.max_count = std::min<std::uint64_t>(*v, options_.max_read_limit);
  }
  if (auto it = t.query.find("to"); it != t.query.end()) {
    o.to = to_u64(it->second);
    if (!o.to) return error_response(400, "invalid_argument", "to must be a non-negative integer");
  }
  o.max_bytes = options_.max_read_bytes;
  // The version first, then the page up to it (or up to the client's `to`
  // below it): the answer is one snapshot whose events, `version` and ETag
  // agree, so an If-Match with the ETag never passes a write over an event
  // the reader did not get.
  std::optional<std::uint64_t> version;
  if (auto v = store_.stream_version(stream); v && *v) version = **v;
  if (version && (!o.to || *o.to > *version)) o.to = version;
  if (version && o.to) version = *o.to;
  auto page = store_.read(stream, o);
  if (!page) return from_error(page.error());
  std::string body = "{\"stream\":" + json_string(stream) +
                     ",\"version\":" + (version ? std::to_string(*version) : std::string("null")) +
                     ",\"events\":[";
  for (std::size_t i = 0; i < page->events.size(); ++i) {
    if (i) body += ',';
    append_event_json(body, page->events[i]);
  }
  body += "],\"next\":";
  body += page->end ? std::string("null") : std::to_string(page->next);
  body += "}";
  api_response r;
  r.body = std::move(body);
  if (version) r.headers.emplace_back("ETag", "\"" + std::to_string(*version) + "\"");
  return r;
}

api_response api::head(const std::string& stream) const {
  auto version = store_.stream_version(stream);
  if (!version) return from_error(version.error());
  if (!*version) return error_response(404, "stream_not_found", stream);
  api_response r;
  r.headers.emplace_back("Stream-Version", std::to_string(**version));
  r.headers.emplace_back("ETag", "\"" + std::to_string(**version) + "\"");
  return r;
}

api_response api::list(const target& t, const permissions& who) const {
  std::size_t offset = 0, limit = 1000;
  if (auto it = t.query.find("offset"); it != t.query.end()) {
    auto v = to_u64(it->second);
    if (!v) return error_response(400, "invalid_argument", "offset must be a non-negative integer");
    offset = *v;
  }
  if (auto it = t.query.find("limit"); it != t.query.end()) {
    auto v = to_u64(it->second);
    if (!v || *v == 0) return error_response(400, "invalid_argument", "limit must be a positive integer");
    limit = std::min<std::size_t>(*v, 1000);
  }
  std::string body = "[";
  bool first = true;
  // A token bound to prefixes sees its streams: a page may hold fewer than
  // `limit`, and offsets count every stream.
  for (const auto& s : store_.list_streams(offset, limit)) {
    if (!who.may_read(s.name) || !listed_to_read(who, s.name)) continue;
    if (!first) body += ',';
    first = false;
    body += "{\"stream\":" + json_string(s.name) + ",\"version\":" + std::to_string(s.event_count - 1) +
            ",\"kind\":\"write\"}";
  }
  if (offset == 0) {
    for (const auto& r : store_.list_read_streams()) {
      if (!may_read_links(who, r.filter) || !filter_listed_to_read(who, r.filter)) continue;
      if (!first) body += ',';
      first = false;
      body += "{\"stream\":" + json_string(r.name) +
              ",\"version\":" + (r.event_count ? std::to_string(r.event_count - 1) : std::string("null")) +
              ",\"kind\":\"read\",\"filter\":" + r.filter.to_json() + "}";
    }
  }
  body += "]";
  api_response resp;
  resp.body = std::move(body);
  return resp;
}

api_response api::health() const {
  api_response r;
  const auto count = store_.event_count();
  // Appends and reads still work when the indexer fails, so the server stays
  // up (200), but says which read or system streams stopped and why.
  const evstore::error indexer = store_.indexer_status();
  r.body = std::string("{\"status\":") + (indexer.code ? "\"degraded\"" : "\"ok\"") +
           ",\"readOnly\":" + (store_.is_read_only() ? "true" : "false") +
           ",\"position\":" + (count ? std::to_string(count - 1) : std::string("null"));
  if (indexer.code) {
    r.body += ",\"indexer\":{\"error\":" + json_string(code_of(indexer.code)) +
              ",\"message\":" + json_string(indexer.message()) + "}";
  }
  r.body += "}";
  return r;
}

void api::create_read_stream(const std::string& name, const std::string& body,
                             std::function<void(api_response)>& done) {
  // The filter's text as written: numbers keep their spelling and digits.
  auto f = filter::from_json_member(body, "filter");
  if (!f) return done(from_error(f.error()));
  store_.create_read_stream(name, std::move(*f),
                            [name, done = std::move(done)](boost::system::error_code e, std::string detail) {
                              if (e) return done(from_error({e, std::move(detail)}));
                              api_response r;
                              r.status = 201;
                              r.body = "{\"stream\":" + json_string(name) + "}";
                              done(std::move(r));
                            });
}

void api::delete_read_stream(const std::string& name, std::function<void(api_response)>& done) {
  store_.delete_read_stream(name, [done = std::move(done)](boost::system::error_code e, std::string detail) {
    if (e) return done(from_error({e, std::move(detail)}));
    api_response r;
    r.status = 204;
    done(std::move(r));
  });
}

namespace {
std::string consumer_json(const consumer_info& c) {
  return "{\"stream\":" + json_string(c.stream) + ",\"consumer\":" + json_string(c.name) +
         ",\"position\":" + std::to_string(c.position) +
         ",\"state\":" + (c.state.empty() ? std::string("null") : c.state) + "}";
}
}  // namespace

// A consumer is named within its stream: ?stream= picks one; without it the
// name must belong to exactly one stream.
api_response api::consumer(const std::string& name, const target& t, const permissions& who) const {
  if (auto it = t.query.find("stream"); it != t.query.end()) {
    if (!may_read(who, it->second))
      return error_response(403, "forbidden", "this token may not read '" + it->second + "'");
    auto info = store_.consumer_state(it->second, name);
    if (!info) return from_error(info.error());
    api_response r;
    r.body = consumer_json(*info);
    return r;
  }
  auto all = store_.list_consumers();
  if (!all) return from_error(all.error());
  std::vector<const consumer_info*> named;
  // Consumers of streams the token may not read are not there for it.
  for (const consumer_info& c : *all) {
    if (c.name == name && may_read(who, c.stream)) named.push_back(&c);
  }
  if (named.empty()) return error_response(404, "consumer_not_found", "no consumer named " + name);
  if (named.size() > 1) {
    auto body =
        error_object("ambiguous_consumer", "consumers named " + name + " exist on " +
                                               std::to_string(named.size()) + " streams: add ?stream=");
    boost::json::array streams;
    for (const consumer_info* c : named) streams.emplace_back(json_text(c->stream));
    body["streams"] = std::move(streams);
    return json_response(409, body);
  }
  api_response r;
  r.body = consumer_json(*named.front());
  return r;
}

// PUT /consumers/{name}?stream=: {"position": n, "state": {...}}. Opening
// the consumer takes its lock (consumer_busy while a WebSocket holds it) and
// reads its file: on the engine's executor, never the network thread.
void api::reset_consumer(const std::string& stream, const std::string& name, const std::string& body,
                         std::function<void(api_response)>& done) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return done(error_response(400, "invalid_argument", "the body must be a JSON object"));
  for (const auto& member : *o) {
    if (member.key() != "position" && member.key() != "state")
      return done(error_response(400, "invalid_argument",
                                 "unknown member '" + std::string(member.key()) +
                                     "': a consumer takes position (the next event number) and state"));
  }
  std::optional<std::uint64_t> position;
  if (auto bad = read_limit(*o, "position", position))
    return done(error_response(400, "invalid_argument", *bad));
  if (!position) return done(error_response(400, "invalid_argument", "position is required"));
  const boost::json::value* st = o->if_contains("state");
  std::string state = st == nullptr || st->is_null() ? std::string() : boost::json::serialize(*st);
  boost::asio::post(engine_, [this, stream, name, p = *position, state = std::move(state),
                              done = std::move(done)]() mutable {
    auto c = store_.consumer(stream, name);
    if (!c) return done(from_error(c.error()));
    // The consumer keeps itself (and its lock) until the reset is on disk.
    c->reset(p, state, [stream, name, p, state, done](boost::system::error_code e, std::string detail) {
      if (e) return done(from_error({e, std::move(detail)}));
      api_response r;
      r.body = consumer_json({p, state, stream, name});
      done(std::move(r));
    });
  });
}

api_response api::consumers(const permissions& who) const {
  auto all = store_.list_consumers();
  if (!all) return from_error(all.error());
  api_response r;
  r.body = "[";
  bool first = true;
  for (const consumer_info& c : *all) {
    if (!may_read(who, c.stream)) continue;
    r.body += (first ? "" : ",") + consumer_json(c);
    first = false;
  }
  r.body += "]";
  return r;
}

}  // namespace evstore::http
