// Online backup by copying files in an order that makes the copy look like a
// store after a crash, which recovery already knows how to finish.
//
// A store of format 2 (format.hpp) is the partition logs plus what points
// into them: $all's entries (index/all.idx), the stream index's runs (named
// by index/manifest) and the checkpoint. The logs and all.idx only grow (a
// writer's open may cut a torn tail, but no writer opens while another
// writes); runs are immutable and only replaced by compaction, which keeps
// what they cover. Files are copied in this order:
//
//   consumer checkpoints   (positions the copied events will cover)
//   store.json
//   index/checkpoint       (all_count N, each log's end E[p], all durable now)
//   index/manifest + runs  (cover $all below D; D <= what the logs held when
//                           the runs were written, which was before the copy)
//   index/all.idx          (at least N entries: the checkpoint came after them)
//   log/*.evs              (each at least E[p] long, holding every record
//                           below D, plus whatever was written meanwhile)
//   links/read_streams.json
//
// What recovery needs of the copy then holds: the logs are complete up to the
// checkpoint's ends (copied after it, and the logs only grow); all.idx holds
// at least all_count entries; the runs exist, and cover no position the logs
// lack, since every record below D was in its log before the manifest was
// read and each log is copied after that. Records past E[p] form the tail
// recovery scans: it keeps the positions that follow each other up to the
// last complete append and cuts the rest (a record the copy caught half
// written, an append of which only some partitions were copied), so the copy
// is the store as it was at one instant. Compaction may remove a run between
// the manifest's read and the run's copy: then the manifest is read and its
// runs copied again (the run files copied before stay as orphans, which the
// first open removes).
//
// The segments are listed only once all.idx is copied, so a segment created
// meanwhile (a roll-over) is copied too. The follower head and the links are
// not copied: the copy gets a head when opened, and links are rebuilt from $all.
#include "format/layout.hpp"
#include "index/index_manifest.hpp"
#include "store/scavenge_lock.hpp"
#include <evstore/backup.hpp>
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace evstore {
namespace {

namespace fs = std::filesystem;
using detail::layout::join;

[[nodiscard]] boost::system::error_code last_error() { return {errno, boost::system::system_category()}; }

struct plan_entry {
  std::string from, to;
  std::uint64_t size = 0;  // the size when the plan was made; grown files are copied to this length at least
};

// Every regular file under `sub` (recursively) whose name ends in `suffix`,
// but for one named `except`, in name order.
void add_tree(const std::string& source, const std::string& destination, const std::string& sub,
              std::string_view suffix, std::string_view except, std::vector<plan_entry>& plan,
              std::error_code& ec) {
  const fs::path root = fs::path(source) / sub;
  if (!fs::exists(root, ec)) return;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (!name.ends_with(suffix) || name == except) continue;
    files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const auto rel = fs::relative(p, source, ec);
    plan.push_back({p.string(), (fs::path(destination) / rel).string(), 0});
  }
}

// Copies `e.from` to `e.to` as it is now: its length is read once at the
// start, so a file that grows meanwhile is copied to that length. nullopt if
// it was removed meanwhile (a consumer, a run compaction replaced).
[[nodiscard]] result<std::optional<std::uint64_t>> copy_one(const plan_entry& e) {
  const int in = ::open(e.from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return std::optional<std::uint64_t>();
    return error(last_error(), "cannot read " + e.from);
  }
  struct stat st {};
  if (::fstat(in, &st) != 0) {
    const auto ec = last_error();
    ::close(in);
    return error(ec, "cannot stat " + e.from);
  }
  const int out = ::open(e.to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    const auto ec = last_error();
    ::close(in);
    return error(ec, "cannot create " + e.to);
  }
  std::uint64_t done = 0;
  const auto length = static_cast<std::uint64_t>(st.st_size);
  boost::system::error_code ec;
  while (done < length) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, length - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_error();
      break;
    }
    if (n == 0) break;  // the file got shorter: copy what there is
    done += static_cast<std::uint64_t>(n);
  }
  ::close(in);
  ::close(out);
  if (ec) return error(ec, "cannot copy " + e.from + " to " + e.to);
  return std::optional<std::uint64_t>(done);
}

