// evstored's live sessions under hostile and careless clients (issue 11):
// authorization per WebSocket operation, acks that flood or go backwards,
// subscribers that never read, SSE clients that close at once, WebSocket
// peers that go silent, frames sent with the upgrade request. Raw clients:
// tests/server/live_client.py; the harness: support/server_fixture.hpp.
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

const std::string live_client = std::string(EVSTORE_TEST_SOURCE_DIR) + "/server/live_client.py";
const std::string read_token = "read-token-0123456789";
const std::string write_token = "write-token-0123456789";

// A value of /metrics (nullopt if the line is missing).
std::optional<std::uint64_t> metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stoull(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

class live_test : public server_test {
 protected:
  std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }

  std::string metrics_text(const std::vector<std::string>& headers = {}) {
    return get("/metrics", headers).body;
  }

  // Polls /metrics until pred(value of `name`) holds; false at the deadline.
  bool wait_metric(const std::string& name, const std::function<bool(std::uint64_t)>& pred,
                   std::chrono::milliseconds deadline = 10s, const std::vector<std::string>& headers = {}) {
    const auto end = clock_type::now() + deadline;
    for (;;) {
      if (auto v = metric(metrics_text(headers), name); v && pred(*v)) return true;
      if (clock_type::now() >= end) return false;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::unique_ptr<child_process> raw(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {python, live_client};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<child_process>(argv, scratch() + "/live-client.err");
  }

  // The ws_client's last line once it opened and ran `steps`, or was refused or closed.
  std::string ws_outcome(evstored& s, const std::string& path, std::vector<std::string> steps,
                         std::vector<std::string> headers, ws_messages& got) {
    auto c = ws(s, path, std::move(steps), std::move(headers), 5);
    read_ws_until(*c, got, [](const std::string& l) {
      return l == "DONE" || l.rfind("REJECTED", 0) == 0 || l.rfind("CLOSE", 0) == 0 ||
             l.rfind("TIMEOUT", 0) == 0;
    });
    return got.lines.empty() ? "<nothing>" : got.lines.back();
  }

  // Every file under the data directory whose path contains `part`.
  std::vector<std::string> data_files_containing(const std::string& part) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
      if (e.path().string().find(part) != std::string::npos) out.push_back(e.path().string());
    }
    return out;
  }
};

// ============================================================================
// Finding 5: authorization follows the operation
// ============================================================================

TEST_F(live_test, a_read_token_may_subscribe_but_not_open_lock_or_ack_a_consumer) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens, "read " + read_token + "\nwrite " + write_token + "\n");
  auto& s = start({"--token-file", tokens});
  const std::vector<std::string> as_read = {bearer(read_token)}, as_write = {bearer(write_token)};
  append_ok("au-1", batch_json(3), as_write);

  struct upgrade_case {
    std::string path;
    std::vector<std::string> headers;
    std::string outcome;  // the ws_client's last line
  };
  const std::string plain = "/subscribe?stream=au-1&from=0",
                    consumer = "/subscribe?stream=au-1&consumer=evil";
  for (const upgrade_case& c : std::vector<upgrade_case>{
           {plain, {}, "REJECTED 401"},
           {consumer, {}, "REJECTED 401"},
           {plain, as_read, "DONE"},
           {consumer, as_read, "REJECTED 403"},
           {plain, as_write, "DONE"},
       }) {
    ws_messages got;
    EXPECT_EQ(ws_outcome(s, c.path, {"until=caughtUp"}, c.headers, got), c.outcome)
        << c.path << " with " << (c.headers.empty() ? "no token" : c.headers[0]) << "\n"
        << got.transcript();
  }
  EXPECT_TRUE(data_files_containing("evil").empty()) << "a refused consumer left files";

  // Every client message on a read-token subscription is answered with an
  // error and commits nothing: acks (with and without state), non-acks, junk.
  for (const std::string msg :
       {R"({"ack":0})", R"({"ack":2,"state":{"x":1}})", R"({"hello":1})", "{junk", "[]"}) {
    ws_messages got;
    EXPECT_EQ(ws_outcome(s, plain, {"until=caughtUp", "send=" + msg, "until=error"}, as_read, got), "DONE")
        << msg;
    ASSERT_FALSE(got.messages.empty()) << msg;
    EXPECT_EQ(got.messages.back().at("error"), "invalid_message") << msg << "\n" << got.transcript();
  }
  EXPECT_EQ(get("/consumers", as_read).body, "[]") << "a read token committed a consumer";

  // The write token's consumer holds its lock; a read token cannot take it
  // (403, not consumer_busy) nor disturb it: the real one acks as usual.
  auto owner = ws(s, consumer, {"until=caughtUp", "mark=ready", "send={\"ack\":1}", "until=acked"}, as_write);
  ws_messages mine;
  ASSERT_TRUE(read_ws_until(*owner, mine, [](const std::string& l) { return l == "MARK ready"; }))
      << mine.transcript();
  {
    ws_messages got;
    EXPECT_EQ(ws_outcome(s, consumer, {"until=caughtUp"}, as_read, got), "REJECTED 403") << got.transcript();
  }
  ASSERT_TRUE(read_ws_until(*owner, mine, [](const std::string& l) { return l == "DONE"; }))
      << mine.transcript();
  EXPECT_EQ(json::serialize(mine.messages.back()), R"({"acked":1})") << mine.transcript();
  auto state = get("/consumers/evil?stream=au-1", as_read);
  ASSERT_EQ(state.status, 200) << state;
  EXPECT_EQ(u64(state.json().at("position")), 2u) << state;

  // SSE is a read: no token 401, a read token 200.
  EXPECT_EQ(get("/streams/au-1?live=true", {"Accept: text/event-stream"}).status, 401);
  auto sse = http({.path = "/streams/au-1?live=true",
                   .headers = {"Accept: text/event-stream", bearer(read_token)},
                   .curl_args = {"--max-time", "1"}});
  EXPECT_EQ(sse.status, 200) << sse;
}

