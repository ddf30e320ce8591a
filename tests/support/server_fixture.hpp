// The harness of the evstored black-box tests (server_*_test.cpp): a child
// process runner, the evstored process, the fixture (a sandbox holding only
// the data directory), and clients this project did not write — curl for
// HTTP and Server-Sent Events, Python's `websockets` (tests/server/ws_client.py,
// run with /usr/bin/python3) for WebSocket, Python sockets for raw TCP
// (tests/server/tcp_client.py). The contract is the README's evstored section
// (routes, bodies, statuses) and its bad-input table. Declarations here, the
// code in server_fixture.cpp (compiled once, not in every server test).
#pragma once

#include "support/store_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

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
                const std::string& cwd = {});
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const { return pid_; }

  // The next stdout line (without '\n'), or nullopt at EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  // Everything up to EOF (or the timeout).
  std::string read_all(std::chrono::milliseconds timeout);

  void signal(int sig);

  // Exit status (128+signal when killed by one), or -1 if still running at the deadline.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  bool fill(clock_type::time_point deadline);

  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
  bool eof_ = false;
  std::string buf_;
};

std::string read_file(const std::string& path);

void write_file(const std::string& path, const std::string& text);

json::value parse_json(const std::string& text);

// Lower-cased header lines of the last response in a `curl -D` dump.
std::string lower(std::string s);

struct http_response {
  int status = 0;       // 0: no HTTP answer (connection refused or reset)
  std::string headers;  // raw header block of the final response
  std::string body;
  std::string curl_error;

  json::value json() const { return parse_json(body); }
  std::string error_code() const;
  // The error body's "message" (empty if none).
  std::string error_message() const;
  std::optional<std::string> header(const std::string& name) const;
};

std::ostream& operator<<(std::ostream& os, const http_response& r);

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
           const std::vector<std::string>& extra);
  evstored(const evstored&) = delete;
  evstored& operator=(const evstored&) = delete;
  ~evstored() { stop(); }

  int port() const { return port_; }
  const std::string& banner() const { return banner_; }
  std::string log() const { return read_file(log_); }
  std::string base() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }
  std::string ws_base() const {
    return (scheme_ == "https" ? "wss" : "ws") + std::string("://127.0.0.1:") + std::to_string(port_);
  }
  bool running() { return proc_->wait_exit(0ms) == -1; }
  pid_t pid() const { return proc_->pid(); }

  // SIGTERM and the exit status (-1 if it did not exit within 10 s; it is then killed).
  int stop();

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
  server_test();

  void TearDown() override;

  std::string sandbox() const { return tmp_.sub("sandbox"); }
  std::string scratch() const { return tmp_.sub("scratch"); }
  std::string data_dir(const std::string& name = "data") const { return sandbox() + "/" + name; }

  evstored& start(const std::vector<std::string>& extra = {}, const std::string& data = "data");
  evstored& srv() { return *servers_.front().server; }
  void allow_unclean_stop(evstored& s);

  static std::string tail(const std::string& s) { return s.size() > 3000 ? s.substr(s.size() - 3000) : s; }

  // A self-signed certificate for 127.0.0.1 made now, in the scratch
  // directory: {certificate, key}, or empty paths if openssl failed (the
  // caller's ASSERT names the error file).
  std::pair<std::string, std::string> self_signed_certificate();

  http_response http(evstored& s, const request& r);
  http_response http(const request& r) { return http(srv(), r); }
  http_response get(const std::string& path, std::vector<std::string> headers = {}) {
    return http({.path = path, .headers = std::move(headers)});
  }
  http_response post(const std::string& path, const std::string& body,
                     std::vector<std::string> headers = {}) {
    return http({.method = "POST", .path = path, .body = body, .headers = std::move(headers)});
  }

  // Appends and expects 201; returns the response body as JSON.
  json::value append_ok(const std::string& stream, const std::string& body,
                        std::vector<std::string> headers = {});

  void append_ok_on(evstored& s, const std::string& cafile, const std::string& stream);

  // GET a stream until it has `count` events (system streams fill asynchronously).
  json::value wait_for_events(const std::string& path, std::size_t count,
                              std::chrono::milliseconds deadline = 5s);

  // Files and directories anywhere under the sandbox but outside the data directories.
  std::vector<std::string> files_outside_data() const;

  // Runs the WebSocket client with the given steps; returns it to read its lines.
  std::unique_ptr<child_process> ws(evstored& s, const std::string& path_and_query,
                                    std::vector<std::string> steps, std::vector<std::string> headers = {},
                                    double timeout_s = 10, const std::string& cafile = {});

 private:
  struct entry {
    std::unique_ptr<evstored> server;
    bool expect_clean_stop;
  };
  temp_dir tmp_;
  std::vector<entry> servers_;
  int requests_ = 0;
};

std::string event_json(const std::string& type, const std::string& data = "{}", const std::string& id = {});

std::string batch_json(std::size_t n, const std::string& type = "Tested");

std::uint64_t u64(const json::value& v);

std::vector<std::uint64_t> versions_of(const json::value& page, const char* field = "version");

// Lines "MSG {json}" of a ws_client run, parsed, until a line for which stop() is true.
struct ws_messages {
  std::vector<json::value> messages;
  std::vector<std::string> lines;
  std::string transcript() const;
};

bool read_ws_until(child_process& c, ws_messages& got, const std::function<bool(const std::string&)>& stop,
                   std::chrono::milliseconds timeout = 10s);

std::vector<std::uint64_t> event_versions(const ws_messages& got, const char* field = "version");

std::vector<std::uint64_t> iota_vec(std::uint64_t from, std::uint64_t to);

// --- Server-Sent Events read with curl -N.
struct sse_message {
  std::string id, event, data;
};

class sse_client {
 public:
  sse_client(const std::string& url, const std::vector<std::string>& headers, const std::string& err);
  const std::string& headers() const { return headers_; }

  std::optional<sse_message> next(std::chrono::milliseconds timeout = 10s);
  void stop();

 private:
  static std::vector<std::string> make_argv(const std::string& url, const std::vector<std::string>& headers);
  child_process proc_;
  std::string headers_;
};

}  // namespace evstore::test::server
