// The outstanding work of an asynchronous operation, held as every Asio
// operation holds it: on the executor the operation belongs to (the store's,
// or a subscription's) and on the completion handler's associated executor,
// from initiation until the handler has run.
//
// Without it an io_context whose only work is an append waiting on the
// store's own I/O thread (fsync mode), a consumer commit or a read-stream
// back-fill on the background thread runs out of work: run() returns, and the
// completion is posted to a context nobody runs again.
#pragma once

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>

#include <utility>

namespace evstore::detail {

template <class Signature>
class tracked_handler;

template <class... Args>
class tracked_handler<void(Args...)> {
 public:
  tracked_handler(boost::asio::any_completion_handler<void(Args...)> handler,
                  const boost::asio::any_io_executor& io)
      : handler_(std::move(handler)),
        io_work_(boost::asio::prefer(io, boost::asio::execution::outstanding_work.tracked)),
        handler_work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, io),
                                          boost::asio::execution::outstanding_work.tracked)) {}

  // The work is released when this object goes, after the handler returned
  // (any_completion_handler moves it out of its storage before the call).
  void operator()(Args... args) {
    auto handler = std::move(handler_);
    std::move(handler)(std::forward<Args>(args)...);
  }

  // The wrapped handler's executor, not ours: the operation completes where
  // the caller asked for it.
  const boost::asio::any_completion_handler<void(Args...)>& handler() const { return handler_; }

 private:
  boost::asio::any_completion_handler<void(Args...)> handler_;
  boost::asio::any_io_executor io_work_;
  boost::asio::any_completion_executor handler_work_;
};

// `handler`, holding work on `io` and on its own executor until it has run.
template <class... Args>
boost::asio::any_completion_handler<void(Args...)> track_work(
    boost::asio::any_completion_handler<void(Args...)> handler, const boost::asio::any_io_executor& io) {
  return tracked_handler<void(Args...)>(std::move(handler), io);
}

}  // namespace evstore::detail

template <class Signature, class Candidate>
struct boost::asio::associated_executor<evstore::detail::tracked_handler<Signature>, Candidate> {
  using type = boost::asio::any_completion_executor;
  static type get(const evstore::detail::tracked_handler<Signature>& h,
                  const Candidate& candidate = Candidate()) noexcept {
    return boost::asio::get_associated_executor(h.handler(), candidate);
  }
};
