// The bench's environment: temporary stores, the loop that runs a store (the
// application's event loop), and the events it appends. Part of harness.hpp.
#pragma once

#include "bench_options.hpp"

namespace evstore::bench {

// ---------------------------------------------------------------------------
// Environment: temp directories, an io_context thread, events

class temp_dir {
 public:
  temp_dir(const std::string& base, const std::string& tag, bool keep) : keep_(keep) {
    std::string tmpl = base + "/evstore-bench-" + tag + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + base);
    path_ = tmpl;
  }
  ~temp_dir() {
    if (keep_) {
      std::fprintf(stderr, "  kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool keep_;
};

// One io_context run by one thread: the application's event loop. Appends are
// issued from it, completions run on it (the store's strand lives on it).
class loop {
 public:
  loop() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~loop() {
    guard_.reset();
    thread_.join();
  }
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;
  asio::io_context& io() { return io_; }
  store::executor_type executor() { return io_.get_executor(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

inline store open_store(loop& l, const std::string& dir, bool durable = false,
                        std::size_t max_open_files = 512) {
  evstore::store_options o;
  o.directory = dir;
  o.fsync_on_flush = durable;
  o.max_open_files = max_open_files;
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + dir + ": " + s.error().message());
  return std::move(*s);
}

// A store with any options on the loop; throws if it does not open.
inline store open_store_with(loop& l, const evstore::store_options& o) {
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + o.directory + ": " + s.error().message());
  return std::move(*s);
}

inline void close_store(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&done](boost::system::error_code ec) { done.set_value(ec); });
  if (auto ec = f.get()) throw std::runtime_error("close: " + ec.message());
}

inline const std::string event_type = "OrderPlaced";

// A JSON object of exactly 120 bytes, different for every i.
inline std::string payload(std::size_t i) {
  char buf[160];
  const int n = std::snprintf(buf, sizeof buf,
                              R"({"orderId":"ord-%08zu","customer":"cust-%05zu","sku":"SKU-%06zu","qty":%zu,)"
                              R"("price":%zu.%02zu,"currency":"EUR","pad":")",
                              i, i % 100000, (i * 7919) % 1000000, i % 9 + 1, i % 500 + 1, i % 100);
  std::string s(buf, static_cast<std::size_t>(n));
  constexpr std::size_t target = 120;
  if (s.size() + 2 < target) s.append(target - s.size() - 2, 'x');
  s += "\"}";
  return s;
}

inline event_data make_event(std::size_t i) { return event_data{event_type, payload(i), {}, std::nullopt}; }

// Bytes a record of this event takes in a partition (payload + framing).
inline std::size_t record_bytes(std::string_view type, std::string_view data, std::string_view metadata) {
  return evstore::detail::format::record_size(type.size(), data.size(), metadata.size());
}

inline std::string stream_name(std::size_t i, std::size_t streams) {
  if (streams == 1) return "orders";
  char buf[32];
  std::snprintf(buf, sizeof buf, "order-%04zu", i % streams);
  return buf;
}

}  // namespace evstore::bench
