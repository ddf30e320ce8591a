// How evstore's asynchronous operations hand their error detail to each kind
// of completion token (see "Completions" in README.md):
//   * use_future / use_awaitable: a failure is thrown as an operation_error
//     (error.hpp), whose code() is the error and detail() the reason (file,
//     errno, the rule broken), instead of the bare system_error Asio makes.
//   * a callback that takes (error_code, std::string) gets the detail as its
//     second argument; one that takes (error_code) alone gets the code only.
// Subscriptions carry it in subscription_batch::detail, appends in
// append_result::detail.
#pragma once

#include <evstore/error.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

namespace evstore::detail {

// Tokens that turn an error into an exception.
template <class Token>
inline constexpr bool throws_on_error = false;
template <class Allocator>
inline constexpr bool throws_on_error<boost::asio::use_future_t<Allocator>> = true;
template <class Executor>
inline constexpr bool throws_on_error<boost::asio::use_awaitable_t<Executor>> = true;

// Whether a completion handler names an executor of its own. One that does not
// (a plain callback) runs wherever the operation completes, so the store can
// call it there without asking Asio where, or holding work for it.
template <class Handler>
inline constexpr bool has_own_executor =
    !std::is_same_v<boost::asio::associated_executor_t<Handler>, boost::asio::system_executor>;

// The internal completion of an operation with a detail.
using detailed_signature = void(boost::system::error_code, std::string);

// Adapts a handler of the token's signature to detailed_signature. Keeps the
// handler's associated executor (plain callbacks: whatever the operation
// defaults to), unlike bind_executor with a default-constructed one.
template <class Handler, bool Throws, bool TakesDetail>
struct detail_adapter {
  Handler handler;
  void operator()(boost::system::error_code ec, std::string detail) {
    if constexpr (Throws) {
      std::exception_ptr e;
      if (ec) e = std::make_exception_ptr(operation_error(ec, std::move(detail)));
      std::move(handler)(e);
    } else if constexpr (TakesDetail) {
      std::move(handler)(ec, std::move(detail));
    } else {
      std::move(handler)(ec);
    }
  }
};

// Adapts a handler of void(exception_ptr, R) to void(error_code, R) for a
// result R with a `detail` (subscription_batch): the error is thrown as an
// operation_error with that detail.
template <class Handler>
struct result_detail_adapter {
  Handler handler;
  template <class R>
  void operator()(boost::system::error_code ec, R r) {
    std::exception_ptr e;
    if (ec) e = std::make_exception_ptr(operation_error(ec, r.detail));
    std::move(handler)(e, std::move(r));
  }
};

// Initiates `init(handler)`, whose handler completes with detailed_signature,
// for any completion token (see the top of this file).
template <class Token, class Initiate>
auto initiate_detailed(Token&& token, Initiate init) {
  using token_type = std::decay_t<Token>;
  constexpr bool throws = throws_on_error<token_type>;
  constexpr bool takes_detail = std::is_invocable_v<token_type&, boost::system::error_code, std::string>;
  using signature = std::conditional_t<
      throws, void(std::exception_ptr),
      std::conditional_t<takes_detail, detailed_signature, void(boost::system::error_code)>>;
  return boost::asio::async_initiate<Token, signature>(
      [init = std::move(init)](auto handler) mutable {
        init(detail_adapter<decltype(handler), throws, takes_detail>{std::move(handler)});
      },
      token);
}

}  // namespace evstore::detail

template <class Handler, bool Throws, bool TakesDetail, class Candidate>
struct boost::asio::associated_executor<evstore::detail::detail_adapter<Handler, Throws, TakesDetail>,
                                        Candidate> {
  using type = typename boost::asio::associated_executor<Handler, Candidate>::type;
  static type get(const evstore::detail::detail_adapter<Handler, Throws, TakesDetail>& h,
                  const Candidate& candidate = Candidate()) noexcept {
    return boost::asio::get_associated_executor(h.handler, candidate);
  }
};

template <class Handler, class Candidate>
struct boost::asio::associated_executor<evstore::detail::result_detail_adapter<Handler>, Candidate> {
  using type = typename boost::asio::associated_executor<Handler, Candidate>::type;
  static type get(const evstore::detail::result_detail_adapter<Handler>& h,
                  const Candidate& candidate = Candidate()) noexcept {
    return boost::asio::get_associated_executor(h.handler, candidate);
  }
};
