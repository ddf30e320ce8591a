// Black-box tests of evstored: the real binary on a loopback port, driven only
// by clients this project did not write — curl for HTTP and Server-Sent
// Events, Python's `websockets` (tests/server/ws_client.py, run with
// /usr/bin/python3) for WebSocket, and Python sockets for raw TCP
// (tests/server/tcp_client.py). The contract is /work/shared/API.md (HTTP)
// and TESTING.md §6–7.
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <poll.h>
#include <set>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using evstore::test::temp_dir;

const std::string python = "/usr/bin/python3";
const std::string ws_client = std::string(EVSTORE_TEST_SOURCE_DIR) + "/server/ws_client.py";
const std::string tcp_client = std::string(EVSTORE_TEST_SOURCE_DIR) + "/server/tcp_client.py";

// --- A child process with its stdout on a pipe (no shell involved).
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::string& stderr_path = "/dev/null",
                const std::string& cwd = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_ = fds[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("posix_spawnp " + argv[0] + ": " + std::strerror(rc));
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      wait_exit(5s);
    }
    if (out_ >= 0) close(out_);
  }

  pid_t pid() const { return pid_; }

  // The next stdout line (without '\n'), or nullopt at EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      if (eof_ || !fill(deadline)) return std::nullopt;
    }
  }

  // Everything up to EOF (or the timeout).
  std::string read_all(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!eof_ && fill(deadline)) {
    }
    std::string all = std::move(buf_);
    buf_.clear();
    return all;
  }

  void signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Exit status (128+signal when killed by one), or -1 if still running at the deadline.
  int wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return status_;
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
        return status_;
      }
      if (r < 0 && errno != EINTR) return -1;
      if (clock_type::now() >= deadline) return -1;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  bool fill(clock_type::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r <= 0) return r < 0 && errno == EINTR;
    char tmp[8192];
    const ssize_t n = read(out_, tmp, sizeof tmp);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return true;
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
  bool eof_ = false;
  std::string buf_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(nullptr);
  return v;
}

// Lower-cased header lines of the last response in a `curl -D` dump.
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct http_response {
  int status = 0;       // 0: no HTTP answer (connection refused or reset)
  std::string headers;  // raw header block of the final response
  std::string body;
  std::string curl_error;

  json::value json() const { return parse_json(body); }
  std::string error_code() const {
    const auto j = json();
    if (const auto* o = j.if_object()) {
      if (const auto* e = o->if_contains("error"); e && e->is_string()) return std::string(e->as_string());
    }
    return "<no error code in: " + body.substr(0, 200) + ">";
  }
  std::optional<std::string> header(const std::string& name) const {
    std::istringstream in(headers);
    std::string line;
    const std::string want = lower(name) + ":";
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (lower(line).rfind(want, 0) == 0) {
        std::string v = line.substr(want.size());
        v.erase(0, v.find_first_not_of(' '));
        return v;
      }
    }
    return std::nullopt;
  }
};

std::ostream& operator<<(std::ostream& os, const http_response& r) {
  return os << "HTTP " << r.status << " " << r.body.substr(0, 400) << (r.curl_error.empty() ? "" : " curl: ")
            << r.curl_error;
}

struct request {
  std::string method = "GET";
  std::string path = "/";
  std::optional<std::string> body;
  std::vector<std::string> headers;
  std::vector<std::string> curl_args;  // extra arguments for curl
};

// --- One evstored process.
class evstored {
 public:
  evstored(const std::string& cwd, const std::string& data, const std::string& log,
           const std::vector<std::string>& extra)
      : log_(log) {
    std::vector<std::string> argv = {EVSTORE_SERVER, "--data", data, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<child_process>(argv, log, cwd);
    if (auto line = proc_->read_line(15s)) {
      banner_ = *line;
      for (const char* scheme : {"http", "https"}) {
        const std::string marker = std::string("on ") + scheme + "://127.0.0.1:";
        if (const auto at = banner_.find(marker); at != std::string::npos) {
          port_ = std::atoi(banner_.c_str() + at + marker.size());
          scheme_ = scheme;
        }
      }
    }
  }
  evstored(const evstored&) = delete;
  evstored& operator=(const evstored&) = delete;
  ~evstored() { stop(); }

  int port() const { return port_; }
  const std::string& banner() const { return banner_; }
  std::string log() const { return read_file(log_); }
  std::string base() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }
  std::string ws_base() const { return (scheme_ == "https" ? "wss" : "ws") + std::string("://127.0.0.1:") + std::to_string(port_); }
  bool running() { return proc_->wait_exit(0ms) == -1; }

  // SIGTERM and the exit status (-1 if it did not exit within 10 s; it is then killed).
  int stop() {
    if (stopped_) return status_;
    stopped_ = true;
    proc_->signal(SIGTERM);
    status_ = proc_->wait_exit(10s);
    if (status_ == -1) {
      proc_->signal(SIGKILL);
      proc_->wait_exit(5s);
    }
    return status_;
  }

 private:
  std::string log_;
  std::unique_ptr<child_process> proc_;
  std::string banner_;
  std::string scheme_ = "http";
  int port_ = 0;
  bool stopped_ = false;
  int status_ = -1;
};

// --- The fixture: a sandbox directory (the server's cwd) holding only the
// data directory, and a scratch directory for logs and request bodies.
class server_test : public ::testing::Test {
 protected:
  server_test() {
    fs::create_directories(sandbox());
    fs::create_directories(scratch());
  }

  void TearDown() override {
    for (auto& s : servers_) {
      if (s.expect_clean_stop) {
        EXPECT_EQ(s.server->stop(), 0) << "evstored did not stop cleanly on SIGTERM; log:\n" << tail(s.server->log());
      } else {
        s.server->stop();
      }
    }
  }

  std::string sandbox() const { return tmp_.sub("sandbox"); }
  std::string scratch() const { return tmp_.sub("scratch"); }
  std::string data_dir(const std::string& name = "data") const { return sandbox() + "/" + name; }

  evstored& start(const std::vector<std::string>& extra = {}, const std::string& data = "data") {
    const std::string log = scratch() + "/evstored-" + std::to_string(servers_.size()) + ".log";
    auto s = std::make_unique<evstored>(sandbox(), data_dir(data), log, extra);
    EXPECT_GT(s->port(), 0) << "no port in the banner '" << s->banner() << "'; log:\n" << read_file(log);
    servers_.push_back({std::move(s), true});
    return *servers_.back().server;
  }
  evstored& srv() { return *servers_.front().server; }
  void allow_unclean_stop(evstored& s) {
    for (auto& e : servers_) {
      if (e.server.get() == &s) e.expect_clean_stop = false;
    }
  }

  static std::string tail(const std::string& s) { return s.size() > 3000 ? s.substr(s.size() - 3000) : s; }

