// The routes of evstored (docs/http.md), without any Beast type: the one
// place that decides where a request goes (route_request: a plain response,
// an SSE stream or a WebSocket subscription), with the one parser of
// subscribe parameters; and the plain routes themselves (api::handle):
// sessions translate their request into an api_request and write back the
// api_response. The live sessions are in sse_session.hpp and
// websocket_session.hpp.
//
// Threading: handle() may be called from any thread and never blocks on a
// disk: reads run on the engine's executor, appends complete on the store's
// strand; `done` is called on one of those, exactly once.
#pragma once

#include "auth.hpp"
#include "responses.hpp"
#include "scavenge_job.hpp"
#include <evstore/store.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace evstore::http {

struct api_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent (percent-encoded)
  std::string body;
  std::string expected_version;  // the Expected-Version header, if any
  permissions who;               // what the request's token allows (default: everything)
  std::string if_match;          // the If-Match header, if any
  std::string if_none_match;     // the If-None-Match header, if any
};

// A parsed request target: decoded path segments and query parameters.
struct target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};
// A non-negative decimal integer, digits only ("-1", "+1", " 1", "" are not).
std::optional<std::uint64_t> to_u64(std::string_view s);

// nullopt for a malformed target (bad percent-encoding, not starting with '/').
std::optional<target> parse_target(std::string_view raw);

// Where a live subscription starts: from `from`, or a consumer's position.
struct subscribe_params {
  std::string stream;
  std::optional<std::string> consumer;  // WebSocket only
  std::uint64_t from = 0;
  std::string invalid;  // why the parameters are refused (empty: they are not)
};

enum class route_kind {
  plain,              // api::handle answers
  sse,                // GET /streams/{name}?live=true accepting text/event-stream
  websocket,          // an upgrade to /subscribe
  upgrade_elsewhere,  // an upgrade to any other path (404)
};

struct route {
  route_kind kind = route_kind::plain;
  subscribe_params subscribe;  // sse, websocket
};

// Decides which handler a request goes to. `accept` and `last_event_id` are
// the Accept and Last-Event-ID headers (SSE resumes after the latter).
route route_request(std::string_view method, std::string_view raw_target, bool upgrade,
                    std::string_view accept, std::string_view last_event_id);

struct api_options {
  std::size_t max_read_limit = 1000;  // cap on `limit` of a read
  // A read page's stored event bytes at most (read_options::max_bytes): with
  // 1 MB events, `limit=1000` answers 4 events and a `next`, not 1 GB.
  std::uint64_t max_read_bytes = std::uint64_t{4} << 20;
};

// Counters for /metrics that the sessions update.
struct server_metrics {
  std::array<std::atomic<std::uint64_t>, 600> responses_by_status{};
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> subscribers{0};
  std::atomic<std::uint64_t> rejected_connections{0};
  std::atomic<std::uint64_t> accept_errors{0};  // failed accepts (EMFILE, ...), each retried after a backoff
  std::function<std::uint64_t()> log_lines_dropped;     // request log lines stderr did not take
  std::atomic<std::uint64_t> send_queue_bytes{0};       // queued for live clients, all sessions
  std::atomic<std::uint64_t> send_queue_peak_bytes{0};  // the most one session has held
  std::atomic<std::uint64_t> consumer_commits_in_flight{0};
  std::atomic<std::uint64_t> consumer_commits_in_flight_peak{0};  // the most at once, all sessions
};

class api {
 public:
  api(store& s, boost::asio::any_io_executor engine_executor, api_options options, server_metrics& metrics);

  void handle(api_request request, std::function<void(api_response)> done);

  // May `who` read `stream`'s events: permissions::may_read, except that a
  // read stream is judged by its filter (a token bound to prefixes reads one
  // only when its filter's stream prefix is within them), not by its name;
  // then the access lists (stream_acl): the stream's own, or for $ streams
  // and read streams every list among the streams they may take.
  bool may_read(const permissions& who, std::string_view stream) const;
  store& engine() { return store_; }
  const boost::asio::any_io_executor& engine_executor() const { return engine_; }

 private:
  void append(const std::string& stream, api_request& request, std::function<void(api_response)>& done);
  api_response read(const std::string& stream, const target& t) const;
  api_response head(const std::string& stream) const;
  // DELETE /streams/{stream}[?hard=true][&erase=true] and /streams/{stream}/metadata.
  void delete_stream(const std::string& stream, const target& t, api_request& request,
                     std::function<void(api_response)>& done);
  void put_metadata(const std::string& stream, api_request& request, std::function<void(api_response)>& done);
  api_response get_metadata(const std::string& stream) const;
  api_response list(const target& t, const permissions& who) const;
  api_response health() const;
  api_response metrics() const;
  void create_read_stream(const std::string& name, const std::string& body,
                          std::function<void(api_response)>& done);
  void delete_read_stream(const std::string& name, std::function<void(api_response)>& done);
  api_response consumer(const std::string& name, const target& t, const permissions& who) const;
  api_response consumers(const permissions& who) const;
  void reset_consumer(const std::string& stream, const std::string& name, const std::string& body,
                      std::function<void(api_response)>& done);
  // POST and GET /admin/scavenge.
  api_response scavenge(const std::string& method);

  // The stream's access list lets `who` read / write it (the token's scope
  // and prefixes are checked apart); for a $ stream, every list among the
  // streams whose events it may hold.
  bool listed_to_read(const permissions& who, std::string_view stream) const;
  bool listed_to_write(const permissions& who, std::string_view stream) const;
  // Every access list among the streams whose names start with `prefix`
  // lets `who` read.
  bool all_listed_to_read(const permissions& who, std::string_view prefix) const;
  // Every access list among the streams a read stream's filter may take
  // (filter::stream_prefixes) lets `who` read.
  bool filter_listed_to_read(const permissions& who, const evstore::filter& f) const;

  store& store_;
  boost::asio::any_io_executor engine_;
  api_options options_;
  server_metrics& metrics_;
  // Last: its destructor waits for running scavenges, which use store_.
  std::unique_ptr<scavenge_job> scavenges_;
};

}  // namespace evstore::http
