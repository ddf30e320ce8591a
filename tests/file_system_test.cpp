// Tests of the file-system seam: the POSIX implementation against a real temp
// directory, the memory file system's power-loss model, and fault injection.
#include <evstore/file_system.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

namespace evstore {
using namespace evstore::testing;
namespace {

const_buffer_span bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Writes at an offset and fails the test on error.
void write(file& f, std::uint64_t offset, const std::string& s) {
  ASSERT_FALSE(f.write_at(offset, bytes_of(s)));
}

std::string read_all(file& f) {
  auto size = f.size();
  EXPECT_TRUE(size.has_value());
  if (!size) return {};
  std::string out(static_cast<std::size_t>(*size), '\0');
  auto n = f.read_at(0, std::as_writable_bytes(std::span(out.data(), out.size())));
  EXPECT_TRUE(n.has_value());
  if (!n) return {};
  out.resize(*n);
  return out;
}

std::unique_ptr<file> open_or_fail(file_system& fs, const std::string& path, open_mode mode) {
  auto f = fs.open(path, mode);
  EXPECT_TRUE(f.has_value()) << path << ": " << (f ? "" : f.error().message());
  return f ? std::move(*f) : nullptr;
}

std::unique_ptr<file_lock> lock_or_fail(file_system& fs, const std::string& path) {
  auto l = fs.lock(path);
  EXPECT_TRUE(l.has_value()) << path << ": " << (l ? "" : l.error().message());
  return l ? std::move(*l) : nullptr;
}

bool is_errno(const error_code& ec, int e) { return ec == error_code(e, boost::system::system_category()); }

// ---------------------------------------------------------------------------
// memory_file_system

// A file "store/f" whose name and contents `durable` are durable.
std::unique_ptr<file> durable_file(memory_file_system& fs, const std::string& durable) {
  EXPECT_FALSE(fs.create_directories("store"));
  auto f = open_or_fail(fs, "store/f", open_mode::read_write_create);
  if (!durable.empty()) {
    EXPECT_FALSE(f->write_at(0, bytes_of(durable)));
  }
  EXPECT_FALSE(f->sync());
  EXPECT_FALSE(fs.sync_directory("store"));
  return f;
}

TEST(memory_fs, synced_only_power_loss_keeps_last_synced_bytes) {
  memory_file_system fs;
  auto f = durable_file(fs, "hello");
  write(*f, 5, " world");
  write(*f, 0, "J");
  EXPECT_EQ(fs.contents("store/f"), "Jello world");

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.contents("store/f"), "hello");
  auto reopened = open_or_fail(fs, "store/f", open_mode::read_only);
  EXPECT_EQ(read_all(*reopened), "hello");
}

TEST(memory_fs, synced_file_keeps_its_bytes_in_every_mode) {
  for (auto mode : {power_loss_mode::synced_only, power_loss_mode::random_prefix, power_loss_mode::garbage}) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      memory_file_system fs;
      auto f = durable_file(fs, std::string(3000, 'x'));
      fs.power_loss(mode, seed);
      EXPECT_EQ(fs.contents("store/f"), std::string(3000, 'x'));
    }
  }
}

TEST(memory_fs, unsynced_new_file_disappears_without_directory_sync) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("store"));
  auto f = open_or_fail(fs, "store/new", open_mode::read_write_create);
  write(*f, 0, "data");
  ASSERT_FALSE(f->sync());  // the bytes are durable, the name is not
  EXPECT_TRUE(fs.exists("store/new"));

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_FALSE(fs.exists("store/new"));
  EXPECT_TRUE(fs.exists("store"));  // directories are durable at once
  EXPECT_TRUE(fs.files().empty());
  auto missing = fs.open("store/new", open_mode::read_only);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(), boost::system::errc::no_such_file_or_directory);
}