  http_response http(evstored& s, const request& r) {
    const std::string n = std::to_string(++requests_);
    const std::string hdr = scratch() + "/h" + n, body = scratch() + "/b" + n, err = scratch() + "/e" + n;
    std::vector<std::string> argv = {"curl", "-sS", "--path-as-is", "-g", "--max-time", "10", "-D", hdr, "-o", body,
                                     "-w", "%{http_code}"};
    if (r.method == "HEAD") {
      argv.push_back("--head");
    } else if (r.method != "GET" || r.body) {
      argv.insert(argv.end(), {"-X", r.method});
    }
    if (r.body) {
      const std::string in = scratch() + "/in" + n;
      write_file(in, *r.body);
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", "@" + in});
    }
    for (const auto& h : r.headers) argv.insert(argv.end(), {"-H", h});
    argv.insert(argv.end(), r.curl_args.begin(), r.curl_args.end());
    argv.push_back(s.base() + r.path);
    child_process curl(argv, err);
    const std::string code = curl.read_all(20s);
    curl.wait_exit(5s);
    http_response out;
    out.status = std::atoi(code.c_str());
    out.body = read_file(body);
    out.curl_error = read_file(err);
    // Keep only the last header block (a 100 Continue may precede it).
    std::string h = read_file(hdr);
    for (std::size_t at; (at = h.find("\r\n\r\n")) != std::string::npos && at + 4 < h.size();) h.erase(0, at + 4);
    out.headers = h;
    return out;
  }
  http_response http(const request& r) { return http(srv(), r); }
  http_response get(const std::string& path, std::vector<std::string> headers = {}) {
    return http({.path = path, .headers = std::move(headers)});
  }
  http_response post(const std::string& path, const std::string& body, std::vector<std::string> headers = {}) {
    return http({.method = "POST", .path = path, .body = body, .headers = std::move(headers)});
  }

  // Appends and expects 201; returns the response body as JSON.
  json::value append_ok(const std::string& stream, const std::string& body, std::vector<std::string> headers = {}) {
    auto r = post("/streams/" + stream, body, std::move(headers));
    EXPECT_EQ(r.status, 201) << stream << ": " << r;
    return r.json();
  }

  void append_ok_on(evstored& s, const std::string& cafile, const std::string& stream) {
    auto r = http(s, {.method = "POST", .path = "/streams/" + stream, .body = "{\"type\":\"Live\",\"data\":{}}",
                      .curl_args = {"--cacert", cafile}});
    EXPECT_EQ(r.status, 201) << r;
  }

  // GET a stream until it has `count` events (system streams fill asynchronously).
  json::value wait_for_events(const std::string& path, std::size_t count, std::chrono::milliseconds deadline = 5s) {
    const auto end = clock_type::now() + deadline;
    json::value last;
    for (;;) {
      auto r = get(path);
      last = r.json();
      if (r.status == 200 && last.is_object() && last.as_object().contains("events") &&
          last.at("events").as_array().size() >= count) {
        return last;
      }
      if (clock_type::now() >= end) return last;
      std::this_thread::sleep_for(50ms);
    }
  }

  // Files and directories anywhere under the sandbox but outside the data directories.
  std::vector<std::string> files_outside_data() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(sandbox())) {
      const auto name = e.path().filename().string();
      if (name.rfind("data", 0) != 0) out.push_back(e.path().string());
    }
    return out;
  }

  // Runs the WebSocket client with the given steps; returns it to read its lines.
  std::unique_ptr<child_process> ws(evstored& s, const std::string& path_and_query, std::vector<std::string> steps,
                                    std::vector<std::string> headers = {}, double timeout_s = 10,
                                    const std::string& cafile = {}) {
    std::vector<std::string> argv = {python, ws_client, s.ws_base() + path_and_query, "--timeout",
                                     std::to_string(timeout_s)};
    if (!cafile.empty()) argv.insert(argv.end(), {"--cafile", cafile});
    for (const auto& h : headers) argv.insert(argv.end(), {"--header", h});
    argv.insert(argv.end(), steps.begin(), steps.end());
    return std::make_unique<child_process>(argv, scratch() + "/evstored-ws.err");
  }

 private:
  struct entry {
    std::unique_ptr<evstored> server;
    bool expect_clean_stop;
  };
  temp_dir tmp_;
  std::vector<entry> servers_;
  int requests_ = 0;
};

std::string event_json(const std::string& type, const std::string& data = "{}", const std::string& id = {}) {
  std::string s = "{\"type\":\"" + type + "\",\"data\":" + data;
  if (!id.empty()) s += ",\"id\":\"" + id + "\"";
  return s + "}";
}

std::string batch_json(std::size_t n, const std::string& type = "Tested") {
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += event_json(type, "{\"i\":" + std::to_string(i) + "}");
  }
  return s + "]";
}

std::uint64_t u64(const json::value& v) { return v.is_int64() ? static_cast<std::uint64_t>(v.as_int64()) : v.as_uint64(); }

std::vector<std::uint64_t> versions_of(const json::value& page, const char* field = "version") {
  std::vector<std::uint64_t> out;
  for (const auto& e : page.at("events").as_array()) out.push_back(u64(e.at(field)));
  return out;
}

// Lines "MSG {json}" of a ws_client run, parsed, until a line for which stop() is true.
struct ws_messages {
  std::vector<json::value> messages;
  std::vector<std::string> lines;
  std::string transcript() const {
    std::string s;
    for (const auto& l : lines) s += (l.size() > 200 ? l.substr(0, 200) + "..." : l) + "\n";
    return s;
  }
};

bool read_ws_until(child_process& c, ws_messages& got, const std::function<bool(const std::string&)>& stop,
                   std::chrono::milliseconds timeout = 10s) {
  const auto end = clock_type::now() + timeout;
  while (clock_type::now() < end) {
    auto line = c.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()));
    if (!line) return false;
    got.lines.push_back(*line);
    if (line->rfind("MSG ", 0) == 0) got.messages.push_back(parse_json(line->substr(4)));
    if (stop(*line)) return true;
  }
  return false;
}

std::vector<std::uint64_t> event_versions(const ws_messages& got, const char* field = "version") {
  std::vector<std::uint64_t> out;
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("event")) out.push_back(u64(m.at("event").at(field)));
  }
  return out;
}

std::vector<std::uint64_t> iota_vec(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (auto i = from; i < to; ++i) v.push_back(i);
  return v;
}

// --- Server-Sent Events read with curl -N.
struct sse_message {
  std::string id, event, data;
};

class sse_client {
 public:
  sse_client(const std::string& url, const std::vector<std::string>& headers, const std::string& err)
      : proc_(make_argv(url, headers), err) {
    // Status line and headers come first (-i).
    while (auto line = proc_.read_line(10s)) {
      if (!line->empty() && line->back() == '\r') line->pop_back();
      if (line->empty()) break;
      headers_ += *line + "\n";
    }
  }
  const std::string& headers() const { return headers_; }

  std::optional<sse_message> next(std::chrono::milliseconds timeout = 10s) {
    sse_message m;
    bool any = false;
    const auto end = clock_type::now() + timeout;
    while (clock_type::now() < end) {
      auto line = proc_.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()));
      if (!line) return std::nullopt;
      if (line->empty()) {
        if (any) return m;
        continue;
      }
      if ((*line)[0] == ':') continue;  // comment / keep-alive
      const auto colon = line->find(':');
      const std::string field = line->substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line->substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "id") m.id = value;
      if (field == "event") m.event = value;
      if (field == "data") m.data += value;
      any = true;
    }
    return std::nullopt;
  }
  void stop() {
    proc_.signal(SIGTERM);
    proc_.wait_exit(5s);
  }

 private:
  static std::vector<std::string> make_argv(const std::string& url, const std::vector<std::string>& headers) {
    std::vector<std::string> argv = {"curl", "-sS", "-N", "-i", "--max-time", "30", "-H", "Accept: text/event-stream"};
    for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
    argv.push_back(url);
    return argv;
  }
  child_process proc_;
  std::string headers_;
};

// ============================================================================
// Routes of API.md
// ============================================================================

