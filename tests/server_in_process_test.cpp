// evstored's server in this process, on a store whose reads can be held at
// a gate: what the network loop does while the engine waits on a disk.
// Opening a subscription reads files (a stream's index the first time the
// stream is used; a consumer's checkpoint): none of it may run on the
// network loop, or one slow disk read stalls every connection.
#include "server.hpp"
#include "support/paused_read_file_system.hpp"
#include "support/store_fixture.hpp"
#include <evstore/file_system.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace evstore;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

// A loopback client connection that sends bytes and reads what comes back.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool send(const std::string& bytes) {
    return connected_ &&
           ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Reads until what was received contains `marker`; false at the deadline or at EOF.
  bool read_until(const std::string& marker, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (received_.find(marker) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_;
  bool connected_ = false;
  std::string received_;
};

class in_process_server_test : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      // Three streams with events, written and closed: reopened, each is loaded on first use.
      auto s = store::open(writer_io_.executor(), {.directory = dir_.path()});
      ASSERT_TRUE(s) << s.error().message();
      for (const char* name : {"cold-ws", "cold-sse", "cold-consumer"}) {
        ASSERT_FALSE(append_wait(*s, name, make_events(3)).ec);
      }
      // A consumer with a stored position: opening it reads its file.
      auto c = s->consumer("cold-consumer", "c1");
      ASSERT_TRUE(c) << c.error().message();
      std::promise<boost::system::error_code> committed;
      c->commit(1, "", [&](boost::system::error_code ec) { committed.set_value(ec); });
      ASSERT_FALSE(committed.get_future().get());
      ASSERT_FALSE(close_wait(*s));
    }
    paused_ = std::make_shared<paused_read_file_system>(posix_file_system());
    auto s = store::open(store_io_.executor(), {.directory = dir_.path(), .file_system = paused_});
    ASSERT_TRUE(s) << s.error().message();
    store_.emplace(std::move(*s));
    http::server_options o;
    o.port = 0;
    server_.emplace(net_io_, *store_, reads_.executor(), o);
    ASSERT_TRUE(server_->start());
    net_thread_ = std::thread([this] { net_io_.run(); });
  }

  void TearDown() override {
    paused_->release();
    if (server_) {
      boost::asio::post(net_io_, [this] { server_->stop(); });
      net_guard_.reset();
      if (net_thread_.joinable()) net_thread_.join();
      server_.reset();
    }
    if (store_) close_wait(*store_);
  }

  // While the next read of the file whose path ends with `held` waits, the
  // request `open` is sent; the server must still answer /health on another
  // connection, and `open` its answer once the read goes on.
  void expect_health_while_opening(const std::string& held, const std::string& open,
                                   const std::string& answer) {
    paused_->pause_next_read(held);
    raw_client subscriber(server_->port());
    ASSERT_TRUE(subscriber.send(open));
    ASSERT_TRUE(paused_->wait_until_paused()) << "the subscription never read " << held;

    raw_client probe(server_->port());
    ASSERT_TRUE(probe.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    EXPECT_TRUE(probe.read_until("\r\n\r\n", 3s))
        << "/health unanswered while a subscription's file read waited: the network loop is blocked\n"
        << probe.received();
    EXPECT_EQ(probe.received().rfind("HTTP/1.1 200 ", 0), 0u) << probe.received();

    paused_->release();
    EXPECT_TRUE(subscriber.read_until(answer, 5s)) << subscriber.received();
  }

  static std::string upgrade(const std::string& target) {
    return "GET " + target +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }

  temp_dir dir_;
  io_thread writer_io_, store_io_, reads_;
  boost::asio::io_context net_io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> net_guard_ =
      boost::asio::make_work_guard(net_io_);
  std::thread net_thread_;
  std::shared_ptr<paused_read_file_system> paused_;
  std::optional<store> store_;
  std::optional<http::server> server_;
};

TEST_F(in_process_server_test,
       a_websocket_subscription_opening_on_a_slow_disk_does_not_stall_other_connections) {
  // The stream is in a run of the stream index (the store was closed and
  // opened again): finding where the subscription starts reads a block of it.
  expect_health_while_opening(".sidx", upgrade("/subscribe?stream=cold-ws&from=0"), "HTTP/1.1 101 ");
}

TEST_F(in_process_server_test, a_consumer_opening_on_a_slow_disk_does_not_stall_other_connections) {
  expect_health_while_opening("consumers/cold-consumer/c1.consumer",
                              upgrade("/subscribe?stream=cold-consumer&consumer=c1"), "HTTP/1.1 101 ");
}

TEST_F(in_process_server_test, an_sse_subscription_opening_on_a_slow_disk_does_not_stall_other_connections) {
  expect_health_while_opening(
      ".sidx", "GET /streams/cold-sse?live=true HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
      "HTTP/1.1 200 ");
}

}  // namespace