TEST(memory_fs, new_file_survives_after_directory_sync) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("store"));
  auto f = open_or_fail(fs, "store/new", open_mode::read_write_create);
  write(*f, 0, "data");
  ASSERT_FALSE(f->sync());
  ASSERT_FALSE(fs.sync_directory("store"));

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.contents("store/new"), "data");
}

TEST(memory_fs, directory_sync_covers_only_its_own_entries) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("store/sub"));
  ASSERT_TRUE(open_or_fail(fs, "store/a", open_mode::read_write_create));
  ASSERT_TRUE(open_or_fail(fs, "store/sub/b", open_mode::read_write_create));
  ASSERT_FALSE(fs.sync_directory("store"));

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.files(), std::vector<std::string>{"store/a"});
}

TEST(memory_fs, rename_without_directory_sync_reverts) {
  memory_file_system fs;
  auto f = durable_file(fs, "v1");
  ASSERT_FALSE(fs.rename("store/f", "store/g"));
  EXPECT_FALSE(fs.exists("store/f"));
  EXPECT_EQ(fs.contents("store/g"), "v1");

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.files(), std::vector<std::string>{"store/f"});
  EXPECT_EQ(fs.contents("store/f"), "v1");
}

TEST(memory_fs, rename_over_existing_file_reverts_to_old_target) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("d"));
  fs.set_contents("d/current", "old");
  auto tmp = open_or_fail(fs, "d/tmp", open_mode::read_write_create);
  write(*tmp, 0, "new");
  ASSERT_FALSE(tmp->sync());
  ASSERT_FALSE(fs.rename("d/tmp", "d/current"));
  EXPECT_EQ(fs.contents("d/current"), "new");

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.contents("d/current"), "old");
  EXPECT_FALSE(fs.exists("d/tmp"));
}

TEST(memory_fs, rename_is_durable_after_directory_sync) {
  memory_file_system fs;
  auto f = durable_file(fs, "v1");
  ASSERT_FALSE(fs.rename("store/f", "store/g"));
  ASSERT_FALSE(fs.sync_directory("store"));

  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.files(), std::vector<std::string>{"store/g"});
  EXPECT_EQ(fs.contents("store/g"), "v1");
}

TEST(memory_fs, remove_without_directory_sync_reverts) {
  memory_file_system fs;
  auto f = durable_file(fs, "keep");
  ASSERT_FALSE(fs.remove("store/f"));
  EXPECT_FALSE(fs.exists("store/f"));
  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_EQ(fs.contents("store/f"), "keep");

  ASSERT_FALSE(fs.remove("store/f"));
  ASSERT_FALSE(fs.sync_directory("store"));
  fs.power_loss(power_loss_mode::synced_only, 1);
  EXPECT_FALSE(fs.exists("store/f"));
}

TEST(memory_fs, open_file_follows_its_inode_across_rename_and_remove) {
  memory_file_system fs;
  auto f = durable_file(fs, "abc");
  ASSERT_FALSE(fs.rename("store/f", "store/g"));
  write(*f, 3, "d");
  EXPECT_EQ(fs.contents("store/g"), "abcd");
  ASSERT_FALSE(fs.remove("store/g"));
  write(*f, 4, "e");  // like writing to an unlinked file: allowed, invisible
  EXPECT_EQ(read_all(*f), "abcde");
  EXPECT_TRUE(fs.files().empty());
}