TEST_F(server_test, append_single_and_batch_report_version_position_and_created_stream) {
  start();
  auto first = append_ok("order-1", event_json("OrderPlaced", "{\"total\":10}"));
  EXPECT_EQ(first.at("stream"), "order-1");
  EXPECT_EQ(u64(first.at("version")), 0u);
  EXPECT_EQ(u64(first.at("position")), 0u);
  EXPECT_EQ(first.at("createdStream"), true);

  auto batch = append_ok("order-1", "[" + event_json("ItemAdded", "{\"sku\":\"a\"}") + "," +
                                        event_json("ItemAdded", "{\"sku\":\"b\"}") + "," +
                                        event_json("OrderPaid", "{\"x\":1}") + "]");
  EXPECT_EQ(u64(batch.at("version")), 3u) << "version of the last appended event";
  EXPECT_EQ(u64(batch.at("position")), 3u);
  EXPECT_EQ(batch.at("createdStream"), false);

  auto other = append_ok("order-2", event_json("OrderPlaced"));
  EXPECT_EQ(u64(other.at("version")), 0u);
  EXPECT_EQ(u64(other.at("position")), 4u);

  auto page = get("/streams/order-1");
  ASSERT_EQ(page.status, 200) << page;
  const auto j = page.json();
  EXPECT_EQ(j.at("stream"), "order-1");
  EXPECT_EQ(u64(j.at("version")), 3u);
  ASSERT_EQ(j.at("events").as_array().size(), 4u);
  const auto& e1 = j.at("events").as_array()[1];
  EXPECT_EQ(e1.at("stream"), "order-1");
  EXPECT_EQ(u64(e1.at("version")), 1u);
  EXPECT_EQ(u64(e1.at("position")), 1u);
  EXPECT_EQ(e1.at("type"), "ItemAdded");
  EXPECT_EQ(e1.at("data").at("sku"), "a");
  for (const char* field : {"metadata", "id", "committedAt"}) {
    EXPECT_TRUE(e1.as_object().contains(field)) << "event lacks \"" << field << "\": " << page.body;
  }
  EXPECT_EQ(j.at("next"), nullptr);
  EXPECT_EQ(page.header("Content-Type").value_or("").rfind("application/json", 0), 0u) << page.headers;

  // Metadata and a client id round-trip.
  auto with_meta = post("/streams/order-3", R"({"type":"T","data":{"a":[1,2]},"metadata":{"by":"me"},)"
                                            R"("id":"6f1c9e52-2f2b-4c55-9a55-1c2d3e4f5a6b"})");
  ASSERT_EQ(with_meta.status, 201) << with_meta;
  auto read3 = get("/streams/order-3").json();
  const auto& e = read3.at("events").as_array().at(0);
  EXPECT_EQ(e.at("metadata").at("by"), "me");
  EXPECT_EQ(e.at("id"), "6f1c9e52-2f2b-4c55-9a55-1c2d3e4f5a6b");
  EXPECT_EQ(e.at("data").at("a").as_array().size(), 2u);
}

TEST_F(server_test, expected_version_any_no_stream_stream_exists_exact_and_409_bodies) {
  start();
  auto conflict = [](const http_response& r, const std::string& expected, const std::string& actual) {
    EXPECT_EQ(r.status, 409) << r;
    EXPECT_EQ(r.error_code(), "wrong_expected_version") << r;
    const auto j = r.json();
    ASSERT_TRUE(j.is_object()) << r;
    ASSERT_TRUE(j.as_object().contains("expected")) << r;
    ASSERT_TRUE(j.as_object().contains("actual")) << r;
    // "expected" may be a number or a string naming the expectation.
    const auto& ex = j.at("expected");
    const std::string ex_text = ex.is_string() ? std::string(ex.as_string()) : json::serialize(ex);
    EXPECT_EQ(ex_text, expected) << r;
    EXPECT_EQ(json::serialize(j.at("actual")), actual) << r;
  };
  // stream_exists on a missing stream: 409, actual null.
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: stream_exists"}), "stream_exists", "null");
  // exact on a missing stream.
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 0"}), "0", "null");
  auto created = append_ok("acct-1", event_json("Opened"), {"Expected-Version: no_stream"});
  EXPECT_EQ(created.at("createdStream"), true);
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: no_stream"}), "no_stream", "0");
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: stream_exists"});
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: 1"});
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 1"}), "1", "2");
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 7"}), "7", "2");
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: any"});
  auto last = append_ok("acct-1", event_json("Deposited"));  // default: any
  EXPECT_EQ(u64(last.at("version")), 4u);
  // Nothing was written by the conflicts.
  EXPECT_EQ(get("/streams/acct-1").json().at("events").as_array().size(), 5u);
  // A batch under an exact expectation is all or nothing.
  conflict(post("/streams/acct-1", batch_json(3), {"Expected-Version: 3"}), "3", "4");
  EXPECT_EQ(u64(get("/streams/acct-1").json().at("version")), 4u);
}

TEST_F(server_test, retrying_the_same_event_ids_returns_the_first_result_marked_duplicate) {
  start();
  append_ok("pay-1", event_json("Other"));
  const std::string body = "[" + event_json("Charged", "{\"c\":1}", "0d5d2a7e-8f0b-4a9e-9c1e-2b3a4c5d6e7f") + "," +
                           event_json("Charged", "{\"c\":2}", "1e6e3b8f-9a1c-4baf-8d2f-3c4b5d6e7f80") + "]";
  auto first = post("/streams/pay-1", body, {"Expected-Version: 0"});
  ASSERT_EQ(first.status, 201) << first;
  const auto f = first.json();
  EXPECT_EQ(f.at("duplicate"), false);
  // The reply was "lost": the client retries the same request, even with the same expectation.
  auto retry = post("/streams/pay-1", body, {"Expected-Version: 0"});
  EXPECT_TRUE(retry.status == 201 || retry.status == 200) << retry;
  const auto r = retry.json();
  ASSERT_TRUE(r.is_object()) << retry;
  EXPECT_EQ(u64(r.at("version")), u64(f.at("version"))) << retry;
  EXPECT_EQ(u64(r.at("position")), u64(f.at("position"))) << retry;
  EXPECT_EQ(r.at("duplicate"), true) << retry;
  auto retry_any = post("/streams/pay-1", body);
  EXPECT_EQ(retry_any.json().at("duplicate"), true) << retry_any;
  EXPECT_EQ(u64(retry_any.json().at("version")), 2u) << retry_any;
  auto page = get("/streams/pay-1").json();
  EXPECT_EQ(page.at("events").as_array().size(), 3u) << "a retry must not write duplicates";
  // A new id is a new event.
  auto fresh = append_ok("pay-1", event_json("Charged", "{}", "2f7f4c90-ab2d-4cc0-9e30-4d5c6e7f8091"));
  EXPECT_EQ(u64(fresh.at("version")), 3u);
  EXPECT_EQ(fresh.at("duplicate"), false);
}

