// Uses the installed evstore::engine: opens a store in a fresh temporary
// directory, appends two events, reads them back. Prints "package consumer ok".
#include <evstore/error.hpp>
#include <evstore/store.hpp>
#include <evstore/types.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Runs an io_context on its own thread until destroyed.
class io_thread {
 public:
  io_thread() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;
  ~io_thread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& context() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Removes the temporary directory on scope exit.
struct temp_dir {
  std::filesystem::path path;
  ~temp_dir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

int fail(const std::string& what) {
  std::cerr << "package consumer FAILED: " << what << '\n';
  return 1;
}

int run() {
  std::string pattern = (std::filesystem::temp_directory_path() / "evstore-consumer-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return fail("mkdtemp failed");
  const temp_dir dir{pattern};

  io_thread io;  // outlives the store: destroyed after it
  {
    evstore::store_options options;
    options.directory = (dir.path / "store").string();
    auto opened = evstore::store::open(io.context().get_executor(), options);
    if (!opened) return fail("open: " + opened.error().message());
    evstore::store store = std::move(*opened);

    std::vector<evstore::event_data> events;
    events.push_back({"item_added", R"({"sku":"A-1","qty":2})", {}, {}});
    events.push_back({"checked_out", R"({"total":1999})", {}, {}});
    std::future<evstore::append_result> appended =
        store.append("cart-1", std::move(events), evstore::expect::no_stream, boost::asio::use_future);
    const evstore::append_result result = appended.get();  // throws system_error on failure
    if (result.first_version != 0 || result.version != 1 || !result.created_stream) {
      return fail("unexpected append result: versions " + std::to_string(result.first_version) + ".." +
                  std::to_string(result.version));
    }

    auto page = store.read("cart-1");
    if (!page) return fail("read: " + page.error().message());
    if (page->events.size() != 2)
      return fail("expected 2 events, got " + std::to_string(page->events.size()));
    if (page->events[0].type != "item_added" || page->events[1].type != "checked_out") {
      return fail("unexpected event types: " + std::string(page->events[0].type) + ", " +
                  std::string(page->events[1].type));
    }
    if (page->events[0].stream != "cart-1" || page->events[1].version != 1) {
      return fail("unexpected stream name or version");
    }

    store.close(boost::asio::use_future).get();
  }

  std::cout << "package consumer ok\n";
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    return fail(std::string("exception: ") + e.what());
  }
}