TEST(memory_fs, random_prefix_keeps_a_prefix_of_writes) {
  // Mutations in order; the expected states are the prefixes applied to "base".
  const std::string base = "base";
  const std::vector<std::string> prefixes = {base,  "AAAAA",   "AABBB",
                                             "AAB", "AABzzzz", std::string("AABzzzz\0\0\0", 10)};
  const auto run = [&](memory_file_system& fs) {
    auto f = durable_file(fs, base);
    write(*f, 0, "AAAAA");
    write(*f, 2, "BBB");
    ASSERT_FALSE(f->truncate(3));
    const std::string z = "zz";
    const const_buffer_span parts[] = {bytes_of(z), bytes_of(z)};
    ASSERT_FALSE(f->write_gather(3, parts));
    ASSERT_FALSE(f->allocate(10));
    EXPECT_EQ(fs.contents("store/f"), prefixes.back());
  };

  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    memory_file_system fs;
    run(fs);
    fs.power_loss(power_loss_mode::random_prefix, seed);
    const std::string got = fs.contents("store/f");
    EXPECT_NE(std::find(prefixes.begin(), prefixes.end(), got), prefixes.end())
        << "seed " << seed << ": " << got;
    seen.insert(got);

    // After the power loss the outcome is the new durable state.
    fs.power_loss(power_loss_mode::synced_only, seed);
    EXPECT_EQ(fs.contents("store/f"), got);
  }
  EXPECT_EQ(seen.size(), prefixes.size()) << "every prefix, including none and all, should occur";
}

TEST(memory_fs, random_prefix_is_reproducible_for_a_seed) {
  const auto outcome = [](std::uint64_t seed) {
    memory_file_system fs;
    auto f = durable_file(fs, "");
    for (int i = 0; i < 20; ++i)
      write(*f, static_cast<std::uint64_t>(i), std::string(1, static_cast<char>('a' + i)));
    fs.power_loss(power_loss_mode::random_prefix, seed);
    return fs.contents("store/f");
  };
  for (std::uint64_t seed = 0; seed < 10; ++seed) EXPECT_EQ(outcome(seed), outcome(seed));
}

TEST(memory_fs, garbage_mode_keeps_grown_size) {
  const std::string old_bytes(1024, 'a');  // two durable sectors
  std::set<int> outcomes;                  // 0 new, 1 old, 2 zeros, 3 other
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    memory_file_system fs;
    auto f = durable_file(fs, old_bytes);
    write(*f, 0, std::string(512, 'c'));     // sector 0 changed
    write(*f, 1024, std::string(700, 'n'));  // sectors 2 and 3 (partial) new
    fs.power_loss(power_loss_mode::garbage, seed);

    const std::string got = fs.contents("store/f");
    ASSERT_EQ(got.size(), 1724u) << "seed " << seed;
    EXPECT_EQ(got.substr(512, 512), std::string(512, 'a')) << "an unchanged sector never changes";
    struct sector {
      std::size_t at, len;
      char new_byte, old_byte;
    };
    for (const sector s :
         {sector{0, 512, 'c', 'a'}, sector{1024, 512, 'n', '\0'}, sector{1536, 188, 'n', '\0'}}) {
      const std::string piece = got.substr(s.at, s.len);
      if (piece == std::string(s.len, s.new_byte)) {
        outcomes.insert(0);
      } else if (piece == std::string(s.len, s.old_byte)) {
        outcomes.insert(s.old_byte == '\0' ? 2 : 1);
      } else if (piece == std::string(s.len, '\0')) {
        outcomes.insert(2);
      } else {
        outcomes.insert(3);
      }
    }
  }
  EXPECT_EQ(outcomes, (std::set<int>{0, 1, 2, 3}));
}

TEST(memory_fs, read_beyond_end_of_file_returns_zero_bytes) {
  memory_file_system fs;
  auto f = durable_file(fs, "abc");
  std::byte buf[8];
  auto n = f->read_at(10, buf);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0u);
  n = f->read_at(1, buf);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(static_cast<char>(buf[0]), 'b');
}

TEST(memory_fs, allocate_grows_with_zeros_and_never_shrinks) {
  memory_file_system fs;
  auto f = durable_file(fs, "abc");
  ASSERT_FALSE(f->allocate(8));
  EXPECT_EQ(fs.contents("store/f"), std::string("abc\0\0\0\0\0", 8));
  ASSERT_FALSE(f->allocate(2));
  EXPECT_EQ(f->size().value(), 8u);
  ASSERT_FALSE(f->truncate(2));
  EXPECT_EQ(fs.contents("store/f"), "ab");
}

