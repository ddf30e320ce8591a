// Fuzz target: read-stream filter definitions (read_stream.hpp). The input is
// a filter's JSON (from_json, as the HTTP API takes it) and, whole, one
// condition's value (where(), as the C++ API takes it). Nothing crashes or
// throws; a filter accepted is one to_json/from_json gives back unchanged;
// and through a store it is created, stored, reloaded after a restart as the
// same filter, created again as a no-op, and still matches as before.
#include "fuzz_check.hpp"
#include "links/filter_matcher.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <boost/asio/io_context.hpp>

#include <future>
#include <string>
#include <thread>

namespace {

// A few events to match against (their data have the shapes of the seeds).
const char* const event_data[] = {R"({"total":1000,"a":1,"id":123456789012345678901234,"price":12.5})",
                                  R"({"a":[1,{"b":"x"}],"deep":[[[1]]],"s":"é\"x"})", "{}", "null"};

boost::system::error_code create(evstore::store& s, const evstore::filter& f) {
  std::promise<boost::system::error_code> done;
  s.create_read_stream("r", f, [&](boost::system::error_code ec) { done.set_value(ec); });
  return done.get_future().get();
}

void check_through_a_store(const evstore::filter& f) {
  const evstore::detail::filter_matcher before(f);
  auto fs = std::make_shared<evstore::testing::memory_file_system>();
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  const evstore::store_options o{.directory = "/s", .file_system = fs};
  {
    auto s = evstore::store::open(io.get_executor(), o);
    FUZZ_CHECK(s);
    FUZZ_CHECK(!create(*s, f));
    std::promise<boost::system::error_code> closed;
    s->close([&](boost::system::error_code ec) { closed.set_value(ec); });
    FUZZ_CHECK(!closed.get_future().get());
  }
  {
    auto s = evstore::store::open(io.get_executor(), o);
    FUZZ_CHECK(s);
    const auto list = s->list_read_streams();
    FUZZ_CHECK(list.size() == 1 && list[0].filter == before.definition());
    FUZZ_CHECK(!create(*s, f));
    const evstore::detail::filter_matcher after(list[0].filter);
    for (const char* data : event_data) {
      evstore::recorded_event e;
      e.stream = "order-1";
      e.type = "OrderPaid";
      e.data = data;
      e.metadata = data;
      FUZZ_CHECK(before.matches(e) == after.matches(e));
    }
  }
  work.reset();
  t.join();
}

void check_accepted(const evstore::filter& f) {
  FUZZ_CHECK(f.validate());
  const evstore::detail::filter_matcher m(f);
  FUZZ_CHECK(m.same_filter(f));
  auto back = evstore::filter::from_json(f.to_json());
  FUZZ_CHECK(back);
  FUZZ_CHECK(*back == m.definition());
  FUZZ_CHECK(back->to_json() == f.to_json());
  check_through_a_store(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto f = evstore::filter::from_json(text)) check_accepted(*f);
  // The C++ API takes any text as a value: it is refused or it round-trips.
  const auto f = evstore::filter::event_types({"OrderPaid"}).where("/a", std::string(text));
  if (f.validate()) check_accepted(f);
  return 0;
}