// fsync of every file and directory under `dir`, and of `dir`.
[[nodiscard]] boost::system::error_code sync_tree(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> paths{dir};
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) || it->is_regular_file(ec)) paths.push_back(it->path().string());
  }
  if (ec) return ec;
  for (const auto& d : paths) {
    const int fd = ::open(d.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return last_error();
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return last_error();
  }
  return {};
}

// Opens the copy as a writer (recovery finishes it) and closes it.
[[nodiscard]] result<backup_report> finish_copy(const std::string& destination, backup_report report) {
  boost::asio::io_context io;
  auto s = store::open(io.get_executor(), {.directory = destination});
  if (!s) return error(s.error().code, "the copy does not open: " + s.error().message());
  report.events = s->event_count();
  report.streams = s->stream_count();
  // The close completes from the store's background thread: keep the loop
  // running until it has.
  auto work = boost::asio::make_work_guard(io);
  boost::system::error_code closed;
  s->close([&](boost::system::error_code ec) {
    closed = ec;
    work.reset();
  });
  io.run();
  if (closed) return error(closed, "closing the copy");
  return report;
}

// What is copied before the stream index (see the top of this file).
std::vector<plan_entry> first_files(const std::string& source, const std::string& destination,
                                    std::error_code& ec) {
  std::vector<plan_entry> plan;
  add_tree(source, destination, "consumers", ".consumer", {}, plan, ec);
  plan.push_back({detail::layout::store_json(source), detail::layout::store_json(destination), 0});
  plan.push_back({detail::layout::checkpoint(source), detail::layout::checkpoint(destination), 0});
  return plan;
}

// The manifest and the runs it names now (none if it cannot be read whole).
std::vector<plan_entry> index_files(const std::string& source, const std::string& destination) {
  std::vector<plan_entry> plan;
  const std::string from = detail::layout::index_dir(source), to = detail::layout::index_dir(destination);
  plan.push_back({join(from, detail::manifest_name), join(to, detail::manifest_name), 0});
  auto manifest = detail::index_manifest::read(*posix_file_system(), from);
  if (manifest && *manifest) {
    for (const detail::manifest_run& run : (*manifest)->runs) {
      const std::string name = detail::run_file_name(run.seq);
      plan.push_back({join(from, name), join(to, name), 0});
    }
  }
  return plan;
}

// True if the copied manifest (if any) names only runs the copy holds.
bool complete_index(const std::string& destination) {
  const std::string dir = detail::layout::index_dir(destination);
  auto manifest = detail::index_manifest::read(*posix_file_system(), dir);
  if (!manifest) return false;  // torn while copied: copy it again
  if (!*manifest) return true;  // a store that never wrote a run
  std::error_code ec;
  for (const detail::manifest_run& run : (*manifest)->runs) {
    if (!fs::exists(join(dir, detail::run_file_name(run.seq)), ec)) return false;
  }
  return true;
}

// What follows the stream index.
std::vector<plan_entry> log_files(const std::string& source, const std::string& destination,
                                  std::error_code& ec) {
  std::vector<plan_entry> plan;
  plan.push_back({detail::layout::all_entries(source), detail::layout::all_entries(destination), 0});
  add_tree(source, destination, "log", ".evs", {}, plan, ec);
  plan.push_back({join(detail::layout::links_dir(source), "read_streams.json"),
                  join(detail::layout::links_dir(destination), "read_streams.json"), 0});
  return plan;
}

// Notes each file's size now; returns their sum.
std::uint64_t measure(std::vector<plan_entry>& plan, std::error_code& ec) {
  std::uint64_t bytes = 0;
  for (plan_entry& e : plan) {
    e.size = fs::exists(e.from, ec) ? fs::file_size(e.from, ec) : 0;
    bytes += e.size;
  }
  return bytes;
}

// Copies plans into `destination`, counting what it copied into `report` and
// reporting progress against `total`, an estimate.
struct copier {
  const std::string& destination;
  const std::function<void(std::uint64_t, std::uint64_t)>& progress;
  std::uint64_t total = 0;
  std::uint64_t copied = 0;
  backup_report report;

