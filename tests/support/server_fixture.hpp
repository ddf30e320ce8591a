// The harness of the evstored black-box tests (server_*_test.cpp): a child
// process runner, the evstored process, the fixture (a sandbox holding only
// the data directory), and clients this project did not write — curl for
// HTTP and Server-Sent Events, Python's `websockets` (tests/server/ws_client.py,
// run with /usr/bin/python3) for WebSocket, Python sockets for raw TCP
// (tests/server/tcp_client.py). The contract is the README's evstored section
// (routes, bodies, statuses) and its bad-input table.
#pragma once

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
#include <utility>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace evstore::test::server {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using evstore::test::temp_dir;

inline const std::string python = "/usr/bin/python3";
inline const std::string ws_client = std::string(EVSTORE_TEST_SOURCE_DIR) + "/server/ws_client.py";
inline const std::string tcp_client = std::string(EVSTORE_TEST_SOURCE_DIR) + "/server/tcp_client.py";

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

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(nullptr);
  return v;
}

// Lower-cased header lines of the last response in a `curl -D` dump.
inline std::string lower(std::string s) {
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
  // The error body's "message" (empty if none).
  std::string error_message() const {
    const auto j = json();
    if (const auto* o = j.if_object()) {
      if (const auto* m = o->if_contains("message"); m && m->is_string()) return std::string(m->as_string());
    }
    return {};
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

inline std::ostream& operator<<(std::ostream& os, const http_response& r) {
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
  pid_t pid() const { return proc_->pid(); }

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

  // A self-signed certificate for 127.0.0.1 made now, in the scratch
  // directory: {certificate, key}, or empty paths if openssl failed (the
  // caller's ASSERT names the error file).
  std::pair<std::string, std::string> self_signed_certificate() {
    const std::string cert = scratch() + "/cert.pem", key = scratch() + "/key.pem";
    child_process gen({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                       "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                      scratch() + "/openssl.err");
    if (gen.wait_exit(60s) != 0) return {};
    return {cert, key};
  }

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

inline std::string event_json(const std::string& type, const std::string& data = "{}", const std::string& id = {}) {
  std::string s = "{\"type\":\"" + type + "\",\"data\":" + data;
  if (!id.empty()) s += ",\"id\":\"" + id + "\"";
  return s + "}";
}

inline std::string batch_json(std::size_t n, const std::string& type = "Tested") {
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += event_json(type, "{\"i\":" + std::to_string(i) + "}");
  }
  return s + "]";
}

inline std::uint64_t u64(const json::value& v) { return v.is_int64() ? static_cast<std::uint64_t>(v.as_int64()) : v.as_uint64(); }

inline std::vector<std::uint64_t> versions_of(const json::value& page, const char* field = "version") {
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

inline bool read_ws_until(child_process& c, ws_messages& got, const std::function<bool(const std::string&)>& stop,
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

inline std::vector<std::uint64_t> event_versions(const ws_messages& got, const char* field = "version") {
  std::vector<std::uint64_t> out;
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("event")) out.push_back(u64(m.at("event").at(field)));
  }
  return out;
}

inline std::vector<std::uint64_t> iota_vec(std::uint64_t from, std::uint64_t to) {
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

}  // namespace evstore::test::server