TEST(memory_fs, read_only_file_rejects_writes) {
  memory_file_system fs;
  durable_file(fs, "abc");
  auto f = open_or_fail(fs, "store/f", open_mode::read_only);
  EXPECT_TRUE(is_errno(f->write_at(0, bytes_of("x")), EBADF));
  EXPECT_TRUE(is_errno(f->truncate(0), EBADF));
  EXPECT_EQ(fs.contents("store/f"), "abc");
}

TEST(memory_fs, open_requires_existing_file_and_parent_directory) {
  memory_file_system fs;
  auto r = fs.open("nodir/f", open_mode::read_write_create);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), boost::system::errc::no_such_file_or_directory);
  ASSERT_FALSE(fs.create_directories("d"));
  r = fs.open("d/f", open_mode::read_write);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), boost::system::errc::no_such_file_or_directory);
  r = fs.open("d", open_mode::read_only);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(is_errno(r.error(), EISDIR));
}

TEST(memory_fs, list_returns_names_of_files_and_directories) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("/s/sub/deeper"));
  ASSERT_TRUE(open_or_fail(fs, "/s/a", open_mode::read_write_create));
  ASSERT_TRUE(open_or_fail(fs, "/s//b", open_mode::read_write_create));  // normalised
  auto names = fs.list("/s/");
  ASSERT_TRUE(names.has_value());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  EXPECT_FALSE(fs.list("/nope").has_value());
  EXPECT_EQ(fs.files(), (std::vector<std::string>{"/s/a", "/s/b"}));
}

TEST(memory_fs, remove_of_non_empty_directory_fails) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("d/e"));
  EXPECT_TRUE(is_errno(fs.remove("d"), ENOTEMPTY));
  ASSERT_FALSE(fs.remove("d/e"));
  ASSERT_FALSE(fs.remove("d"));
  EXPECT_FALSE(fs.exists("d"));
  EXPECT_TRUE(is_errno(fs.remove("d"), ENOENT));
}

TEST(memory_fs, directory_rename_moves_the_subtree_durably) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("tmp/inner"));
  ASSERT_FALSE(fs.create_directories("tmp-sibling"));
  fs.set_contents("tmp/inner/x", "x");
  fs.set_contents("tmp-sibling/y", "y");
  ASSERT_FALSE(fs.rename("tmp", "final"));
  fs.power_loss(power_loss_mode::synced_only, 0);
  EXPECT_EQ(fs.files(), (std::vector<std::string>{"final/inner/x", "tmp-sibling/y"}));
  EXPECT_FALSE(fs.exists("tmp"));
  EXPECT_TRUE(fs.exists("final/inner"));
}

TEST(memory_fs, set_contents_is_durable) {
  memory_file_system fs;
  fs.set_contents("a/b/c", "corrupt");
  EXPECT_TRUE(fs.exists("a/b"));
  fs.power_loss(power_loss_mode::garbage, 3);
  EXPECT_EQ(fs.contents("a/b/c"), "corrupt");
  EXPECT_EQ(fs.contents("a/b/missing"), "");
}

TEST(memory_fs, second_lock_fails_until_first_is_released) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("s"));
  auto first = lock_or_fail(fs, "s/LOCK");
  ASSERT_TRUE(first);
  EXPECT_TRUE(fs.exists("s/LOCK"));
  auto second = fs.lock("s/LOCK");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), make_error_code(errc::store_locked));
  EXPECT_TRUE(fs.lock("s/OTHER").has_value());
  first.reset();
  EXPECT_TRUE(fs.lock("s/LOCK").has_value());
}

