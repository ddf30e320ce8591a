// Online backup by copying files in an order that makes the copy look like a
// store after a crash, which recovery already knows how to finish.
//
// Files refer to one another: $all entries to catalog records and partition
// records, stream index entries to partition records. Each file only grows
// (the checkpoint aside, which only promises what is already written), so a
// file copied later holds at least what it held when an earlier one was
// copied. Copying every referring file before the files it refers to
// therefore leaves nothing in the copy pointing at bytes the copy lacks:
//
//   consumer checkpoints   (positions the copied events will cover)
//   index/checkpoint       (promises a prefix of $all that is already written)
//   index/$all.idx         (the commit log: the copy's content is this prefix)
//   index/catalog          (a superset of the streams those entries name)
//   index/*.idx            (supersets of what those $all entries refer to)
//   streams/**.evs         (supersets of every record referred to)
//
// The stream files are listed only once $all and the catalog are copied: a
// stream created while the copy runs has its files on disk before any
// checkpoint or complete $all entry names it, so the listing finds every
// file the copied log needs (a listing made earlier would miss it).
//
// What the later files hold beyond the copied $all is an unfinished tail to
// recovery, which cuts it when the copy is first opened. The journal (durable
// mode) and the follower head are not copied: the data files already hold
// what the journal would replay, and the copy gets a head when opened.
#include "format/layout.hpp"
#include <evstore/backup.hpp>
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <future>
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
// start, so a file that grows meanwhile is copied to that length.
[[nodiscard]] result<std::uint64_t> copy_one(const plan_entry& e) {
  const int in = ::open(e.from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return std::uint64_t{0};  // removed meanwhile (a deleted read stream, a consumer)
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
  return done;
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

// The log and what names streams first (see the top of this file).
std::vector<plan_entry> log_files(const std::string& source, const std::string& destination,
                                  std::error_code& ec) {
  std::vector<plan_entry> plan;
  plan.push_back({detail::layout::store_json(source), detail::layout::store_json(destination), 0});
  add_tree(source, destination, "consumers", ".consumer", {}, plan, ec);
  plan.push_back({detail::layout::checkpoint(source), detail::layout::checkpoint(destination), 0});
  plan.push_back({detail::layout::all_index(source), detail::layout::all_index(destination), 0});
  plan.push_back({detail::layout::catalog(source), detail::layout::catalog(destination), 0});
  return plan;
}

// The stream files, listed after the log files are copied.
std::vector<plan_entry> stream_files(const std::string& source, const std::string& destination,
                                     std::error_code& ec) {
  std::vector<plan_entry> plan;
  add_tree(source, destination, "index", ".idx", "$all.idx", plan, ec);  // $all.idx is a log file
  add_tree(source, destination, "streams", ".evs", {}, plan, ec);
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
      if (!fs::exists(e.from, ec))
        continue;  // optional files (checkpoint, links definitions) or removed meanwhile
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
      ++report.files;
      report.bytes += *n;
      copied += std::max(*n, e.size);
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

  // The log and what names streams first; the stream files, listed after
  // those are copied (see the top of this file), second.
  auto log_plan = log_files(source, destination, ec);
  if (ec) return error(ec, "cannot list " + source);
  // For progress only: the stream files as they are now.
  auto estimate = stream_files(source, destination, ec);
  if (ec) return error(ec, "cannot list " + source);
  copier copy{destination, progress};
  copy.total = measure(log_plan, ec) + measure(estimate, ec);

  fs::create_directories(destination, ec);
  if (ec) return error(ec, "cannot create " + destination);
  fs::permissions(destination, fs::perms::owner_all, ec);
  if (auto r = copy.copy_all(log_plan, ec); !r) return r.error();
  auto streams = stream_files(source, destination, ec);
  if (ec) return error(ec, "cannot list " + source);
  copy.total = std::max(copy.total, copy.copied + measure(streams, ec));
  if (auto r = copy.copy_all(streams, ec); !r) return r.error();
  auto finished = finish_copy(destination, copy.report);
  if (!finished) return finished;
  // Recovery's cuts and the new checkpoint, durable before we say "done".
  if (auto sec = sync_tree(destination)) return error(sec, "cannot sync " + destination);
  return finished;
}

}  // namespace evstore