TEST_F(server_test, read_forward_backward_with_limit_and_next_paging) {
  start();
  append_ok("pg-1", batch_json(7));
  append_ok("pg-2", batch_json(2));
  // Forward, limit 3: pages 0-2, 3-5, 6.
  std::vector<std::uint64_t> seen;
  std::string from = "0";
  int pages = 0;
  while (pages < 10) {
    auto r = get("/streams/pg-1?from=" + from + "&limit=3");
    ASSERT_EQ(r.status, 200) << r;
    const auto j = r.json();
    ++pages;
    const auto v = versions_of(j);
    EXPECT_LE(v.size(), 3u);
    seen.insert(seen.end(), v.begin(), v.end());
    if (j.at("next").is_null()) break;
    from = std::to_string(u64(j.at("next")));
  }
  EXPECT_EQ(seen, iota_vec(0, 7));
  EXPECT_LE(pages, 4);
  auto p1 = get("/streams/pg-1?limit=3").json();
  EXPECT_EQ(versions_of(p1), iota_vec(0, 3));
  EXPECT_EQ(u64(p1.at("next")), 3u);

  // Backward from the end, limit 3: 6,5,4 then 3,2,1 then 0.
  auto b1 = get("/streams/pg-1?direction=backward&limit=3");
  ASSERT_EQ(b1.status, 200) << b1;
  EXPECT_EQ(versions_of(b1.json()), (std::vector<std::uint64_t>{6, 5, 4}));
  ASSERT_FALSE(b1.json().at("next").is_null());
  EXPECT_EQ(u64(b1.json().at("next")), 3u);
  auto b2 = get("/streams/pg-1?direction=backward&limit=3&from=3").json();
  EXPECT_EQ(versions_of(b2), (std::vector<std::uint64_t>{3, 2, 1}));
  auto b3 = get("/streams/pg-1?direction=backward&limit=3&from=" + std::to_string(u64(b2.at("next")))).json();
  EXPECT_EQ(versions_of(b3), (std::vector<std::uint64_t>{0}));
  EXPECT_TRUE(b3.at("next").is_null()) << json::serialize(b3);

  // $all reads by position across streams.
  auto all = get("/streams/$all?from=5&limit=3");
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_EQ(versions_of(all.json(), "position"), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_EQ(u64(all.json().at("next")), 8u);
  auto all_back = get("/streams/%24all?direction=backward&limit=2").json();
  EXPECT_EQ(versions_of(all_back, "position"), (std::vector<std::uint64_t>{8, 7}));
  EXPECT_EQ(all_back.at("events").as_array()[0].at("stream"), "pg-2");

  // Default limit is 100 and a huge limit is clamped, not an error.
  append_ok("pg-big", batch_json(150));
  EXPECT_EQ(get("/streams/pg-big").json().at("events").as_array().size(), 100u);
  auto huge = get("/streams/pg-big?limit=18446744073709551615");
  EXPECT_EQ(huge.status, 200) << huge;

  // Missing stream: 404 stream_not_found.
  auto missing = get("/streams/nope-1");
  EXPECT_EQ(missing.status, 404) << missing;
  EXPECT_EQ(missing.error_code(), "stream_not_found");
}

TEST_F(server_test, system_streams_ce_and_et_fill_with_the_appends) {
  start();
  append_ok("cart-1", event_json("ItemAdded"));
  append_ok("cart-2", "[" + event_json("ItemAdded") + "," + event_json("CheckedOut") + "]");
  append_ok("user-1", event_json("ItemAdded"));
  append_ok("cartwheel", event_json("Spun"));  // not in category "cart": no '-' after it

  auto ce = wait_for_events("/streams/$ce-cart", 3);
  ASSERT_TRUE(ce.is_object()) << json::serialize(ce);
  ASSERT_EQ(ce.at("events").as_array().size(), 3u) << json::serialize(ce);
  std::vector<std::string> streams;
  for (const auto& e : ce.at("events").as_array()) streams.push_back(std::string(e.at("stream").as_string()));
  EXPECT_EQ(streams, (std::vector<std::string>{"cart-1", "cart-2", "cart-2"}));

  auto et = wait_for_events("/streams/%24et-ItemAdded", 3);
  ASSERT_TRUE(et.is_object()) << json::serialize(et);
  ASSERT_EQ(et.at("events").as_array().size(), 3u) << json::serialize(et);
  for (const auto& e : et.at("events").as_array()) {
    EXPECT_EQ(e.at("type"), "ItemAdded");
  }
  EXPECT_EQ(versions_of(et, "position"), (std::vector<std::uint64_t>{0, 1, 3}));

  // Reserved names are readable but never appendable.
  auto write_sys = post("/streams/$ce-cart", event_json("X"));
  EXPECT_EQ(write_sys.status, 400) << write_sys;
  EXPECT_EQ(write_sys.error_code(), "invalid_stream_name");
}

TEST_F(server_test, head_stream_list_health_console_and_metrics) {
  start();
  append_ok("h-1", batch_json(3));
  append_ok("h-2", event_json("A"));

  auto head = http({.method = "HEAD", .path = "/streams/h-1"});
  EXPECT_EQ(head.status, 200) << head;
  EXPECT_EQ(head.header("Stream-Version").value_or("<none>"), "2") << head.headers;
  EXPECT_EQ(head.body.find("{"), std::string::npos) << "HEAD has no body: " << head.body;
  auto head_missing = http({.method = "HEAD", .path = "/streams/h-404"});
  EXPECT_EQ(head_missing.status, 404) << head_missing;

  auto list = get("/streams");
  ASSERT_EQ(list.status, 200) << list;
  std::map<std::string, std::pair<std::uint64_t, std::string>> by_name;
  const auto listed_json = list.json();
  for (const auto& s : listed_json.as_array()) {
    by_name[std::string(s.at("stream").as_string())] = {u64(s.at("version")), std::string(s.at("kind").as_string())};
  }
  EXPECT_EQ(by_name["h-1"], (std::pair<std::uint64_t, std::string>{2, "write"}));
  EXPECT_EQ(by_name["h-2"], (std::pair<std::uint64_t, std::string>{0, "write"}));

  auto health = get("/health");
  ASSERT_EQ(health.status, 200) << health;
  EXPECT_EQ(health.json().at("status"), "ok");
  EXPECT_EQ(health.json().at("readOnly"), false);
  EXPECT_EQ(u64(health.json().at("position")), 3u);

  auto console = get("/");
  EXPECT_EQ(console.status, 200) << console;
  EXPECT_EQ(console.header("Content-Type").value_or("").rfind("text/html", 0), 0u) << console.headers;
  EXPECT_NE(lower(console.body).find("<html"), std::string::npos);

  get("/streams/h-404");  // one 404 for the status counter
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics;
  EXPECT_EQ(metrics.header("Content-Type").value_or("").rfind("text/plain", 0), 0u) << metrics.headers;
  const std::string& m = metrics.body;
  for (const char* line : {"# TYPE evstore_appends_total counter", "# TYPE evstore_events_written_total counter",
                           "# TYPE evstore_bytes_written_total counter", "# TYPE evstore_flushes_total counter",
                           "# TYPE evstore_fsyncs_total counter", "# TYPE evstore_subscribers gauge",
                           "# TYPE evstore_http_responses_total counter", "\nevstore_appends_total 2\n",
                           "\nevstore_events_written_total 4\n", "evstore_http_responses_total{code=\"201\"} 2\n",
                           "evstore_http_responses_total{code=\"404\"} "}) {
    EXPECT_NE(m.find(line), std::string::npos) << "missing '" << line << "' in:\n" << m;
  }
  // Every sample line is "name[{labels}] value".
  std::istringstream in(m);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind("evstore_", 0), 0u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
}

TEST_F(server_test, metrics_flush_latency_is_a_prometheus_histogram) {
  // API.md: "/metrics ... flush latency histogram".
  start();
  append_ok("m-1", event_json("A"));
  auto m = get("/metrics").body;
  EXPECT_NE(m.find("# TYPE evstore_flush_duration_seconds histogram"), std::string::npos) << m;
  EXPECT_NE(m.find("evstore_flush_duration_seconds_bucket{le=\"+Inf\"}"), std::string::npos) << m;
}

TEST_F(server_test, read_streams_put_delete_and_consumer_state) {
  start();
  append_ok("o-1", "[" + event_json("Paid", "{\"x\":1}") + "," + event_json("Paid", "{\"x\":2}") + "," +
                       event_json("Refunded", "{\"x\":1}") + "]");
  const std::string filter = R"({"filter":{"types":["Paid"],"where":{"/data/x":1}}})";
  auto put = http({.method = "PUT", .path = "/read-streams/paid-x1", .body = filter});
  ASSERT_EQ(put.status, 201) << put;
  append_ok("o-2", event_json("Paid", "{\"x\":1}"));
  auto rs = wait_for_events("/streams/paid-x1", 2);
  ASSERT_TRUE(rs.is_object()) << json::serialize(rs);
  ASSERT_EQ(rs.at("events").as_array().size(), 2u) << json::serialize(rs);
  EXPECT_EQ(rs.at("events").as_array()[0].at("stream"), "o-1");
  EXPECT_EQ(rs.at("events").as_array()[1].at("stream"), "o-2");

  // The same filter again is accepted; another filter is 409.
  auto again = http({.method = "PUT", .path = "/read-streams/paid-x1", .body = filter});
  EXPECT_TRUE(again.status == 201 || again.status == 200) << again;
  auto other = http({.method = "PUT", .path = "/read-streams/paid-x1",
                     .body = R"({"filter":{"types":["Refunded"]}})"});
  EXPECT_EQ(other.status, 409) << other;

  auto list = get("/streams").json();
  bool listed = false;
  for (const auto& s : list.as_array()) {
    if (s.at("stream") == "paid-x1") {
      listed = true;
      EXPECT_EQ(s.at("kind"), "read");
    }
  }
  EXPECT_TRUE(listed) << json::serialize(list);

  auto del = http({.method = "DELETE", .path = "/read-streams/paid-x1"});
  EXPECT_TRUE(del.status == 200 || del.status == 204) << del;
  EXPECT_EQ(get("/streams/paid-x1").status, 404);
  EXPECT_EQ(get("/streams/o-1").json().at("events").as_array().size(), 3u) << "events stay";

  // Consumers: none stored yet.
  auto none = get("/consumers/mailer?stream=o-1");
  EXPECT_GE(none.status, 200) << none;
  EXPECT_LT(none.status, 500) << none;
  auto no_stream_param = get("/consumers/mailer");
  EXPECT_EQ(no_stream_param.status, 400) << no_stream_param;
}

// ============================================================================
// Server-Sent Events
// ============================================================================

TEST_F(server_test, sse_catch_up_then_caught_up_then_live_and_last_event_id_resume) {
  auto& s = start();
  append_ok("sse-1", batch_json(3));
  {
    sse_client c(s.base() + "/streams/sse-1?live=true", {}, scratch() + "/evstored-sse.err");
    EXPECT_NE(lower(c.headers()).find("content-type: text/event-stream"), std::string::npos) << c.headers();
    EXPECT_NE(c.headers().find(" 200"), std::string::npos) << c.headers();
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      auto m = c.next();
      ASSERT_TRUE(m) << "catch-up event " << i;
      EXPECT_EQ(m->event, "event");
      ids.push_back(m->id);
      const auto d = parse_json(m->data);
      ASSERT_TRUE(d.is_object()) << m->data;
      EXPECT_EQ(std::to_string(u64(d.at("version"))), m->id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"0", "1", "2"}));
    auto caught = c.next();
    ASSERT_TRUE(caught);
    EXPECT_EQ(caught->event, "caughtUp");
    append_ok("sse-1", event_json("Live", "{\"n\":3}"));
    append_ok("sse-1", event_json("Live", "{\"n\":4}"));
    for (const char* want : {"3", "4"}) {
      auto m = c.next();
      ASSERT_TRUE(m) << "live event " << want;
      EXPECT_EQ(m->id, want);
      EXPECT_EQ(parse_json(m->data).at("type"), "Live");
    }
    c.stop();
  }
  {
    // Resume: Last-Event-ID 3 gives 4, then caughtUp.
    sse_client c(s.base() + "/streams/sse-1?live=true", {"Last-Event-ID: 3"}, scratch() + "/evstored-sse.err");
    auto m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "4");
    auto caught = c.next();
    ASSERT_TRUE(caught);
    EXPECT_EQ(caught->event, "caughtUp");
    c.stop();
  }
  {
    // $all: id is the position.
    append_ok("sse-2", event_json("Other"));
    sse_client c(s.base() + "/streams/$all?live=true", {"Last-Event-ID: 4"}, scratch() + "/evstored-sse.err");
    auto m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "5");
    EXPECT_EQ(parse_json(m->data).at("stream"), "sse-2");
    c.stop();
  }
  // The server still answers after the streams were dropped.
  EXPECT_EQ(get("/health").status, 200);
}

