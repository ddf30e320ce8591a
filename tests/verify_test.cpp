// verify_store on format 2: a clean store is clean; damage to a record, an
// $all entry, a run of the stream index, the checkpoint, or a missing segment
// is reported (never thrown), with the file and offset where known.
#include "format/format.hpp"
#include "log/log_layout.hpp"
#include "support/store_fixture.hpp"
#include <evstore/testing/memory_file_system.hpp>
#include <evstore/verify.hpp>

#include <gtest/gtest.h>

#include <algorithm>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
namespace format = evstore::detail::format;

namespace {

constexpr const char* dir = "/store";

struct verify_test : ::testing::Test {
  std::shared_ptr<memory_file_system> fs = std::make_shared<memory_file_system>();
  io_thread io;

  result<store> open() {
    return store::open(
        io.executor(),
        {.directory = dir, .file_system = fs, .partitions = 1, .segment_size = detail::min_segment_size});
  }
  // 60 events of ~400 bytes over 3 streams: segments 0 to 3 of the log.
  void build() {
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    for (int i = 0; i < 60; ++i) {
      ASSERT_FALSE(append_wait(*s, "v-" + std::to_string(i % 3),
                               {make_event("M", "{\"n\":\"" + std::string(300, 'x') + "\"}")})
                       .ec);
    }
    ASSERT_FALSE(close_wait(*s));
  }
  void flip(const std::string& path, std::size_t offset) {
    std::string bytes = fs->contents(path);
    ASSERT_LT(offset, bytes.size()) << path;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x10);
    fs->set_contents(path, bytes);
  }
  verify_report verify() {
    auto s = open();
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return {};
    verify_report r = verify_store(*s);
    EXPECT_FALSE(close_wait(*s));
    return r;
  }
};

bool mentions(const verify_report& r, const std::string& what) {
  return std::any_of(r.damage.begin(), r.damage.end(),
                     [&](const error& e) { return e.message().find(what) != std::string::npos; });
}

std::string all_messages(const verify_report& r) {
  std::string out;
  for (const error& e : r.damage) out += e.message() + "\n";
  return out;
}

}  // namespace

TEST_F(verify_test, clean_store_is_clean) {
  build();
  const verify_report r = verify();
  EXPECT_TRUE(r.clean()) << all_messages(r);
  EXPECT_EQ(r.events_checked, 60u);
  EXPECT_EQ(r.streams_checked, 3u);
}

TEST_F(verify_test, damaged_record_is_reported_with_its_segment_and_offset) {
  build();
  const std::string segment = "/store/log/" + detail::segment_name(0, 1);
  const std::string bytes = fs->contents(segment);
  // The second record of segment 1.
  const std::size_t second =
      format::segment_records_start + format::get_u32(reinterpret_cast<const std::byte*>(bytes.data() + 256));
  flip(segment, second + 90);
  const verify_report r = verify();
  EXPECT_FALSE(r.clean());
  EXPECT_TRUE(mentions(r, detail::segment_name(0, 1))) << all_messages(r);
  EXPECT_TRUE(mentions(r, "offset " + std::to_string(second))) << all_messages(r);
}

TEST_F(verify_test, damaged_all_entry_is_reported) {
  build();
  flip("/store/index/all.idx", 7 * format::all_entry2_size + 3);
  const verify_report r = verify();
  EXPECT_FALSE(r.clean());
  EXPECT_TRUE(mentions(r, "all.idx")) << all_messages(r);
}

TEST_F(verify_test, damaged_run_is_reported) {
  build();
  std::string run;
  for (const std::string& f : fs->files()) {
    if (f.ends_with(".sidx")) run = f;
  }
  ASSERT_FALSE(run.empty());
  flip(run, 10);
  const verify_report r = verify();
  EXPECT_FALSE(r.clean());
  EXPECT_TRUE(mentions(r, run.substr(run.rfind('/') + 1))) << all_messages(r);
}

TEST_F(verify_test, damaged_checkpoint_is_reported) {
  build();
  auto s = open();
  ASSERT_TRUE(s);
  fs->set_contents("/store/index/checkpoint", std::string(200, '\x33'));
  const verify_report r = verify_store(*s);
  EXPECT_TRUE(mentions(r, "index/checkpoint")) << all_messages(r);
  ASSERT_FALSE(close_wait(*s));
}

TEST_F(verify_test, missing_segment_is_reported) {
  build();
  ASSERT_TRUE(fs->exists("/store/log/" + detail::segment_name(0, 2)));
  ASSERT_FALSE(fs->remove("/store/log/" + detail::segment_name(0, 1)));
  const verify_report r = verify();
  EXPECT_FALSE(r.clean());
  EXPECT_TRUE(mentions(r, detail::segment_name(0, 1))) << all_messages(r);
}
