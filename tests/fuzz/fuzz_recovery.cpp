// Fuzz target: opening, recovering, reading and verifying a store whose files
// were damaged. A valid store image (buffered or durable, several streams,
// multi-event appends) is built once; each input is a list of edits to it:
//
//   edit := u8 file | u8 op | u32 offset | u8 length | length bytes
//   op % 4: 0 overwrite, 1 truncate at offset, 2 zero `length` bytes, 3 xor
//
// Whatever the damage, nothing crashes, and every event a read returns is the
// event stored at its position: damage is refused or cut, never served.
#include "fuzz_check.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/io_context.hpp>

#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using image = std::map<std::string, std::string>;

struct original_event {
  std::string stream, type, data;
  std::uint64_t version = 0;
};

struct fixture {
  image files;
  std::vector<original_event> by_position;
};

fixture build(bool durable) {
  fixture f;
  auto fs = std::make_shared<evstore::testing::memory_file_system>();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  {
    auto s = evstore::store::open(io.get_executor(),
                                  {.directory = "/s", .fsync_on_flush = durable, .file_system = fs});
    FUZZ_CHECK(s);
    for (int i = 0; i < 12; ++i) {
      const std::string stream = "cart-" + std::to_string(i % 3);
      std::vector<evstore::event_data> events;
      for (int k = 0; k <= i % 3; ++k) {
        events.push_back({"Added" + std::to_string(k),
                          "{\"i\":" + std::to_string(i) + ",\"k\":" + std::to_string(k) + "}",
                          {},
                          {}});
      }
      std::promise<void> done;
      s->append(stream, std::move(events), evstore::expect::any,
                [&](boost::system::error_code ec, evstore::append_result) {
                  FUZZ_CHECK(!ec);
                  done.set_value();
                });
      done.get_future().get();
    }
    for (const auto& e : s->events("$all")) {
      f.by_position.push_back({std::string(e.stream), std::string(e.type), std::string(e.data), e.version});
    }
    std::promise<void> closed;
    s->close([&](boost::system::error_code) { closed.set_value(); });
    closed.get_future().get();
  }
  work.reset();
  t.join();
  for (const std::string& p : fs->files()) f.files[p] = fs->contents(p);
  return f;
}

void check_read(const evstore::recorded_event& e, const fixture& f) {
  FUZZ_CHECK(e.position < f.by_position.size());
  const original_event& o = f.by_position[e.position];
  FUZZ_CHECK(e.stream == o.stream && e.type == o.type && e.data == o.data && e.version == o.version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fixture images[2] = {build(false), build(true)};
  if (size == 0) return 0;
  const fixture& f = images[data[0] % 2];
  std::vector<std::string> names;
  for (const auto& [path, bytes] : f.files) names.push_back(path);
  image files = f.files;
  for (std::size_t at = 1; at + 7 <= size;) {
    std::string& file = files[names[data[at] % names.size()]];
    const std::uint8_t op = data[at + 1] % 4;
    std::uint32_t offset = 0;
    for (int i = 0; i < 4; ++i) offset |= static_cast<std::uint32_t>(data[at + 2 + i]) << (8 * i);
    const std::size_t length = data[at + 6];
    at += 7;
    if (file.empty()) continue;
    offset %= static_cast<std::uint32_t>(file.size());
    const std::size_t n = std::min({length, size - at, file.size() - offset});
    switch (op) {
      case 0: file.replace(offset, n, reinterpret_cast<const char*>(data + at), n); break;
      case 1: file.resize(offset); break;
      case 2: file.replace(offset, n, n, '\0'); break;
      default:
        for (std::size_t i = 0; i < n; ++i)
          file[offset + i] = static_cast<char>(file[offset + i] ^ data[at + i]);
    }
    at += op == 1 ? 0 : n;
  }
  auto fs = std::make_shared<evstore::testing::memory_file_system>();
  for (const auto& [path, bytes] : files) {
    fs->set_contents(path, bytes);
  }
  boost::asio::io_context io;
  for (bool read_only : {true, false}) {
    auto s = evstore::store::open(io.get_executor(), {.directory = "/s",
                                                      .fsync_on_flush = data[0] % 2 == 1,
                                                      .read_only = read_only,
                                                      .file_system = fs,
                                                      .follow = false,
                                                      .system_streams = false});
    if (!s) continue;  // refused: fine, as long as it says so
    auto all = s->events("$all");
    for (const auto& e : all) check_read(e, f);
    for (const auto& info : s->list_streams(0, 100)) {
      auto range = s->events(info.name);
      for (const auto& e : range) check_read(e, f);
    }
    (void)evstore::verify_store(*s);
  }
  return 0;
}
