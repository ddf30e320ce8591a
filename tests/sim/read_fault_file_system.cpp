#include "read_fault_file_system.hpp"

#include <cerrno>
#include <thread>
#include <utility>

namespace evstore::sim {

struct read_fault_file_system::control {
  std::mutex mutex;
  std::uint64_t reads_left = 0;  // 0: no read fault armed
  std::thread::id reader;        // only this thread's reads count
  bool fired = false;
  std::string hook_suffix;
  std::function<void()> hook;

  // Decides the fate of one read of `path`; runs the hook (outside the lock) first.
  error_code admit(const std::string& path) {
    std::function<void()> f;
    {
      std::lock_guard lock(mutex);
      if (hook && path.ends_with(hook_suffix)) f = std::exchange(hook, {});
    }
    if (f) f();
    std::lock_guard lock(mutex);
    if (reads_left == 0 || std::this_thread::get_id() != reader) return {};
    if (--reads_left > 0) return {};
    fired = true;
    return {EIO, boost::system::system_category()};
  }
};

namespace {

class read_fault_file final : public file {
 public:
  read_fault_file(std::unique_ptr<file> base, std::shared_ptr<read_fault_file_system::control> c,
                  std::string path)
      : base_(std::move(base)), control_(std::move(c)), path_(std::move(path)) {}

  boost::system::result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> buf) override {
    if (auto ec = control_->admit(path_)) return ec;
    return base_->read_at(offset, buf);
  }
  error_code write_at(std::uint64_t offset, const_buffer_span buf) override {
    return base_->write_at(offset, buf);
  }
  error_code write_gather(std::uint64_t offset, std::span<const const_buffer_span> bufs) override {
    return base_->write_gather(offset, bufs);
  }
  error_code sync() override { return base_->sync(); }
  boost::system::result<std::uint64_t> size() override { return base_->size(); }
  error_code truncate(std::uint64_t size) override { return base_->truncate(size); }
  error_code allocate(std::uint64_t size) override { return base_->allocate(size); }

 private:
  std::unique_ptr<file> base_;
  std::shared_ptr<read_fault_file_system::control> control_;
  std::string path_;
};

}  // namespace

read_fault_file_system::read_fault_file_system(std::shared_ptr<file_system> base)
    : base_(std::move(base)), control_(std::make_shared<control>()) {}

boost::system::result<std::unique_ptr<file>> read_fault_file_system::open(const std::string& path,
                                                                          open_mode mode) {
  auto f = base_->open(path, mode);
  if (!f) return f.error();
  return std::unique_ptr<file>(std::make_unique<read_fault_file>(std::move(*f), control_, path));
}

void read_fault_file_system::fail_read(std::uint64_t k) {
  std::lock_guard lock(control_->mutex);
  control_->reads_left = k == 0 ? 1 : k;
  control_->reader = std::this_thread::get_id();
  control_->fired = false;
}

void read_fault_file_system::on_first_read(std::string suffix, std::function<void()> f) {
  std::lock_guard lock(control_->mutex);
  control_->hook_suffix = std::move(suffix);
  control_->hook = std::move(f);
}

bool read_fault_file_system::clear() {
  std::lock_guard lock(control_->mutex);
  control_->reads_left = 0;
  control_->hook = {};
  return std::exchange(control_->fired, false);
}

}  // namespace evstore::sim
