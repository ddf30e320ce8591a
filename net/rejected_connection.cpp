// The refused connection's answer and lingering close. See rejected_connection.hpp.
#include "rejected_connection.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <memory>

namespace evstore::net {
namespace {
using tcp = boost::asio::ip::tcp;

struct rejected_connection : std::enable_shared_from_this<rejected_connection> {
  rejected_connection(tcp::socket s, std::string a, std::size_t most)
      : socket(std::move(s)), answer(std::move(a)), timer(socket.get_executor()), limit(most) {}
  void start(std::chrono::milliseconds linger) {
    timer.expires_after(linger);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->end();
    });
    boost::asio::async_write(socket, boost::asio::buffer(answer),
                             [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                               if (ec) return self->end();
                               boost::system::error_code ignored;
                               self->socket.shutdown(tcp::socket::shutdown_send, ignored);
                               self->drain();
                             });
  }
  void drain() {
    socket.async_read_some(boost::asio::buffer(buf),
                           [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                             self->drained += n;
                             if (ec || self->drained > self->limit) return self->end();
                             self->drain();
                           });
  }
  void end() {
    timer.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  tcp::socket socket;
  std::string answer;
  boost::asio::steady_timer timer;
  std::size_t limit, drained = 0;
  std::array<char, 16384> buf{};
};
}  // namespace

void reject_connection(tcp::socket socket, std::string answer, std::size_t drain_limit,
                       std::chrono::milliseconds linger) {
  std::make_shared<rejected_connection>(std::move(socket), std::move(answer), drain_limit)->start(linger);
}

}  // namespace evstore::net