TEST(memory_fs, power_loss_releases_locks_of_the_dead_process) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("s"));
  auto old_lock = lock_or_fail(fs, "s/LOCK");
  ASSERT_TRUE(old_lock);
  ASSERT_FALSE(fs.sync_directory("s"));
  fs.power_loss(power_loss_mode::synced_only, 0);
  auto new_lock = lock_or_fail(fs, "s/LOCK");
  ASSERT_TRUE(new_lock);
  old_lock.reset();  // must not release the new holder's lock
  EXPECT_FALSE(fs.lock("s/LOCK").has_value());
}

TEST(memory_fs, concurrent_file_and_namespace_operations_are_safe) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_directories("s"));
  constexpr int threads = 4;
  constexpr int rounds = 200;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&fs, t] {
      const std::string name = "s/f" + std::to_string(t);
      auto f = fs.open(name, open_mode::read_write_create);
      if (!f) return;
      for (int i = 0; i < rounds; ++i) {
        const std::string byte(1, static_cast<char>('a' + t));
        (void)(*f)->write_at(static_cast<std::uint64_t>(i), bytes_of(byte));
        std::byte b[1];
        (void)(*f)->read_at(0, b);
        if (i % 10 == 0) {
          (void)(*f)->sync();
          (void)fs.sync_directory("s");
          (void)fs.list("s");
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) fs.power_loss(power_loss_mode::random_prefix, static_cast<std::uint64_t>(i));
  for (auto& w : workers) w.join();
  // Power losses raced with the writers, so only the shape is predictable.
  for (const auto& name : fs.files()) EXPECT_LE(fs.contents(name).size(), std::size_t{rounds});
  EXPECT_LE(fs.files().size(), std::size_t{threads});
}

// ---------------------------------------------------------------------------
// fault_injecting_file_system

struct fault_fixture {
  std::shared_ptr<memory_file_system> mem = std::make_shared<memory_file_system>();
  fault_injecting_file_system fs{mem};
};

const error_code custom_error(ENOSPC, boost::system::system_category());

TEST(fault_fs, operation_count_counts_mutating_operations_only) {
  fault_fixture t;
  ASSERT_FALSE(t.fs.create_directories("s"));                        // 1
  auto f = open_or_fail(t.fs, "s/f", open_mode::read_write_create);  // 2
  write(*f, 0, "abc");                                               // 3
  ASSERT_FALSE(f->sync());                                           // 4
  ASSERT_FALSE(f->allocate(10));                                     // 5
  ASSERT_FALSE(f->truncate(3));                                      // 6
  ASSERT_FALSE(t.fs.sync_directory("s"));                            // 7
  EXPECT_EQ(t.fs.operation_count(), 7u);

  auto ro = open_or_fail(t.fs, "s/f", open_mode::read_only);
  EXPECT_EQ(read_all(*ro), "abc");
  EXPECT_TRUE(t.fs.exists("s/f"));
  EXPECT_TRUE(t.fs.list("s").has_value());
  EXPECT_TRUE(t.fs.lock("s/LOCK").has_value());
  EXPECT_EQ(t.fs.operation_count(), 7u);

  ASSERT_FALSE(t.fs.rename("s/f", "s/g"));  // 8
  ASSERT_FALSE(t.fs.remove("s/g"));         // 9
  EXPECT_EQ(t.fs.operation_count(), 9u);
}

TEST(fault_fs, fails_kth_operation_once) {
  fault_fixture t;
  ASSERT_FALSE(t.fs.create_directories("s"));
  auto f = open_or_fail(t.fs, "s/f", open_mode::read_write_create);
  t.fs.fail_operation(2, custom_error, false);
  write(*f, 0, "one");                                       // 1st from now: ok
  EXPECT_EQ(f->write_at(3, bytes_of("two")), custom_error);  // 2nd: fails
  EXPECT_EQ(t.mem->contents("s/f"), "one") << "a failed write does nothing";
  write(*f, 3, "three");  // later ones work again
  EXPECT_EQ(t.mem->contents("s/f"), "onethree");
  EXPECT_FALSE(t.fs.sync_directory("s"));
}

TEST(fault_fs, failure_applies_to_file_system_operations_too) {
  fault_fixture t;
  ASSERT_FALSE(t.fs.create_directories("s"));
  t.fs.fail_operation(1, custom_error, false);
  auto r = t.fs.open("s/f", open_mode::read_write_create);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), custom_error);
  EXPECT_FALSE(t.mem->exists("s/f")) << "a failed create creates nothing";

  t.mem->set_contents("s/a", "a");
  t.fs.fail_operation(1, custom_error, false);
  EXPECT_EQ(t.fs.rename("s/a", "s/b"), custom_error);
  EXPECT_TRUE(t.mem->exists("s/a"));
  EXPECT_FALSE(t.mem->exists("s/b"));
}