// ============================================================================
// Finding 10: consumers move only forward
// ============================================================================

TEST_F(live_test, acks_are_refused_when_they_would_move_a_consumer_back_or_overflow) {
  auto& s = start();
  append_ok("fw-1", batch_json(10));
  auto c = ws(s, "/subscribe?stream=fw-1&consumer=fw",
              {"until=caughtUp", "send={\"ack\":18446744073709551615}", "send={\"ack\":18446744073709551614}",
               "send={\"ack\":4}", "send={\"ack\":1}", "send={\"ack\":4,\"state\":{\"again\":true}}",
               "mark=sent", "until=error", "until=acked", "until=error", "until=acked"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) {
    return l == "DONE" || l.rfind("CLOSE", 0) == 0;
  })) << got.transcript();
  ASSERT_EQ(got.lines.back(), "DONE") << got.transcript();
  std::vector<std::string> replies;
  for (const auto& m : got.messages) {
    const auto* o = m.if_object();
    if (o && !o->contains("event") && !o->contains("caughtUp")) replies.push_back(json::serialize(m));
  }
  ASSERT_EQ(replies.size(), 5u) << got.transcript();
  EXPECT_NE(replies[0].find(R"("error":"invalid_argument")"), std::string::npos) << replies[0];
  EXPECT_NE(replies[0].find(R"("ack":18446744073709551615)"), std::string::npos) << replies[0];
  EXPECT_NE(replies[1].find(R"("error":"invalid_argument")"), std::string::npos) << replies[1];
  EXPECT_EQ(replies[2], R"({"acked":4})");
  EXPECT_NE(replies[3].find(R"("error":"invalid_argument")"), std::string::npos) << replies[3];
  EXPECT_NE(replies[3].find("behind"), std::string::npos) << replies[3];
  EXPECT_EQ(replies[4], R"({"acked":4})") << "the same position again (a new state) is allowed";
  auto state = get("/consumers/fw?stream=fw-1");
  ASSERT_EQ(state.status, 200) << state;
  EXPECT_EQ(u64(state.json().at("position")), 5u) << state;
  EXPECT_EQ(json::serialize(state.json().at("state")), R"({"again":true})") << state;
}

// ============================================================================
// Finding 2: acks and replies to invalid messages do not queue without limit
// ============================================================================

TEST_F(live_test,
       an_invalid_message_flood_from_a_client_that_does_not_read_is_stopped_at_the_send_queue_limit) {
  constexpr std::uint64_t limit = 65536;
  auto& s = start({"--send-queue-limit", std::to_string(limit)});
  auto flood = raw({"flood", std::to_string(s.port()), "/subscribe?stream=fl-1", "200000"});
  auto line = flood->read_line(60s);
  ASSERT_TRUE(line) << "the flooding client never finished";
  EXPECT_EQ(line->rfind("BLOCKED", 0), 0u)
      << *line << ": the server read every message and queued every reply";
  const auto text = metrics_text();
  const auto peak = metric(text, "evstore_send_queue_peak_bytes");
  ASSERT_TRUE(peak) << text;
  EXPECT_GT(*peak, 0u);
  EXPECT_LE(*peak, limit + 512) << "one reply over the limit at most";
  // The server still serves others, and the session ends with its client.
  EXPECT_EQ(get("/health").status, 200);
  flood.reset();
  EXPECT_TRUE(wait_metric(
      "evstore_subscribers", [](std::uint64_t v) { return v == 0; }, 10s))
      << metrics_text();
}

