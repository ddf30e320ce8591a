#include "support/store_fixture.hpp"

#include "format/layout.hpp"

#include <boost/uuid/random_generator.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <stdexcept>

namespace evstore::test {

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/evstore-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

event_data make_event(std::string type, std::string data, std::optional<boost::uuids::uuid> id) {
  return event_data{std::move(type), std::move(data), {}, id};
}

std::vector<event_data> make_events(std::size_t n, const std::string& type) {
  std::vector<event_data> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(make_event(type, "{\"i\":" + std::to_string(i) + "}"));
  return out;
}

boost::uuids::uuid random_id() {
  thread_local boost::uuids::random_generator gen;
  return gen();
}

append_outcome append_wait(store& s, const std::string& stream, std::vector<event_data> events,
                           expected_version expected) {
  std::promise<append_outcome> done;
  auto f = done.get_future();
  s.append(stream, std::move(events), expected, [&done](boost::system::error_code ec, append_result r) {
    done.set_value({ec, r});
  });
  return f.get();
}

append_outcome delete_stream_wait(store& s, const std::string& stream, delete_options o) {
  std::promise<append_outcome> done;
  auto f = done.get_future();
  s.delete_stream(stream, o, [&done](boost::system::error_code ec, append_result r) {
    done.set_value({ec, r});
  });
  return f.get();
}

append_outcome metadata_wait(store& s, const std::string& stream, stream_metadata m,
                             expected_version expected) {
  std::promise<append_outcome> done;
  auto f = done.get_future();
  s.set_stream_metadata(stream, m, expected, [&done](boost::system::error_code ec, append_result r) {
    done.set_value({ec, r});
  });
  return f.get();
}

boost::system::error_code close_wait(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&done](boost::system::error_code ec) { done.set_value(ec); });
  return f.get();
}

boost::system::error_code commit_wait(consumer& c, std::uint64_t position, std::string state) {
  std::promise<boost::system::error_code> done;
  c.commit(position, std::move(state), [&](boost::system::error_code ec) { done.set_value(ec); });
  auto f = done.get_future();
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    return make_error_code(boost::system::errc::timed_out);
  return f.get();
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool wait_for_store_gone(file_system& fs, const std::string& dir) {
  return wait_until([&] { return fs.lock(detail::layout::lock_file(dir)).has_value(); });
}

std::vector<std::string> files_holding(const std::string& dir, std::string_view needle) {
  std::vector<std::string> out;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) out.push_back(f.path().string());
  }
  return out;
}

}  // namespace evstore::test