TEST(fault_fs, read_count_counts_reads_apart_from_mutating_operations) {
  fault_fixture t;
  t.mem->set_contents("s/f", "abc");
  auto ro = open_or_fail(t.fs, "s/f", open_mode::read_only);   // read 1
  EXPECT_EQ(read_all(*ro), "abc");                             // size + read_at: 2, 3
  auto rw = open_or_fail(t.fs, "s/f", open_mode::read_write);  // read 4
  EXPECT_TRUE(t.fs.list("s").has_value());                     // read 5
  EXPECT_TRUE(t.fs.exists("s/f"));                             // never counted
  EXPECT_EQ(t.fs.read_count(), 5u);
  EXPECT_EQ(t.fs.operation_count(), 0u);
  write(*rw, 3, "d");
  EXPECT_EQ(t.fs.read_count(), 5u);
  EXPECT_EQ(t.fs.operation_count(), 1u);
}

TEST(fault_fs, fails_kth_read_once_or_persistently) {
  fault_fixture t;
  t.mem->set_contents("s/f", "abc");
  auto f = open_or_fail(t.fs, "s/f", open_mode::read_only);
  std::array<std::byte, 3> buf{};
  t.fs.fail_read(2, custom_error, false);
  EXPECT_TRUE(f->size().has_value());  // 1st from now: ok
  auto r = f->read_at(0, buf);         // 2nd: fails
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), custom_error);
  EXPECT_EQ(read_all(*f), "abc") << "a once-only read fault passes";

  t.fs.fail_read(1, custom_error, true);
  auto opened = t.fs.open("s/f", open_mode::read_only);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error(), custom_error);
  EXPECT_FALSE(t.fs.list("s").has_value());
  EXPECT_FALSE(f->size().has_value());
  EXPECT_TRUE(t.fs.open("s/g", open_mode::read_write_create).has_value())
      << "read faults leave mutating operations alone";
  t.fs.clear_faults();
  EXPECT_EQ(read_all(*f), "abc");
}

TEST(fault_fs, persistent_failure_fails_every_later_operation) {
  fault_fixture t;
  ASSERT_FALSE(t.fs.create_directories("s"));
  auto f = open_or_fail(t.fs, "s/f", open_mode::read_write_create);
  t.fs.fail_operation(2, custom_error, true);
  write(*f, 0, "ok");
  EXPECT_EQ(f->sync(), custom_error);
  EXPECT_EQ(f->write_at(2, bytes_of("x")), custom_error);
  EXPECT_EQ(f->truncate(0), custom_error);
  EXPECT_EQ(f->allocate(100), custom_error);
  EXPECT_EQ(t.fs.create_directories("t"), custom_error);
  EXPECT_EQ(t.fs.remove("s/f"), custom_error);
  EXPECT_EQ(t.mem->contents("s/f"), "ok");
  EXPECT_FALSE(t.mem->exists("t"));

  // Reads still work while failing.
  EXPECT_EQ(read_all(*f), "ok");

  t.fs.clear_faults();
  EXPECT_FALSE(f->sync());
  EXPECT_FALSE(t.fs.remove("s/f"));
  EXPECT_FALSE(t.mem->exists("s/f"));
}

