// An io_context run by threads of its own: the store's loop of the CLI, the
// engine and read loops of evstored, the loop of the tests' fixtures. One
// class, so that starting, draining and joining are written once.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>
#include <vector>

namespace evstore::tools {

class io_threads {
 public:
  // Starts `count` threads running `io` until join() or stop(); the work
  // guard keeps them running while the context has nothing to do.
  explicit io_threads(boost::asio::io_context& io, unsigned count = 1) : io_(io), guard_(io.get_executor()) {
    for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  // Stops (see stop()) if neither join() nor stop() ran.
  ~io_threads() { stop(); }
  io_threads(const io_threads&) = delete;
  io_threads& operator=(const io_threads&) = delete;

  // Lets the threads finish the work queued and return, then joins them.
  void join() {
    guard_.reset();
    join_all();
  }
  // Abandons the work queued (io_context::stop) and joins the threads.
  void stop() {
    guard_.reset();
    io_.stop();
    join_all();
  }

 private:
  void join_all() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  boost::asio::io_context& io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace evstore::tools