// ============================================================================
// WebSocket
// ============================================================================

TEST_F(server_test, websocket_catch_up_caught_up_then_live_in_order_without_gap) {
  auto& s = start();
  append_ok("ws-1", batch_json(300));  // more than one catch-up batch
  append_ok("ws-other", event_json("Noise"));
  auto c = ws(s, "/subscribe?stream=ws-1&from=0", {"until=caughtUp", "mark=ready", "events=320"});
  // Racing the catch-up: appends while the client is still reading history.
  for (int i = 0; i < 10; ++i) append_ok("ws-1", event_json("Racing", "{\"i\":" + std::to_string(i) + "}"));
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; })) << got.transcript();
  // Live: appends after caughtUp.
  for (int i = 0; i < 5; ++i) append_ok("ws-1", event_json("Live", "{\"i\":" + std::to_string(i) + "}"));
  append_ok("ws-other", event_json("Noise"));
  append_ok("ws-1", batch_json(5, "LiveBatch"));
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(c->wait_exit(5s), 0);
  EXPECT_EQ(event_versions(got), iota_vec(0, 320)) << "gap, duplicate or reordering";
  int caught_up = 0;
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("caughtUp")) {
      ++caught_up;
      EXPECT_EQ(m.at("caughtUp"), true);
      EXPECT_TRUE(o->contains("version")) << json::serialize(m);
    }
  }
  EXPECT_EQ(caught_up, 1);
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("event")) {
      EXPECT_EQ(m.at("event").at("stream"), "ws-1");
    }
  }
}

TEST_F(server_test, websocket_default_from_is_the_end_and_all_is_the_default_stream) {
  auto& s = start();
  append_ok("wd-1", batch_json(3));
  auto c = ws(s, "/subscribe", {"until=caughtUp", "mark=ready", "events=2"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; })) << got.transcript();
  EXPECT_TRUE(event_versions(got).empty()) << "only new events by default: " << got.transcript();
  append_ok("wd-2", event_json("New"));
  append_ok("wd-1", event_json("New"));
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(event_versions(got, "position"), (std::vector<std::uint64_t>{3, 4}));
}

TEST_F(server_test, websocket_consumer_acks_and_resumes_after_reconnect) {
  auto& s = start();
  append_ok("cs-1", batch_json(5));
  {
    auto c = ws(s, "/subscribe?stream=cs-1&consumer=mailer",
                {"events=3", R"(send={"ack":2,"state":{"seen":3}})", "until=acked"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(c->wait_exit(5s), 0);
    const auto v = event_versions(got);
    ASSERT_GE(v.size(), 3u) << got.transcript();
    EXPECT_EQ(std::vector<std::uint64_t>(v.begin(), v.begin() + 3), iota_vec(0, 3));
    ASSERT_FALSE(got.messages.empty());
    EXPECT_EQ(json::serialize(got.messages.back()), R"({"acked":2})") << got.transcript();
  }
  auto state = get("/consumers/mailer?stream=cs-1");
  ASSERT_EQ(state.status, 200) << state;
  EXPECT_EQ(state.json().at("stream"), "cs-1");
  EXPECT_EQ(u64(state.json().at("position")), 3u) << "the next event to deliver: " << state;
  EXPECT_EQ(json::serialize(state.json().at("state")), R"({"seen":3})") << state;
  {
    // Reconnect at once: resumes after the ack (3, 4), then caughtUp, then live.
    std::unique_ptr<child_process> c;
    ws_messages got;
    c = ws(s, "/subscribe?stream=cs-1&consumer=mailer", {"until=caughtUp", "mark=ready", "events=3",
                                                          R"(send={"ack":5})", "until=acked"});
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready" || l.rfind("CLOSE", 0) == 0; }))
        << got.transcript();
    ASSERT_EQ(got.lines.back(), "MARK ready") << "reconnecting right after a clean close was refused:\n"
                                              << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{3, 4})) << got.transcript();
    append_ok("cs-1", event_json("Live"));
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{3, 4, 5}));
    EXPECT_EQ(json::serialize(got.messages.back()), R"({"acked":5})") << got.transcript();
  }
  auto after = get("/consumers/mailer?stream=cs-1");
  EXPECT_EQ(u64(after.json().at("position")), 6u) << after;
}