TEST_F(live_test, an_ack_flood_commits_one_ack_at_a_time_and_ends_with_its_client) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens, "read " + read_token + "\nwrite " + write_token + "\n");
  auto& s = start({"--token-file", tokens});
  const std::vector<std::string> as_write = {bearer(write_token)};
  append_ok("af-1", event_json("A"), as_write);
  auto flood = raw(
      {"ackflood", std::to_string(s.port()), "/subscribe?stream=af-1&consumer=flood", "20000", write_token});
  auto sent = flood->read_line(60s);
  ASSERT_TRUE(sent);
  ASSERT_EQ(sent->rfind("SENT", 0), 0u) << *sent;
  ASSERT_EQ(flood->read_line(10s).value_or(""), "RESET");
  const auto reset_at = clock_type::now();
  // The client is gone: the commits it asked for must not outlive it, so the
  // consumer's lock is free again at once (not after thousands of fsyncs).
  std::string last;
  for (;;) {
    ws_messages got;
    last = ws_outcome(s, "/subscribe?stream=af-1&consumer=flood", {"until=caughtUp"}, as_write, got);
    if (last == "DONE" || clock_type::now() - reset_at > 3s) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(last, "DONE") << "the consumer stayed busy after its flooding client left (" << *sent << ")";
  const auto text = metrics_text({bearer(read_token)});
  EXPECT_EQ(metric(text, "evstore_consumer_commits_in_flight_peak").value_or(99), 1u)
      << "one session committed acks concurrently\n"
      << text;
}

// ============================================================================
// Finding 3 (subscribers): memory bounded by bytes
// ============================================================================

TEST_F(live_test, subscribers_from_zero_that_never_read_stay_under_the_send_queue_limit_and_time_out) {
  constexpr std::uint64_t limit = 1 << 20;
  auto& s = start({"--send-queue-limit", std::to_string(limit), "--write-timeout-ms", "2000"});
  // 48 events of 192 KiB: 9 MiB, where one batch by count alone was 256 events.
  const std::string blob(192 << 10, 'x');
  for (int b = 0; b < 12; ++b) {
    std::string body = "[";
    for (int i = 0; i < 4; ++i) body += (i ? "," : "") + event_json("Big", "{\"blob\":\"" + blob + "\"}");
    append_ok("big", body + "]");
  }
  auto ws_client = raw({"noread", std::to_string(s.port()), "/subscribe?stream=big&from=0"});
  auto sse_client = raw({"ssenoread", std::to_string(s.port()), "/streams/big?live=true"});
  ASSERT_EQ(ws_client->read_line(10s).value_or(""), "PAUSED");
  ASSERT_EQ(sse_client->read_line(10s).value_or(""), "PAUSED");
  ASSERT_TRUE(wait_metric("evstore_subscribers", [](std::uint64_t v) { return v == 2; })) << metrics_text();
  // Both stop being fed (their writes stall), then the write timeout ends them.
  EXPECT_TRUE(wait_metric(
      "evstore_subscribers", [](std::uint64_t v) { return v == 0; }, 15s))
      << "a subscriber that does not read was never disconnected\n"
      << metrics_text();
  const auto text = metrics_text();
  const auto peak = metric(text, "evstore_send_queue_peak_bytes");
  ASSERT_TRUE(peak) << text;
  EXPECT_GT(*peak, 0u);
  EXPECT_LE(*peak, limit) << text;
  EXPECT_EQ(metric(text, "evstore_send_queue_bytes").value_or(99), 0u) << text;
}

// ============================================================================
// Finding 4: SSE sessions end when their client does
// ============================================================================

TEST_F(live_test, sse_clients_that_close_at_once_free_their_slots_at_once) {
  auto& s = start({"--max-connections", "40"});
  append_ok("st-1", event_json("A"));
  auto storm = raw({"ssestorm", std::to_string(s.port()), "/streams/st-1?live=true", "120"});
  EXPECT_EQ(storm->read_line(30s).value_or("<none>"), "DONE 120") << "the storm hit the connection limit";
  EXPECT_TRUE(wait_metric(
      "evstore_subscribers", [](std::uint64_t v) { return v == 0; }, 3s))
      << metrics_text();
  EXPECT_EQ(get("/health").status, 200);
}

// ============================================================================
// Finding 6: WebSocket keep-alive pings
// ============================================================================

