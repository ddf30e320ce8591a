// Fails mutating operations, and separately reads, on demand. Every mutating call first asks the shared
// control whether it may run; a refused call returns the error without touching
// the wrapped file system, so the base shows exactly the operations that "happened".
#include <evstore/testing/fault_injecting_file_system.hpp>

#include <cerrno>
#include <mutex>
#include <utility>

namespace evstore::testing {

namespace {

// The operation numbered `at` (1-based, counted since construction) fails with
// `ec`; with `persistent` every later one as well.
struct planned_failure {
  bool armed = false;
  std::uint64_t at = 0;
  error_code ec;
  bool persistent = false;

  void arm(std::uint64_t now, std::uint64_t k, error_code e, bool p) {
    armed = true;
    // k is 1-based ("the k-th from now": 1 is the next operation); 0 is read as 1
    // rather than as "already past", so a loop from 0 cannot silently test nothing.
    at = now + (k == 0 ? 1 : k);
    // An empty code would "fail" with success and run nothing; treat it as plain EIO.
    ec = e ? e : error_code{EIO, boost::system::system_category()};
    persistent = p;
  }
  [[nodiscard]] error_code check(std::uint64_t n) {
    if (!armed || !(n == at || (persistent && n > at))) return {};
    if (!persistent) armed = false;
    return ec;
  }
};

}  // namespace

struct fault_injecting_file_system::control {
  std::mutex mutex;
  // Written under the mutex; atomic so the counts can be read without locking.
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> syncs{0};  // file and directory syncs attempted

  planned_failure fail;       // mutating operations
  planned_failure read_fail;  // reads

  // crash_after: operations numbered above crash_limit fail with EIO.
  bool crash_armed = false;
  std::uint64_t crash_limit = 0;

  // Numbers the operation and decides its fate. Failed attempts are numbered too,
  // so operation_count() is the number of mutating calls the engine made.
  [[nodiscard]] error_code admit() {
    const std::lock_guard<std::mutex> guard(mutex);
    const std::uint64_t n = count.load(std::memory_order_relaxed) + 1;
    count.store(n, std::memory_order_relaxed);
    if (crash_armed && n > crash_limit) return {EIO, boost::system::system_category()};
    return fail.check(n);
  }

  // The same for a read; a crash does not stop reads (the tests read the
  // "dead" process's files through the base file system anyway).
  [[nodiscard]] error_code admit_read() {
    const std::lock_guard<std::mutex> guard(mutex);
    const std::uint64_t n = reads.load(std::memory_order_relaxed) + 1;
    reads.store(n, std::memory_order_relaxed);
    return read_fail.check(n);
  }
};

namespace {

using control = fault_injecting_file_system::control;

class faulty_file final : public file {
 public:
  faulty_file(std::unique_ptr<file> base, std::shared_ptr<control> c)
      : base_(std::move(base)), control_(std::move(c)) {}

  [[nodiscard]] boost::system::result<std::size_t> read_at(std::uint64_t offset,
                                                           std::span<std::byte> buf) override {
    if (auto ec = control_->admit_read()) return ec;
    return base_->read_at(offset, buf);
  }
  [[nodiscard]] error_code write_at(std::uint64_t offset, const_buffer_span buf) override {
    if (auto ec = control_->admit()) return ec;
    return base_->write_at(offset, buf);
  }
  [[nodiscard]] error_code write_gather(std::uint64_t offset,
                                        std::span<const const_buffer_span> bufs) override {
    if (auto ec = control_->admit()) return ec;
    return base_->write_gather(offset, bufs);
  }
  [[nodiscard]] error_code sync() override {
    control_->syncs.fetch_add(1, std::memory_order_relaxed);
    if (auto ec = control_->admit()) return ec;
    return base_->sync();
  }
  [[nodiscard]] boost::system::result<std::uint64_t> size() override {
    if (auto ec = control_->admit_read()) return ec;
    return base_->size();
  }
  [[nodiscard]] error_code truncate(std::uint64_t size) override {
    if (auto ec = control_->admit()) return ec;
    return base_->truncate(size);
  }
  [[nodiscard]] error_code allocate(std::uint64_t size) override {
    if (auto ec = control_->admit()) return ec;
    return base_->allocate(size);
  }

