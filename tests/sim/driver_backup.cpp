// Online backup. backup_store() works on real directories, so the simulation
// copies its in-memory store to a temporary directory first and again after
// every append it makes during the copy (from the progress callback, which
// runs between the files the backup copies): to the backup, the directory
// looks like a store that a writer is appending to.
#include "checker.hpp"
#include "driver.hpp"
#include <evstore/backup.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

namespace evstore::sim {
namespace {

namespace fs = std::filesystem;

// Makes `to` hold exactly the files under `from` on `disk`, with their current bytes.
void mirror(const memory_file_system& disk, const std::string& from, const fs::path& to) {
  const std::string prefix = from + "/";
  std::set<fs::path> present;
  for (const std::string& path : disk.files()) {
    if (!path.starts_with(prefix)) continue;
    const fs::path target = to / path.substr(prefix.size());
    fs::create_directories(target.parent_path());
    const std::string bytes = disk.contents(path);
    std::ofstream(target, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    present.insert(target);
  }
  std::vector<fs::path> gone;
  for (const auto& e : fs::recursive_directory_iterator(to)) {
    if (e.is_regular_file() && !present.contains(e.path())) gone.push_back(e.path());
  }
  for (const auto& p : gone) fs::remove(p);
}

}  // namespace

void driver::backup() {
  // Scratch space for the copy, not the disk under test: memory (/dev/shm)
  // where there is one, because the backup fsyncs every file it writes.
  const char* tmp = std::getenv("TMPDIR");
  std::error_code ec;
  const fs::path scratch =
      fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::path(tmp ? tmp : "/tmp");
  const fs::path base = scratch / ("evstore-sim-" + std::to_string(::getpid()) + "-" + std::to_string(seed_) +
                                   "-" + std::to_string(step_));
  fs::remove_all(base);
  struct cleanup {
    fs::path dir;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } guard{base};
  const fs::path src = base / "src", dst = base / "copy";
  fs::create_directories(src);
  mirror(*disk_, directory, src);
  const std::uint64_t lo = model_.all().size();
  int appended = 0;
  auto progress = [&](std::uint64_t, std::uint64_t) {
    if (appended >= 4 || !writer_ || writer_failed_ || !rng_.chance(35)) return;
    ++appended;
    nested_append(rng_.pick(stream_names()));  // sometimes a new stream, created after the copy listed them
    settle();
    mirror(*disk_, directory, src);
  };
  auto report = backup_store(src.string(), dst.string(), progress);
  const std::uint64_t hi = model_.all().size();
  trace_.add("  backup: " + (report ? std::to_string(report->events) + " events" : report.error().message()));
  expect(report.has_value(), "backup: failed: " + (report ? "" : report.error().message()));
  {
    boost::asio::io_context io;
    auto copy = store::open(io.get_executor(), {.directory = dst.string(), .system_streams = false});
    expect(copy.has_value(), "backup: the copy does not open: " + (copy ? "" : copy.error().message()));
    check_copy(*copy, model_, lo, hi);
  }
}

}  // namespace evstore::sim