TEST_F(server_test, websocket_bad_parameters_close_4400_and_oversized_message_closes_1009) {
  auto& s = start({"--ws-max-message", "1024"});
  append_ok("wb-1", event_json("A"));
  for (const std::string q : {"/subscribe?stream=..%2Fx", "/subscribe?stream=wb-1&from=abc",
                              "/subscribe?stream=wb-1&from=-1", "/subscribe?stream=", "/subscribe?stream=a%00b",
                              "/subscribe?stream=wb-1&consumer=..%2F..%2Fescape", "/subscribe?stream=wb-1&consumer="}) {
    auto c = ws(s, q, {"wait_close"}, {}, 2);
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0 || l.rfind("REJECTED", 0) == 0; });
    ASSERT_FALSE(got.lines.empty()) << q;
    EXPECT_EQ(got.lines.back().substr(0, 10), "CLOSE 4400") << q << "\n" << got.transcript();
    EXPECT_EQ(get("/health").status, 200) << "after " << q;
  }
  {
    auto c = ws(s, "/subscribe?stream=wb-1&from=0", {"until=caughtUp", "sendbytes=4096", "wait_close"});
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0; });
    ASSERT_FALSE(got.lines.empty());
    EXPECT_EQ(got.lines.back().substr(0, 10), "CLOSE 1009") << got.transcript();
  }
  {
    // A message that is not an ack on a plain subscription is answered with an error, not a crash.
    auto c = ws(s, "/subscribe?stream=wb-1&from=0", {"until=caughtUp", "send={nonsense", "until=error"});
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }
  EXPECT_EQ(get("/health").status, 200);
  EXPECT_TRUE(files_outside_data().empty());
}

// ============================================================================
// TESTING.md §6: bad inputs over HTTP
// ============================================================================

