#include "io/file_watcher.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include <sys/inotify.h>
#include <unistd.h>

namespace evstore::detail {

namespace {

// IN_ONLYDIR: a path that is not a directory fails (ENOTDIR) rather than
// watching a file, and is retried like a missing directory.
constexpr std::uint32_t watch_mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR;

}  // namespace

// Everything but the atomics and the callback mutex is touched only on the
// strand, apart from the constructor's setup before any operation starts.
struct file_watcher::state : std::enable_shared_from_this<state> {
  state(boost::asio::any_io_executor executor, std::vector<std::string> dirs,
        std::chrono::milliseconds interval, std::function<void()> callback)
      : strand(boost::asio::make_strand(executor)),
        inotify(strand),
        timer(strand),
        directories(std::move(dirs)),
        watches(directories.size(), -1),
        poll_interval(std::max(interval, std::chrono::milliseconds(1))),
        on_change(std::move(callback)) {}

  // Opens the inotify instance and adds the watches, synchronously: once the
  // constructor returns, the kernel queues every change for us.
  void open_inotify() {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return;  // EMFILE (instance limit), ENOSYS...: poll only
    boost::system::error_code ec;
    inotify.assign(fd, ec);
    if (ec) {
      ::close(fd);  // assign() takes ownership only on success
      return;
    }
    inotify_active = true;
    watch_missing();
  }

  // Adds a watch for each directory without one. A missing directory (or a
  // path that is not one) is retried on the next tick; any other failure
  // (ENOSPC at the watch limit, EACCES, ...) leaves polling alone in charge.
  void watch_missing() {
    for (std::size_t i = 0; i < directories.size() && inotify_active; ++i) {
      if (watches[i] >= 0) continue;
      const int wd = ::inotify_add_watch(inotify.native_handle(), directories[i].c_str(), watch_mask);
      if (wd >= 0) {
        watches[i] = wd;
      } else if (errno != ENOENT && errno != ENOTDIR) {
        disable_inotify();
      }
    }
  }

  void disable_inotify() {
    inotify_active = false;
    std::fill(watches.begin(), watches.end(), -1);
    if (!inotify.is_open()) return;
    // Closing an instance that has watches waits for a kernel (SRCU) grace
    // period: ~15 ms here, over a second on a loaded machine. That must not
    // stall the executor, which runs the store's other work, so the close
    // happens on a thread of its own.
    const int fd = inotify.release();  // aborts a pending read
    try {
      std::thread([fd] { ::close(fd); }).detach();
    } catch (const std::system_error&) {
      ::close(fd);  // no thread to be had: block rather than leak
    }
  }

  // On the strand, after the constructor.
  void start() {
    if (stopped) return;
    arm_timer();
    if (inotify_active) read();
  }

  void read() {
    inotify.async_read_some(
        boost::asio::buffer(buffer),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (stopped || ec == boost::asio::error::operation_aborted) return;
    if (ec) {  // not expected from inotify; don't spin on it
      disable_inotify();
      return;
    }
    // Every event means "changed", including IN_Q_OVERFLOW (events were
    // dropped). IN_IGNORED says a watch is gone (its directory was deleted):
    // the next tick re-adds it if the directory comes back.
    for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
      inotify_event event;
      std::memcpy(&event, buffer.data() + off, sizeof event);  // the buffer holds no aligned objects
      if (event.mask & IN_IGNORED) std::replace(watches.begin(), watches.end(), event.wd, -1);
      off += sizeof(inotify_event) + event.len;
    }
    read();  // re-armed first: the events are parsed, and a throwing on_change must not stop the watch
    notify();
  }

  void arm_timer() {
    timer.expires_after(poll_interval);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) { self->on_tick(ec); });
  }

  void on_tick(boost::system::error_code ec) {
    if (stopped || ec == boost::asio::error::operation_aborted) return;
    // Watch first, then call: whatever the follower then misses in a directory
    // that just appeared, the new watch reports.
    if (inotify_active) watch_missing();
    arm_timer();
    notify();
  }

  void notify() {
    std::lock_guard lock(callback_mutex);
    if (!stopped) on_change();
  }

  // Returns false if already stopped.
  bool mark_stopped() {
    std::lock_guard lock(callback_mutex);
    return !stopped.exchange(true);
  }

  // On the strand: the I/O objects are not thread-safe. Their aborted
  // handlers then drop the last references to this state.
  void close() {
    timer.cancel();
    disable_inotify();
  }

  boost::asio::strand<boost::asio::any_io_executor> strand;
  boost::asio::posix::stream_descriptor inotify;
  boost::asio::steady_timer timer;
  const std::vector<std::string> directories;
  std::vector<int> watches;  // per directory: its watch descriptor, or -1 when not watched
  const std::chrono::milliseconds poll_interval;
  // Large enough for many events; at least one event with the longest name.
  std::array<char, 64 * (sizeof(inotify_event) + 16) + sizeof(inotify_event) + NAME_MAX + 1> buffer;

  const std::function<void()> on_change;
  // Held while on_change runs, and by stop() to set `stopped`: once stop()
  // returns no call is in progress (on another thread) nor will start.
  // Recursive so that on_change itself may stop the watcher.
  std::recursive_mutex callback_mutex;
  std::atomic<bool> stopped{false};
  std::atomic<bool> inotify_active{false};
};

file_watcher::file_watcher(boost::asio::any_io_executor executor, std::vector<std::string> directories,
                           std::chrono::milliseconds poll_interval, std::function<void()> on_change,
                           bool use_inotify)
    : state_(std::make_shared<state>(std::move(executor), std::move(directories), poll_interval,
                                     std::move(on_change))) {
  if (use_inotify) state_->open_inotify();
  // The asynchronous operations start on the strand, so that no handler ever
  // runs while this thread still touches the state.
  boost::asio::post(state_->strand, [s = state_] { s->start(); });
}

file_watcher::~file_watcher() { stop(); }

void file_watcher::stop() {
  if (!state_->mark_stopped()) return;
  // Inline when already on the strand (stop() from on_change), else queued.
  boost::asio::dispatch(state_->strand, [s = state_] { s->close(); });
}

bool file_watcher::using_inotify() const { return !state_->stopped && state_->inotify_active; }

}  // namespace evstore::detail