TEST_F(live_test, websocket_subscribers_are_pinged_past_the_idle_time_and_a_silent_peer_is_closed) {
  auto& s = start({"--ws-idle-timeout-ms", "1000"});
  append_ok("ka-1", event_json("A"));
  // The library client answers pings: still open after three idle times.
  auto c = ws(s, "/subscribe?stream=ka-1&from=0", {"until=caughtUp", "quiet=3", "mark=alive", "events=2"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) {
    return l == "MARK alive" || l.rfind("CLOSE", 0) == 0;
  })) << got.transcript();
  ASSERT_EQ(got.lines.back(), "MARK alive") << got.transcript();
  append_ok("ka-1", event_json("B"));
  EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  // A peer that never answers a ping is closed after about the idle time.
  auto silent = raw({"silent", std::to_string(s.port()), "/subscribe?stream=ka-1"});
  ASSERT_EQ(silent->read_line(10s).value_or(""), "OPEN");
  auto closed = silent->read_line(25s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->rfind("CLOSED", 0), 0u) << *closed;
  EXPECT_LT(std::stoi(closed->substr(closed->find(' ') + 1)), 5000) << *closed;
}

// ============================================================================
// Finding 15: frames with the upgrade, deleted read streams, busy consumers
// ============================================================================

TEST_F(live_test, a_message_sent_in_the_same_write_as_the_upgrade_request_is_read) {
  auto& s = start();
  auto c = raw({"upgradeframe", std::to_string(s.port()), "/subscribe?stream=uf-1", "{\"hello\":1}"});
  // From the end: {"caughtUp"} comes first, then the reply to the message.
  std::string lines;
  std::optional<std::string> line;
  while ((line = c->read_line(10s)) && line->rfind("MSG ", 0) == 0 &&
         line->find("error") == std::string::npos) {
    lines += *line + "\n";
  }
  ASSERT_TRUE(line) << lines;
  EXPECT_EQ(line->rfind("MSG ", 0), 0u) << lines << *line << ": the message sent with the upgrade was lost";
  EXPECT_NE(line->find("invalid_message"), std::string::npos) << *line;
}

TEST_F(live_test, a_busy_consumer_closes_with_4409_and_a_deleted_read_stream_with_its_reason) {
  auto& s = start();
  append_ok("bz-1", event_json("Paid"));
  auto owner = ws(s, "/subscribe?stream=bz-1&consumer=one", {"until=caughtUp", "mark=ready", "wait_close"});
  ws_messages mine;
  ASSERT_TRUE(read_ws_until(*owner, mine, [](const std::string& l) { return l == "MARK ready"; }))
      << mine.transcript();
  {
    ws_messages got;
    const auto last = ws_outcome(s, "/subscribe?stream=bz-1&consumer=one", {"until=caughtUp"}, {}, got);
    EXPECT_EQ(last.substr(0, 10), "CLOSE 4409") << got.transcript();
    EXPECT_NE(last.find("open elsewhere"), std::string::npos) << last;
  }
  auto put =
      http({.method = "PUT", .path = "/read-streams/paid", .body = R"({"filter":{"types":["Paid"]}})"});
  ASSERT_EQ(put.status, 201) << put;
  wait_for_events("/streams/paid", 1);
  auto sub = ws(s, "/subscribe?stream=paid&from=0", {"until=caughtUp", "mark=ready", "wait_close"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*sub, got, [](const std::string& l) { return l == "MARK ready"; }))
      << got.transcript();
  auto del = http({.method = "DELETE", .path = "/read-streams/paid"});
  ASSERT_EQ(del.status, 204) << del;
  ASSERT_TRUE(read_ws_until(*sub, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0; }))
      << got.transcript();
  EXPECT_EQ(got.lines.back().substr(0, 10), "CLOSE 4404") << got.transcript();
  EXPECT_NE(got.lines.back().find("read stream 'paid' was deleted"), std::string::npos) << got.transcript();
}

// A WebSocket session that ends in an error (a message over the limit: the
// server closes with 1009) leaves one line in the log naming its client,
// though the socket is already closed when the error is seen.
TEST_F(live_test, a_websocket_session_ended_by_an_error_is_logged_with_its_peer) {
  auto& s = start({"--ws-max-message", "16"});
  ws_messages got;
  const std::string outcome =
      ws_outcome(s, "/subscribe", {"until=caughtUp", "send=" + std::string(64, 'x'), "until=error"}, {}, got);
  EXPECT_EQ(outcome.rfind("CLOSE", 0), 0u) << got.transcript();
  EXPECT_EQ(s.stop(), 0);  // the log is flushed at the stop
  const std::string log = s.log();
  EXPECT_NE(log.find("error=read peer=127.0.0.1:"), std::string::npos) << tail(log);
}

}  // namespace