TEST_F(server_test, bad_inputs_get_their_documented_status_and_nothing_escapes_the_data_directory) {
  start({"--body-limit", "4096", "--header-limit", "16384"});
  append_ok("ok-1", event_json("A"));
  const std::string ev = event_json("A");
  const std::string name200(200, 'n');
  struct bad_case {
    std::string what;
    request req;
    std::set<int> statuses;  // acceptable statuses
    std::string code;        // expected error code ("" = any)
  };
  auto post_to = [&](const std::string& path, const std::string& body = event_json("A")) {
    return request{.method = "POST", .path = path, .body = body};
  };
  const std::vector<bad_case> cases = {
      // Stream names (API.md: 400 invalid_stream_name).
      {"encoded ../x", post_to("/streams/..%2Fx"), {400}, "invalid_stream_name"},
      {"%2e%2e%2f", post_to("/streams/%2e%2e%2fescape"), {400}, "invalid_stream_name"},
      {"%2e%2e%2F%2e%2e%2F", post_to("/streams/%2e%2e%2F%2e%2e%2Fescape"), {400}, "invalid_stream_name"},
      {"name ..", post_to("/streams/%2e%2e"), {400}, "invalid_stream_name"},
      {"raw ..", post_to("/streams/.."), {400}, "invalid_stream_name"},
      {"name .", post_to("/streams/."), {400}, "invalid_stream_name"},
      {"encoded .", post_to("/streams/%2E"), {400}, "invalid_stream_name"},
      // A raw "../x" is three path segments, so no stream route matches; never a write.
      {"raw ../x", post_to("/streams/../escape"), {400, 404}, ""},
      {"absolute path", post_to("/streams/%2Ftmp%2Fevstore-escape"), {400}, "invalid_stream_name"},
      {"read /etc/passwd", {.path = "/streams/%2Fetc%2Fpasswd"}, {400}, "invalid_stream_name"},
      {"NUL", post_to("/streams/a%00b"), {400}, "invalid_stream_name"},
      {"backslash", post_to("/streams/..%5C..%5Cescape"), {400}, "invalid_stream_name"},
      {"control 0x01", post_to("/streams/a%01b"), {400}, "invalid_stream_name"},
      {"newline", post_to("/streams/a%0Ab"), {400}, "invalid_stream_name"},
      {"DEL", post_to("/streams/a%7Fb"), {400}, "invalid_stream_name"},
      {"C1 control", post_to("/streams/a%C2%85b"), {400}, "invalid_stream_name"},
      {"invalid UTF-8", post_to("/streams/a%FFb"), {400}, "invalid_stream_name"},
      {"overlong UTF-8 dot", post_to("/streams/%C0%AE%C0%AE"), {400}, "invalid_stream_name"},
      {"201 bytes", post_to("/streams/" + std::string(201, 'n')), {400}, "invalid_stream_name"},
      {"10 KB", post_to("/streams/" + std::string(10240, 'n')), {400}, "invalid_stream_name"},
      {"reserved $", post_to("/streams/$mine"), {400}, "invalid_stream_name"},
      {"reserved %24all", post_to("/streams/%24all"), {400}, "invalid_stream_name"},
      {"empty name", post_to("/streams/"), {400}, "invalid_stream_name"},
      {"read-stream name ../x", {.method = "PUT", .path = "/read-streams/..%2Fescape", .body = R"({"filter":{"types":["A"]}})"},
       {400}, "invalid_stream_name"},
      {"read-stream name ..", {.method = "PUT", .path = "/read-streams/%2e%2e", .body = R"({"filter":{"types":["A"]}})"},
       {400}, "invalid_stream_name"},
      {"consumer stream ../x", {.path = "/consumers/c?stream=..%2Fescape"}, {400}, "invalid_stream_name"},
      {"consumer stream empty", {.path = "/consumers/c?stream="}, {400}, "invalid_stream_name"},
      {"SSE on ../x", {.path = "/streams/..%2Fescape?live=true", .headers = {"Accept: text/event-stream"}}, {400}, ""},
      {"bad percent escape", post_to("/streams/a%zz"), {400}, ""},
      // Bodies (400 invalid_event).
      {"malformed JSON", post_to("/streams/ok-1", "{\"type\":"), {400}, "invalid_event"},
      {"not JSON", post_to("/streams/ok-1", "hello"), {400}, "invalid_event"},
      {"empty body", post_to("/streams/ok-1", ""), {400}, "invalid_event"},
      {"no type", post_to("/streams/ok-1", "{\"data\":{}}"), {400}, "invalid_event"},
      {"type not a string", post_to("/streams/ok-1", "{\"type\":5}"), {400}, "invalid_event"},
      {"empty type", post_to("/streams/ok-1", "{\"type\":\"\"}"), {400}, "invalid_event"},
      {"one bad event in a batch", post_to("/streams/ok-1", "[" + ev + ",{\"data\":1}]"), {400}, "invalid_event"},
      {"invalid UTF-8 in body", post_to("/streams/ok-1", "{\"type\":\"A\",\"data\":\"\xff\xfe\"}"), {400},
       "invalid_event"},
      {"bad id", post_to("/streams/ok-1", "{\"type\":\"A\",\"id\":\"not-a-uuid\"}"), {400}, "invalid_event"},
      {"read-stream body", {.method = "PUT", .path = "/read-streams/rs-bad", .body = "{\"filter\":"}, {400}, ""},
      // Expected-Version (known deviation: 400 invalid_expected_version).
      {"Expected-Version word", {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: banana"}},
       {400}, "invalid_expected_version"},
      {"Expected-Version -1", {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: -1"}},
       {400}, "invalid_expected_version"},
      {"Expected-Version 1.5", {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: 1.5"}},
       {400}, "invalid_expected_version"},
      {"Expected-Version overflow",
       {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: 99999999999999999999999"}},
       {400}, "invalid_expected_version"},
      // Absurd read parameters: 400 or clamped, never a crash.
      {"limit=0", {.path = "/streams/ok-1?limit=0"}, {400}, ""},
      {"limit=-1", {.path = "/streams/ok-1?limit=-1"}, {400}, ""},
      {"limit=abc", {.path = "/streams/ok-1?limit=abc"}, {400}, ""},
      {"limit overflow", {.path = "/streams/ok-1?limit=99999999999999999999999"}, {400, 200}, ""},
      {"from overflow", {.path = "/streams/ok-1?from=99999999999999999999999"}, {400, 200}, ""},
      {"from max", {.path = "/streams/ok-1?from=18446744073709551615"}, {400, 200}, ""},
      {"from -5", {.path = "/streams/ok-1?from=-5"}, {400}, ""},
      {"$all from max backward", {.path = "/streams/$all?from=18446744073709551614&direction=backward"}, {400, 200}, ""},
      {"direction", {.path = "/streams/ok-1?direction=sideways"}, {400}, ""},
      {"list offset huge", {.path = "/streams?offset=18446744073709551615&limit=18446744073709551615"}, {400, 200}, ""},
      // Routing.
      {"unknown route", {.path = "/nope"}, {404}, ""},
      {"wrong method", {.method = "PATCH", .path = "/streams/ok-1", .body = ev}, {405}, ""},
      // Sizes: 413 before reading the body (Content-Length; curl sends Expect: 100-continue).
      {"body over --body-limit", post_to("/streams/big-1", "[" + std::string(64 << 10, ' ') + ev + "]"), {413}, ""},
      {"body over --body-limit, no Expect",
       {.method = "POST", .path = "/streams/big-2", .body = "[" + std::string(64 << 10, ' ') + ev + "]",
        .headers = {"Expect:"}},
       {413}, ""},
      {"chunked body over --body-limit",
       {.method = "POST", .path = "/streams/big-3", .body = "[" + std::string(64 << 10, ' ') + ev + "]",
        .headers = {"Transfer-Encoding: chunked"}},
       {413}, ""},
      {"header over --header-limit", {.path = "/health", .headers = {"X-Big: " + std::string(32 << 10, 'h')}}, {431}, ""},
      {"many headers over --header-limit", {.path = "/health", .headers = [] {
         std::vector<std::string> h;
         for (int i = 0; i < 400; ++i) h.push_back("X-H" + std::to_string(i) + ": " + std::string(60, 'v'));
         return h;
       }()},
       {431}, ""},
  };
  const auto before = get("/health").json();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = http(c.req);
    EXPECT_TRUE(c.statuses.count(r.status)) << c.what << ": " << c.req.method << " " << c.req.path.substr(0, 80)
                                            << " -> " << r;
    if (!c.code.empty()) {
      EXPECT_EQ(r.error_code(), c.code) << c.what << ": " << r;
    }
    if (r.status >= 400 && c.req.method != "HEAD") {
      const auto j = r.json();
      EXPECT_TRUE(j.is_object() && j.as_object().contains("error") && j.as_object().contains("message"))
          << c.what << ": error bodies are {\"error\",\"message\"}: " << r;
    }
    auto health = get("/health");
    ASSERT_EQ(health.status, 200) << "server down after " << c.what;
  }
  // The boundary: a 200-byte name is fine.
  append_ok(name200, ev);
  // Nothing was written by any bad request, and nothing appeared outside the data directory.
  const auto after = get("/health").json();
  EXPECT_EQ(u64(after.at("position")), u64(before.at("position")) + 1) << "only the 200-byte-name append";
  EXPECT_EQ(get("/streams/ok-1").json().at("events").as_array().size(), 1u);
  std::set<std::string> names;
  const auto all_streams = get("/streams").json();
  for (const auto& s : all_streams.as_array()) names.insert(std::string(s.at("stream").as_string()));
  EXPECT_EQ(names, (std::set<std::string>{"ok-1", name200}));
  EXPECT_TRUE(files_outside_data().empty()) << files_outside_data().front();
  EXPECT_FALSE(fs::exists("/tmp/evstore-escape"));
  for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
    const auto p = e.path().string();
    EXPECT_EQ(p.find("escape"), std::string::npos) << p;
  }
}

// ============================================================================
// Limits and security (TESTING.md §6–7)
// ============================================================================

TEST_F(server_test, slow_loris_headers_are_cut_by_the_header_deadline) {
  auto& s = start({"--header-timeout-ms", "400"});
  child_process c({python, tcp_client, "slowloris", std::to_string(s.port()), "5"}, scratch() + "/evstored-tcp.err");
  auto line = c.read_line(10s);
  ASSERT_TRUE(line);
  ASSERT_EQ(line->substr(0, 6), "CLOSED") << *line;
  const int ms = std::atoi(line->c_str() + 7);
  EXPECT_GE(ms, 300) << *line;
  EXPECT_LE(ms, 2500) << *line;
  EXPECT_EQ(get("/health").status, 200);
}

TEST_F(server_test, connections_over_max_connections_get_503) {
  auto& s = start({"--max-connections", "3", "--header-timeout-ms", "20000"});
  child_process hold({python, tcp_client, "hold", std::to_string(s.port()), "3", "20"}, scratch() + "/evstored-tcp.err");
  auto line = hold.read_line(10s);
  ASSERT_TRUE(line);
  ASSERT_EQ(*line, "HELD");
  auto refused = get("/health");
  EXPECT_EQ(refused.status, 503) << refused;
  EXPECT_EQ(refused.error_code(), "too_many_connections") << refused;
  hold.signal(SIGKILL);
  hold.wait_exit(5s);
  // Once the idle connections are gone, requests are served again.
  bool served = evstore::test::wait_until([&] { return get("/health").status == 200; }, 5s);
  EXPECT_TRUE(served);
  auto metrics = get("/metrics").body;
  EXPECT_NE(metrics.find("evstore_http_rejected_connections_total 1"), std::string::npos) << metrics;
}

TEST_F(server_test, bearer_tokens_401_403_and_never_logged) {
  const std::string read_token = "r3ad-T0ken-abcdefghijklmnop";
  const std::string write_token = "wr1te-T0ken-qrstuvwxyz012345";
  const std::string token_file = scratch() + "/tokens";
  write_file(token_file, "# tokens\nread " + read_token + "\nwrite " + write_token + "  # the writer\n");
  auto& s = start({"--token-file", token_file});
  EXPECT_NE(s.banner().find("bearer tokens required"), std::string::npos) << s.banner();
  const std::string rd = "Authorization: Bearer " + read_token, wr = "Authorization: Bearer " + write_token;

  auto none = get("/health");
  EXPECT_EQ(none.status, 401) << none;
  EXPECT_EQ(none.header("WWW-Authenticate").value_or(""), "Bearer") << none.headers;
  auto bad = get("/health", {"Authorization: Bearer " + read_token + "x"});
  EXPECT_EQ(bad.status, 401) << bad;
  auto prefix = get("/health", {"Authorization: Bearer " + read_token.substr(0, 10)});
  EXPECT_EQ(prefix.status, 401) << prefix;
  auto basic = get("/health", {"Authorization: Basic " + read_token});
  EXPECT_EQ(basic.status, 401) << basic;
  EXPECT_EQ(get("/health", {rd}).status, 200);

  auto read_post = post("/streams/auth-1", event_json("A"), {rd});
  EXPECT_EQ(read_post.status, 403) << read_post;
  auto read_put = http({.method = "PUT", .path = "/read-streams/rs", .body = R"({"filter":{"types":["A"]}})",
                        .headers = {rd}});
  EXPECT_EQ(read_put.status, 403) << read_put;
  auto anon_post = post("/streams/auth-1", event_json("A"));
  EXPECT_EQ(anon_post.status, 401) << anon_post;
  auto write_post = post("/streams/auth-1", event_json("A"), {wr});
  EXPECT_EQ(write_post.status, 201) << write_post;
  auto read_get = get("/streams/auth-1", {rd});
  EXPECT_EQ(read_get.status, 200) << read_get;
  EXPECT_EQ(read_get.json().at("events").as_array().size(), 1u);
  EXPECT_EQ(get("/metrics").status, 401);
  EXPECT_EQ(get("/").status, 401);

  // WebSocket and SSE need the token too.
  {
    auto c = ws(s, "/subscribe?stream=auth-1&from=0", {"until=caughtUp"});
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("REJECTED", 0) == 0 || l == "DONE"; });
    ASSERT_FALSE(got.lines.empty());
    EXPECT_EQ(got.lines.back(), "REJECTED 401") << got.transcript();
  }
  {
    auto c = ws(s, "/subscribe?stream=auth-1&from=0", {"until=caughtUp"}, {rd});
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{0}));
  }
  auto sse = get("/streams/auth-1?live=true", {"Accept: text/event-stream"});
  EXPECT_EQ(sse.status, 401) << sse;

  EXPECT_EQ(s.stop(), 0);
  const std::string log = s.log();
  EXPECT_NE(log.find("status=401"), std::string::npos) << log;
  EXPECT_NE(log.find("status=403"), std::string::npos) << log;
  EXPECT_NE(log.find("status=201"), std::string::npos) << log;
  for (const auto& secret : {read_token, write_token, read_token.substr(0, 10)}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "token in the log:\n" << log;
  }
  EXPECT_EQ(log.find("Bearer"), std::string::npos) << log;
}