TEST(fault_fs, crash_after_k_leaves_files_untouched) {
  fault_fixture t;
  ASSERT_FALSE(t.fs.create_directories("s"));
  auto f = open_or_fail(t.fs, "s/f", open_mode::read_write_create);
  write(*f, 0, "durable");
  ASSERT_FALSE(f->sync());
  ASSERT_FALSE(t.fs.sync_directory("s"));

  t.fs.crash_after(1);
  write(*f, 7, "+1");  // the one operation that still happens
  const error_code eio(EIO, boost::system::system_category());
  EXPECT_EQ(f->write_at(9, bytes_of("+2")), eio);
  EXPECT_EQ(f->sync(), eio);
  EXPECT_EQ(t.fs.rename("s/f", "s/g"), eio);
  EXPECT_EQ(t.fs.remove("s/f"), eio);
  auto created = t.fs.open("s/new", open_mode::read_write_create);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error(), eio);

  EXPECT_EQ(t.mem->files(), std::vector<std::string>{"s/f"});
  EXPECT_EQ(t.mem->contents("s/f"), "durable+1");
  t.mem->power_loss(power_loss_mode::synced_only, 0);
  EXPECT_EQ(t.mem->contents("s/f"), "durable");
}

TEST(fault_fs, crash_after_zero_fails_the_next_operation) {
  fault_fixture t;
  t.fs.crash_after(0);
  EXPECT_EQ(t.fs.create_directories("s"), error_code(EIO, boost::system::system_category()));
  EXPECT_FALSE(t.mem->exists("s"));
}

// ---------------------------------------------------------------------------
// posix_file_system

class posix_fs : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "evstore_fs_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  std::string path(const std::string& name) const { return root + "/" + name; }

  std::shared_ptr<file_system> fs = posix_file_system();
  std::string root;
};

TEST_F(posix_fs, returns_one_shared_instance) { EXPECT_EQ(posix_file_system().get(), fs.get()); }

TEST_F(posix_fs, write_gather_then_read_back) {
  auto f = open_or_fail(*fs, path("g"), open_mode::read_write_create);
  ASSERT_TRUE(f);
  // More buffers than IOV_MAX, with empty ones mixed in, so chunking is exercised.
  std::vector<std::string> pieces;
  std::string expected;
  for (std::size_t i = 0; i < IOV_MAX * 2 + 7; ++i) {
    pieces.push_back(i % 5 == 0 ? std::string{} : std::string(i % 13 + 1, static_cast<char>('a' + i % 26)));
    expected += pieces.back();
  }
  std::vector<const_buffer_span> bufs;
  bufs.reserve(pieces.size());
  for (const auto& p : pieces) bufs.push_back(bytes_of(p));
  ASSERT_FALSE(f->write_gather(100, bufs));
  ASSERT_FALSE(f->sync());

  EXPECT_EQ(f->size().value(), 100 + expected.size());
  const std::string got = read_all(*f);
  EXPECT_EQ(got.substr(0, 100), std::string(100, '\0'));
  EXPECT_EQ(got.substr(100), expected);

  // A second object on the same file sees the bytes too.
  auto ro = open_or_fail(*fs, path("g"), open_mode::read_only);
  EXPECT_EQ(read_all(*ro), got);
  EXPECT_TRUE(is_errno(ro->write_at(0, bytes_of("x")), EBADF));
}

TEST_F(posix_fs, read_beyond_end_of_file_returns_short_count) {
  auto f = open_or_fail(*fs, path("r"), open_mode::read_write_create);
  write(*f, 0, "abc");
  std::byte buf[16];
  EXPECT_EQ(f->read_at(1, buf).value(), 2u);
  EXPECT_EQ(f->read_at(50, buf).value(), 0u);
}