 private:
  std::unique_ptr<file> base_;
  std::shared_ptr<control> control_;
};

}  // namespace

fault_injecting_file_system::fault_injecting_file_system(std::shared_ptr<file_system> base)
    : base_(std::move(base)), control_(std::make_shared<control>()) {}

fault_injecting_file_system::~fault_injecting_file_system() = default;

boost::system::result<std::unique_ptr<file>> fault_injecting_file_system::open(const std::string& path,
                                                                               open_mode mode) {
  // Opening with create counts even when the file exists: whether it creates
  // depends on state the caller cannot see, and the count must not.
  if (mode == open_mode::read_write_create) {
    if (auto ec = control_->admit()) return ec;
  } else if (auto ec = control_->admit_read()) {
    return ec;
  }
  auto f = base_->open(path, mode);
  if (!f) return f.error();
  return std::unique_ptr<file>(std::make_unique<faulty_file>(std::move(*f), control_));
}

error_code fault_injecting_file_system::create_directories(const std::string& path) {
  if (auto ec = control_->admit()) return ec;
  return base_->create_directories(path);
}

error_code fault_injecting_file_system::sync_directory(const std::string& path) {
  control_->syncs.fetch_add(1, std::memory_order_relaxed);
  if (auto ec = control_->admit()) return ec;
  return base_->sync_directory(path);
}

bool fault_injecting_file_system::exists(const std::string& path) { return base_->exists(path); }

error_code fault_injecting_file_system::rename(const std::string& from, const std::string& to) {
  if (auto ec = control_->admit()) return ec;
  return base_->rename(from, to);
}

error_code fault_injecting_file_system::remove(const std::string& path) {
  if (auto ec = control_->admit()) return ec;
  return base_->remove(path);
}

boost::system::result<std::vector<std::string>> fault_injecting_file_system::list(const std::string& dir) {
  if (auto ec = control_->admit_read()) return ec;
  return base_->list(dir);
}

// Not counted: the header's list of mutating operations leaves lock() out, and the
// engine takes the lock once at open, before anything worth crashing in.
boost::system::result<std::unique_ptr<file_lock>> fault_injecting_file_system::lock(const std::string& path) {
  return base_->lock(path);
}

std::uint64_t fault_injecting_file_system::operation_count() const noexcept {
  return control_->count.load(std::memory_order_relaxed);
}

std::uint64_t fault_injecting_file_system::sync_count() const noexcept {
  return control_->syncs.load(std::memory_order_relaxed);
}

void fault_injecting_file_system::fail_operation(std::uint64_t k, error_code ec, bool persistent) {
  const std::lock_guard<std::mutex> guard(control_->mutex);
  control_->fail.arm(control_->count.load(std::memory_order_relaxed), k, ec, persistent);
}

std::uint64_t fault_injecting_file_system::read_count() const noexcept {
  return control_->reads.load(std::memory_order_relaxed);
}

void fault_injecting_file_system::fail_read(std::uint64_t k, error_code ec, bool persistent) {
  const std::lock_guard<std::mutex> guard(control_->mutex);
  control_->read_fail.arm(control_->reads.load(std::memory_order_relaxed), k, ec, persistent);
}

void fault_injecting_file_system::crash_after(std::uint64_t k) {
  const std::lock_guard<std::mutex> guard(control_->mutex);
  control_->crash_armed = true;
  control_->crash_limit = control_->count.load(std::memory_order_relaxed) + k;
}

void fault_injecting_file_system::clear_faults() {
  const std::lock_guard<std::mutex> guard(control_->mutex);
  control_->fail.armed = false;
  control_->read_fail.armed = false;
  control_->crash_armed = false;
}

}  // namespace evstore::testing