TEST_F(server_test, read_only_server_follows_a_writer_and_refuses_writes_with_403) {
  auto& writer = start();
  append_ok("ro-1", event_json("A"));
  auto& reader = start({"--read-only"});
  EXPECT_EQ(http(reader, {.path = "/health"}).json().at("readOnly"), true);
  auto w = http(reader, {.method = "POST", .path = "/streams/ro-1", .body = event_json("B")});
  EXPECT_EQ(w.status, 403) << w;
  auto p = http(reader, {.method = "PUT", .path = "/read-streams/ro-rs", .body = R"({"filter":{"types":["A"]}})"});
  EXPECT_EQ(p.status, 403) << p;
  append_ok("ro-1", event_json("C"));
  bool followed = evstore::test::wait_until(
      [&] {
        auto r = http(reader, {.path = "/streams/ro-1"});
        return r.status == 200 && r.json().at("events").as_array().size() == 2;
      },
      5s);
  EXPECT_TRUE(followed) << http(reader, {.path = "/streams/ro-1"});
  EXPECT_EQ(http(writer, {.path = "/health"}).json().at("readOnly"), false);
}

TEST_F(server_test, data_directory_is_0700_and_files_0600) {
  start();
  append_ok("perm-1", batch_json(3));
  ASSERT_EQ(http({.method = "PUT", .path = "/read-streams/perm-rs", .body = R"({"filter":{"types":["Tested"]}})"}).status,
            201);
  EXPECT_EQ(srv().stop(), 0);
  struct stat st {};
  ASSERT_EQ(stat(data_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(st.st_mode & 0077, 0u) << e.path() << " mode " << std::oct << (st.st_mode & 0777);
    } else {
      EXPECT_EQ(st.st_mode & 0077, 0u) << e.path() << " mode " << std::oct << (st.st_mode & 0777);
    }
  }
}

TEST_F(server_test, sigterm_with_open_subscribers_stops_cleanly_and_keeps_acknowledged_events) {
  auto& s = start({"--fsync"});
  append_ok("st-1", batch_json(2));
  auto c = ws(s, "/subscribe?stream=st-1&from=0", {"until=caughtUp", "mark=ready", "wait_close"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; })) << got.transcript();
  sse_client sse(s.base() + "/streams/st-1?live=true", {}, scratch() + "/evstored-sse.err");
  ASSERT_TRUE(sse.next());
  const auto t0 = clock_type::now();
  EXPECT_EQ(s.stop(), 0) << s.log();
  EXPECT_LT(clock_type::now() - t0, 5s);
  read_ws_until(*c, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0; }, 5s);
  EXPECT_EQ(got.lines.back().rfind("CLOSE", 0), 0u) << got.transcript();
  sse.stop();
  // Restart on the same data: everything acknowledged is there.
  auto& again = start();
  auto r = http(again, {.path = "/streams/st-1"});
  EXPECT_EQ(r.json().at("events").as_array().size(), 2u) << r;
}

}  // namespace

namespace {

// HTTPS and WSS with a self-signed certificate made now, trusted by the
// clients (curl --cacert, Python's ssl): TLS 1.2 at least, nothing in clear.
TEST_F(server_test, https_and_wss_with_a_self_signed_certificate_made_at_test_time) {
  const std::string cert = scratch() + "/cert.pem", key = scratch() + "/key.pem";
  child_process gen({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                     "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                    scratch() + "/openssl.err");
  ASSERT_EQ(gen.wait_exit(60s), 0) << read_file(scratch() + "/openssl.err");
  auto& s = start({"--tls-cert", cert, "--tls-key", key});
  ASSERT_NE(s.banner().find("https://127.0.0.1:"), std::string::npos) << s.banner();

  auto r = http(s, {.method = "POST", .path = "/streams/tls-1", .body = event_json("Secured"), .curl_args = {"--cacert", cert}});
  EXPECT_EQ(r.status, 201) << r;
  auto read = http(s, {.path = "/streams/tls-1", .curl_args = {"--cacert", cert}});
  EXPECT_EQ(read.status, 200) << read;
  EXPECT_EQ(read.json().at("events").as_array().size(), 1u);

  // An old protocol is refused, and so is plain HTTP on the TLS port.
  auto old = http(s, {.path = "/health", .curl_args = {"--cacert", cert, "--tlsv1.1", "--tls-max", "1.1"}});
  EXPECT_EQ(old.status, 0) << "TLS 1.1 must be refused: " << old;
  child_process plain({"curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://127.0.0.1:" + std::to_string(s.port()) + "/health"},
                      scratch() + "/plain.err");
  EXPECT_EQ(plain.read_all(10s), "000") << "no HTTP answer in clear on the TLS port";
  plain.wait_exit(5s);

  // WSS: catch-up, caughtUp, then a live event.
  auto c = ws(s, "/subscribe?stream=tls-1&from=0", {"until=caughtUp", "mark=ready", "events=2"}, {}, 10, cert);
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; })) << got.transcript();
  append_ok_on(s, cert, "tls-1");
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(c->wait_exit(5s), 0);
  EXPECT_EQ(event_versions(got), iota_vec(0, 2));
}

}  // namespace