TEST_F(posix_fs, new_file_has_mode_0600_and_missing_file_fails_to_open) {
  auto r = fs->open(path("missing"), open_mode::read_write);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), boost::system::errc::no_such_file_or_directory);
  EXPECT_FALSE(fs->exists(path("missing")));

  ASSERT_TRUE(open_or_fail(*fs, path("new"), open_mode::read_write_create));
  struct stat st {};
  ASSERT_EQ(::stat(path("new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto d = fs->open(root, open_mode::read_only);
  ASSERT_FALSE(d.has_value());
  EXPECT_TRUE(is_errno(d.error(), EISDIR));
}

TEST_F(posix_fs, second_lock_fails_with_store_locked) {
  auto first = lock_or_fail(*fs, path("LOCK"));
  ASSERT_TRUE(first);
  EXPECT_TRUE(fs->exists(path("LOCK")));
  // flock locks belong to the open file description, so a second open in the
  // same process conflicts.
  auto second = fs->lock(path("LOCK"));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error(), make_error_code(errc::store_locked));
  first.reset();
  auto third = fs->lock(path("LOCK"));
  EXPECT_TRUE(third.has_value());
}

TEST_F(posix_fs, allocate_grows_with_zeros) {
  auto f = open_or_fail(*fs, path("a"), open_mode::read_write_create);
  write(*f, 0, "abc");
  const std::uint64_t target = (3u << 20) + 17;  // several 1 MiB chunks plus a tail
  ASSERT_FALSE(f->allocate(target));
  ASSERT_EQ(f->size().value(), target);
  const std::string got = read_all(*f);
  EXPECT_EQ(got.substr(0, 3), "abc");
  EXPECT_EQ(got.find_first_not_of('\0', 3), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path("a").c_str(), &st), 0);
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, target - 4096) << "blocks are really allocated";

  ASSERT_FALSE(f->allocate(10));  // never shrinks
  EXPECT_EQ(f->size().value(), target);
  ASSERT_FALSE(f->truncate(2));
  EXPECT_EQ(read_all(*f), "ab");
}

TEST_F(posix_fs, create_directories_makes_private_parents_and_is_idempotent) {
  const std::string deep = path("x/y/z");
  ASSERT_FALSE(fs->create_directories(deep + "/"));
  ASSERT_FALSE(fs->create_directories(deep));
  struct stat st {};
  ASSERT_EQ(::stat(path("x/y").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(fs->sync_directory(deep));
  EXPECT_TRUE(is_errno(fs->sync_directory(path("nope")), ENOENT));

  ASSERT_TRUE(open_or_fail(*fs, path("file"), open_mode::read_write_create));
  EXPECT_TRUE(fs->create_directories(path("file/sub")));
}

TEST_F(posix_fs, list_rename_and_remove) {
  ASSERT_FALSE(fs->create_directories(path("sub")));
  ASSERT_TRUE(open_or_fail(*fs, path("one"), open_mode::read_write_create));
  auto names = fs->list(root);
  ASSERT_TRUE(names.has_value());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"one", "sub"}));

  ASSERT_FALSE(fs->rename(path("one"), path("two")));
  EXPECT_FALSE(fs->exists(path("one")));
  EXPECT_TRUE(fs->exists(path("two")));
  ASSERT_FALSE(fs->remove(path("two")));
  ASSERT_FALSE(fs->remove(path("sub")));  // empty directories too
  EXPECT_TRUE(fs->list(root).value().empty());
  EXPECT_TRUE(is_errno(fs->remove(path("two")), ENOENT));
  EXPECT_FALSE(fs->list(path("gone")).has_value());
}

TEST_F(posix_fs, works_behind_fault_injection) {
  fault_injecting_file_system faulty(fs);
  auto f = open_or_fail(faulty, path("f"), open_mode::read_write_create);
  faulty.fail_operation(1, custom_error, false);
  EXPECT_EQ(f->write_at(0, bytes_of("x")), custom_error);
  EXPECT_EQ(f->size().value(), 0u);
  write(*f, 0, "y");
  EXPECT_EQ(read_all(*f), "y");
}

}  // namespace
}  // namespace evstore
