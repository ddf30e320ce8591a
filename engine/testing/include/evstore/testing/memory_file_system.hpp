// An in-memory file system that knows what a power loss would keep.
//
// Each file tracks its current bytes, the bytes as of its last sync(), and the
// writes made since; each directory tracks which names a sync_directory() has
// made durable. power_loss() then turns the state into one a real disk could
// show after losing power (docs/reliability.md):
//   synced_only   every file is cut back to its last synced contents;
//   random_prefix every file keeps a random prefix (in write order) of the writes
//                 made since its last sync;
//   garbage       every unsynced 512-byte sector independently keeps its new
//                 bytes, its old bytes, becomes zeros or random garbage, and the
//                 file keeps its grown size (this also damages synced bytes that
//                 share a sector with an unsynced write);
//   torn_sectors  "powersafe overwrite": every 512-byte sector holding unsynced
//                 writes is wholly old or wholly new; the file keeps its grown size;
//   torn_bytes    as torn_sectors, but the bytes written since the last sync in
//                 such a sector keep their new or old value, or become zeros or
//                 garbage; bytes no write changed keep their value.
// In every mode a name created, renamed or removed since the last
// sync_directory() of its directory reverts to its durable state.
//
// Threading: all members are safe to call from any thread (one internal mutex).
#pragma once

#include <evstore/file_system.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace evstore::testing {

enum class power_loss_mode { synced_only, random_prefix, garbage, torn_sectors, torn_bytes };

class memory_file_system final : public file_system {
 public:
  memory_file_system();
  ~memory_file_system() override;

  [[nodiscard]] boost::system::result<std::unique_ptr<file>> open(const std::string& path,
                                                                  open_mode mode) override;
  [[nodiscard]] error_code create_directories(const std::string& path) override;
  [[nodiscard]] error_code sync_directory(const std::string& path) override;
  bool exists(const std::string& path) override;
  [[nodiscard]] error_code rename(const std::string& from, const std::string& to) override;
  [[nodiscard]] error_code remove(const std::string& path) override;
  [[nodiscard]] boost::system::result<std::vector<std::string>> list(const std::string& dir) override;
  [[nodiscard]] boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& path) override;

  // Simulates losing power now. Open file objects keep working on the new state
  // (as a restarted process would after reopening), but the test should reopen.
  void power_loss(power_loss_mode mode, std::uint64_t seed);

  // Test access: the current bytes of a file (empty string if missing), and a way to
  // overwrite them (durably, making its parent directories) to inject corruption or
  // load an image of a store.
  std::string contents(const std::string& path) const;
  void set_contents(const std::string& path, const std::string& bytes);
  // Every file path that currently exists, sorted.
  std::vector<std::string> files() const;

  struct state;  // implementation detail, public so that file objects can share it

 private:
  std::shared_ptr<state> state_;
};

}  // namespace evstore::testing
