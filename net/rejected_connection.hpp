// A connection refused at the connection limit: the owner's short answer
// (bytes of its protocol; net/ knows none), then a lingering close: what the
// client still sends is read and discarded, up to `drain_limit` bytes or for
// `linger`, so it reads the answer instead of a reset.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace evstore::net {

void reject_connection(boost::asio::ip::tcp::socket socket, std::string answer, std::size_t drain_limit,
                       std::chrono::milliseconds linger);

}  // namespace evstore::net
