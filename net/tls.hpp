// The server's TLS context: TLS 1.2 at least, no compression, fresh DH keys,
// a certificate chain and a private key from PEM files. Built once at start.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <optional>
#include <string>

namespace evstore::net {

// nullopt with `ec` set and `what` naming the file that did not load.
std::optional<boost::asio::ssl::context> server_tls_context(const std::string& cert_file,
                                                            const std::string& key_file,
                                                            boost::system::error_code& ec, std::string& what);

}  // namespace evstore::net
