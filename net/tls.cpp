// The server's TLS context. See tls.hpp.
#include "tls.hpp"

// Asio's SSL support is compiled once, here (BOOST_ASIO_SEPARATE_COMPILATION).
#include <boost/asio/ssl/impl/src.hpp>

namespace evstore::net {

std::optional<boost::asio::ssl::context> server_tls_context(const std::string& cert_file,
                                                            const std::string& key_file,
                                                            boost::system::error_code& ec,
                                                            std::string& what) {
  using ctx_t = boost::asio::ssl::context;
  std::optional<ctx_t> ctx(std::in_place, ctx_t::tls_server);
  ctx->set_options(ctx_t::default_workarounds | ctx_t::no_sslv2 | ctx_t::no_sslv3 | ctx_t::no_tlsv1 |
                   ctx_t::no_tlsv1_1 | ctx_t::no_compression | ctx_t::single_dh_use);
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    what = "cannot load TLS certificate " + cert_file;
    return std::nullopt;
  }
  ctx->use_private_key_file(key_file, ctx_t::pem, ec);
  if (ec) {
    what = "cannot load TLS key " + key_file;
    return std::nullopt;
  }
  return ctx;
}

}  // namespace evstore::net