  [[nodiscard]] result<void> copy_all(const std::vector<plan_entry>& plan, std::error_code& ec) {
    for (const plan_entry& e : plan) {
      if (!fs::exists(e.from, ec)) continue;  // optional files, or removed meanwhile
      const auto parent = fs::path(e.to).parent_path();
      // Directories as the store makes them: owner only.
      for (auto p = parent; p.string().size() > destination.size() && !fs::exists(p, ec);
           p = p.parent_path()) {
        fs::create_directories(p, ec);
        fs::permissions(p, fs::perms::owner_all, ec);
      }
      if (ec) return error(ec, "cannot create " + parent.string());
      auto n = copy_one(e);
      if (!n) return n.error();
      if (!*n) continue;  // removed meanwhile
      ++report.files;
      report.bytes += **n;
      copied += std::max(**n, e.size);
      if (progress) progress(std::min(copied, total), total);
    }
    return {};
  }
};

}  // namespace

[[nodiscard]] result<backup_report> backup_store(
    const std::string& source, const std::string& destination,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  std::error_code ec;
  if (!fs::exists(detail::layout::store_json(source), ec)) {
    return error(errc::invalid_argument, "no evstore store in " + source);
  }
  if (fs::exists(destination, ec) && !fs::is_empty(destination, ec)) {
    return error(errc::invalid_argument, destination + " is not empty: a backup goes into a new directory");
  }

  // For progress only: the files as they are now.
  auto first = first_files(source, destination, ec);
  auto estimate = log_files(source, destination, ec);
  if (ec) return error(ec, "cannot list " + source);
  auto index_estimate = index_files(source, destination);
  copier copy{destination, progress};
  copy.total = measure(first, ec) + measure(index_estimate, ec) + measure(estimate, ec);

  // A scavenge's batch rewrites records in place: none may run while we
  // copy (it waits). A store we cannot lock (a read-only mount) has no writer
  // scavenging it.
  auto no_scavenge = detail::lock_scavenge(*posix_file_system(), source);
  fs::create_directories(destination, ec);
  if (ec) return error(ec, "cannot create " + destination);
  fs::permissions(destination, fs::perms::owner_all, ec);
  if (auto r = copy.copy_all(first, ec); !r) return r.error();
  // A batch a failed scavenge left half done (its entries marked, some
  // records not yet erased): the copy finishes it at its first open.
  if (fs::exists(detail::layout::scavenge_state(source), ec)) {
    std::vector<plan_entry> note{
        {detail::layout::scavenge_state(source), detail::layout::scavenge_state(destination), 0}};
    if (auto r = copy.copy_all(note, ec); !r) return r.error();
  }
  // The manifest and its runs, again while compaction changes them: until
  // every run the copied manifest names was copied (each round reads the
  // manifest anew; runs already copied are immutable and kept).
  for (int round = 0;; ++round) {
    auto index = index_files(source, destination);
    fs::remove(index.front().to, ec);
    std::vector<plan_entry> todo{index.front()};
    for (std::size_t i = 1; i < index.size(); ++i) {
      if (!fs::exists(index[i].to, ec)) todo.push_back(index[i]);
    }
    if (auto r = copy.copy_all(todo, ec); !r) return r.error();
    if (complete_index(destination)) break;
    if (round == 100) {
      return error(boost::system::errc::make_error_code(boost::system::errc::resource_unavailable_try_again),
                   "the stream index of " + source + " kept changing while it was copied");
    }
  }
  auto logs = log_files(source, destination, ec);
  if (ec) return error(ec, "cannot list " + source);
  copy.total = std::max(copy.total, copy.copied + measure(logs, ec));
  if (auto r = copy.copy_all(logs, ec); !r) return r.error();
  no_scavenge = {};
  auto finished = finish_copy(destination, copy.report);
  if (!finished) return finished;
  // Recovery's cuts and the new checkpoint, durable before we say "done".
  if (auto sec = sync_tree(destination)) return error(sec, "cannot sync " + destination);
  return finished;
}

}  // namespace evstore
