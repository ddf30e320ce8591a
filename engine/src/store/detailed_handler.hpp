// The error-code-only completion the engine's internals call, for an
// operation whose caller's handler takes (error_code, detail)
// (evstore/completion.hpp): the detail is made where the operation started,
// from the code and what the operation was, so that internals completing with
// a bare code (the indexer, close) need not change.
#pragma once

#include <evstore/completion.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace evstore::detail {

using detailed_handler_type = boost::asio::any_completion_handler<detailed_signature>;

template <class Describe>
class detailed_handler {
 public:
  detailed_handler(detailed_handler_type handler, Describe describe)
      : handler_(std::move(handler)), describe_(std::move(describe)) {}

  void operator()(boost::system::error_code ec) {
    auto handler = std::move(handler_);
    std::move(handler)(ec, ec ? describe_(ec) : std::string());
  }

  const detailed_handler_type& handler() const { return handler_; }

 private:
  detailed_handler_type handler_;
  Describe describe_;
};

// `handler` as an error-code-only completion; `describe(ec)` makes the detail.
template <class Describe>
boost::asio::any_completion_handler<void(boost::system::error_code)> with_detail(
    detailed_handler_type handler, Describe describe) {
  return detailed_handler<Describe>(std::move(handler), std::move(describe));
}

// "<what>: <the code's message>", with the errno of an OS error.
inline std::string describe_failure(std::string_view what, boost::system::error_code ec) {
  std::string d(what);
  d += ": ";
  d += ec.message();
  if (ec.category() == boost::system::system_category() ||
      ec.category() == boost::system::generic_category()) {
    d += " (errno " + std::to_string(ec.value()) + ")";
  }
  return d;
}

}  // namespace evstore::detail

template <class Describe, class Candidate>
struct boost::asio::associated_executor<evstore::detail::detailed_handler<Describe>, Candidate> {
  using type = boost::asio::any_completion_executor;
  static type get(const evstore::detail::detailed_handler<Describe>& h,
                  const Candidate& candidate = Candidate()) noexcept {
    return boost::asio::get_associated_executor(h.handler(), candidate);
  }
};
