#include "support/server_fixture.hpp"

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace evstore::test::server {

child_process::child_process(const std::vector<std::string>& argv, const std::string& stderr_path,
                             const std::string& cwd) {
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

child_process::~child_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    wait_exit(5s);
  }
  if (out_ >= 0) close(out_);
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
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

std::string child_process::read_all(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!eof_ && fill(deadline)) {
  }
  std::string all = std::move(buf_);
  buf_.clear();
  return all;
}

void child_process::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
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

bool child_process::fill(clock_type::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
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

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string http_response::error_code() const {
  const auto j = json();
  if (const auto* o = j.if_object()) {
    if (const auto* e = o->if_contains("error"); e && e->is_string()) return std::string(e->as_string());
  }
  return "<no error code in: " + body.substr(0, 200) + ">";
}

std::string http_response::error_message() const {
  const auto j = json();
  if (const auto* o = j.if_object()) {
    if (const auto* m = o->if_contains("message"); m && m->is_string()) return std::string(m->as_string());
  }
  return {};
}

std::optional<std::string> http_response::header(const std::string& name) const {
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

std::ostream& operator<<(std::ostream& os, const http_response& r) {
  return os << "HTTP " << r.status << " " << r.body.substr(0, 400) << (r.curl_error.empty() ? "" : " curl: ")
            << r.curl_error;
}

evstored::evstored(const std::string& cwd, const std::string& data, const std::string& log,
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

int evstored::stop() {
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

server_test::server_test() {
  fs::create_directories(sandbox());
  fs::create_directories(scratch());
}

void server_test::TearDown() {
  for (auto& s : servers_) {
    if (s.expect_clean_stop) {
      EXPECT_EQ(s.server->stop(), 0) << "evstored did not stop cleanly on SIGTERM; log:\n"
                                     << tail(s.server->log());
    } else {
      s.server->stop();
    }
  }
}

evstored& server_test::start(const std::vector<std::string>& extra, const std::string& data) {
  const std::string log = scratch() + "/evstored-" + std::to_string(servers_.size()) + ".log";
  auto s = std::make_unique<evstored>(sandbox(), data_dir(data), log, extra);
  EXPECT_GT(s->port(), 0) << "no port in the banner '" << s->banner() << "'; log:\n" << read_file(log);
  servers_.push_back({std::move(s), true});
  return *servers_.back().server;
}

void server_test::allow_unclean_stop(evstored& s) {
  for (auto& e : servers_) {
    if (e.server.get() == &s) e.expect_clean_stop = false;
  }
}

std::pair<std::string, std::string> server_test::self_signed_certificate() {
  const std::string cert = scratch() + "/cert.pem", key = scratch() + "/key.pem";
  child_process gen({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                     "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                    scratch() + "/openssl.err");
  if (gen.wait_exit(60s) != 0) return {};
  return {cert, key};
}

http_response server_test::http(evstored& s, const request& r) {
  const std::string n = std::to_string(++requests_);
  const std::string hdr = scratch() + "/h" + n, body = scratch() + "/b" + n, err = scratch() + "/e" + n;
  std::vector<std::string> argv = {"curl", "-sS", "--path-as-is", "-g", "--max-time", "10",
                                   "-D",   hdr,   "-o",           body, "-w",         "%{http_code}"};
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
  for (std::size_t at; (at = h.find("\r\n\r\n")) != std::string::npos && at + 4 < h.size();)
    h.erase(0, at + 4);
  out.headers = h;
  return out;
}

json::value server_test::append_ok(const std::string& stream, const std::string& body,
                                   std::vector<std::string> headers) {
  auto r = post("/streams/" + stream, body, std::move(headers));
  EXPECT_EQ(r.status, 201) << stream << ": " << r;
  return r.json();
}

void server_test::append_ok_on(evstored& s, const std::string& cafile, const std::string& stream) {
  auto r = http(s, {.method = "POST",
                    .path = "/streams/" + stream,
                    .body = "{\"type\":\"Live\",\"data\":{}}",
                    .curl_args = {"--cacert", cafile}});
  EXPECT_EQ(r.status, 201) << r;
}

json::value server_test::wait_for_events(const std::string& path, std::size_t count,
                                         std::chrono::milliseconds deadline) {
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

std::vector<std::string> server_test::files_outside_data() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(sandbox())) {
    const auto name = e.path().filename().string();
    if (name.rfind("data", 0) != 0) out.push_back(e.path().string());
  }
  return out;
}

std::unique_ptr<child_process> server_test::ws(evstored& s, const std::string& path_and_query,
                                               std::vector<std::string> steps,
                                               std::vector<std::string> headers, double timeout_s,
                                               const std::string& cafile) {
  std::vector<std::string> argv = {python, ws_client, s.ws_base() + path_and_query, "--timeout",
                                   std::to_string(timeout_s)};
  if (!cafile.empty()) argv.insert(argv.end(), {"--cafile", cafile});
  for (const auto& h : headers) argv.insert(argv.end(), {"--header", h});
  argv.insert(argv.end(), steps.begin(), steps.end());
  return std::make_unique<child_process>(argv, scratch() + "/evstored-ws.err");
}

std::string event_json(const std::string& type, const std::string& data, const std::string& id) {
  std::string s = "{\"type\":\"" + type + "\",\"data\":" + data;
  if (!id.empty()) s += ",\"id\":\"" + id + "\"";
  return s + "}";
}

std::string batch_json(std::size_t n, const std::string& type) {
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += event_json(type, "{\"i\":" + std::to_string(i) + "}");
  }
  return s + "]";
}

std::uint64_t u64(const json::value& v) {
  return v.is_int64() ? static_cast<std::uint64_t>(v.as_int64()) : v.as_uint64();
}

std::vector<std::uint64_t> versions_of(const json::value& page, const char* field) {
  std::vector<std::uint64_t> out;
  for (const auto& e : page.at("events").as_array()) out.push_back(u64(e.at(field)));
  return out;
}

std::string ws_messages::transcript() const {
  std::string s;
  for (const auto& l : lines) s += (l.size() > 200 ? l.substr(0, 200) + "..." : l) + "\n";
  return s;
}

bool read_ws_until(child_process& c, ws_messages& got, const std::function<bool(const std::string&)>& stop,
                   std::chrono::milliseconds timeout) {
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

std::vector<std::uint64_t> event_versions(const ws_messages& got, const char* field) {
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

sse_client::sse_client(const std::string& url, const std::vector<std::string>& headers,
                       const std::string& err)
    : proc_(make_argv(url, headers), err) {
  // Status line and headers come first (-i).
  while (auto line = proc_.read_line(10s)) {
    if (!line->empty() && line->back() == '\r') line->pop_back();
    if (line->empty()) break;
    headers_ += *line + "\n";
  }
}

std::optional<sse_message> sse_client::next(std::chrono::milliseconds timeout) {
  sse_message m;
  bool any = false;
  const auto end = clock_type::now() + timeout;
  while (clock_type::now() < end) {
    auto line =
        proc_.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()));
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

void sse_client::stop() {
  proc_.signal(SIGTERM);
  proc_.wait_exit(5s);
}

std::vector<std::string> sse_client::make_argv(const std::string& url,
                                               const std::vector<std::string>& headers) {
  std::vector<std::string> argv = {"curl",       "-sS", "-N", "-i",
                                   "--max-time", "30",  "-H", "Accept: text/event-stream"};
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  argv.push_back(url);
  return argv;
}

}  // namespace evstore::test::server
