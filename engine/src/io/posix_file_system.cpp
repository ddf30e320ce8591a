// The real file system: thin wrappers over POSIX calls that turn errno into
// error codes and hide EINTR and short reads/writes from the engine.
#include <evstore/file_system.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace evstore {
namespace {

// IOV_MAX is the documented limit; fall back to Linux's value where a libc hides it.
#ifdef IOV_MAX
constexpr std::size_t iov_max = IOV_MAX;
#else
constexpr std::size_t iov_max = 1024;
#endif

// allocate() writes zeros in pieces of this size: large enough for few syscalls,
// small enough not to need a big buffer.
constexpr std::size_t zero_chunk_bytes = std::size_t{1} << 20;

[[nodiscard]] error_code last_error() noexcept { return {errno, boost::system::system_category()}; }

[[nodiscard]] error_code os_error(int e) noexcept { return {e, boost::system::system_category()}; }

// Offsets come in as uint64; anything off_t cannot hold would be misread by the
// kernel as a negative offset, so reject it before the call.
bool fits_off_t(std::uint64_t offset, std::uint64_t length) noexcept {
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
  return offset <= max && length <= max - offset;
}

// Opens with EINTR retry (open can be interrupted on slow devices and FUSE).
int open_retry(const char* path, int flags, mode_t mode = 0) noexcept {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

[[nodiscard]] error_code pwrite_all(int fd, std::uint64_t offset, const_buffer_span buf) noexcept {
  if (!fits_off_t(offset, buf.size())) return os_error(EFBIG);
  while (!buf.empty()) {
    const ssize_t n = ::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    // A zero-byte write of a non-empty buffer would loop forever; the kernel only
    // does it when no space can be made, so report it as such.
    if (n == 0) return os_error(ENOSPC);
    buf = buf.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

class posix_file final : public file {
 public:
  explicit posix_file(int fd) noexcept : fd_(fd) {}
  ~posix_file() override {
    // close() errors carry nothing actionable here: durability is decided by sync(),
    // and retrying close after EINTR on Linux could close an unrelated, reused fd.
    ::close(fd_);
  }

  [[nodiscard]] boost::system::result<std::size_t> read_at(std::uint64_t offset,
                                                           std::span<std::byte> buf) override {
    if (!fits_off_t(offset, buf.size())) return os_error(EFBIG);
    std::size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return last_error();
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  [[nodiscard]] error_code write_at(std::uint64_t offset, const_buffer_span buf) override {
    return pwrite_all(fd_, offset, buf);
  }

  [[nodiscard]] error_code write_gather(std::uint64_t offset,
                                        std::span<const const_buffer_span> bufs) override {
    std::vector<iovec> iov;
    iov.reserve(bufs.size());
    std::uint64_t total = 0;
    for (const auto& b : bufs) {
      if (b.empty()) continue;  // empty iovecs only waste IOV_MAX slots
      // iovec wants a non-const pointer even for writes; pwritev never writes through it.
      iov.push_back(iovec{const_cast<std::byte*>(b.data()), b.size()});
      total += b.size();
    }
    if (!fits_off_t(offset, total)) return os_error(EFBIG);

    std::size_t first = 0;  // first iovec not yet fully written
    while (first < iov.size()) {
      const std::size_t count = std::min(iov.size() - first, iov_max);
      const ssize_t n = ::pwritev(fd_, &iov[first], static_cast<int>(count), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return last_error();
      }
      if (n == 0) return os_error(ENOSPC);
      offset += static_cast<std::uint64_t>(n);
      // A short write can stop anywhere, also inside an iovec: skip what is done
      // and trim the partially written one so the next call resumes exactly there.
      auto left = static_cast<std::size_t>(n);
      while (left > 0 && left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      }
      if (left > 0) {
        iov[first].iov_base = static_cast<std::byte*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return {};
  }

  [[nodiscard]] error_code sync() override {
    // No retry loop beyond EINTR: after a real fdatasync failure the kernel may have
    // dropped the dirty pages, so a later "successful" retry would prove nothing.
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? error_code{} : last_error();
  }

  [[nodiscard]] boost::system::result<std::uint64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return last_error();
    return static_cast<std::uint64_t>(st.st_size);
  }

  [[nodiscard]] error_code truncate(std::uint64_t new_size) override {
    if (!fits_off_t(new_size, 0)) return os_error(EFBIG);
    int rc;
    do {
      rc = ::ftruncate(fd_, static_cast<off_t>(new_size));
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? error_code{} : last_error();
  }

  // Deliberately not fallocate(): it creates *unwritten* extents, and the first
  // overwrite of such an extent must convert it to written, which is a metadata
  // change that fdatasync then has to journal. The point of preallocating is that
  // later appends into the region are pure data writes whose fdatasync only flushes
  // data, so we pay once now by writing real zero blocks.
  [[nodiscard]] error_code allocate(std::uint64_t target) override {
    auto current = size();
    if (!current) return current.error();
    std::uint64_t at = *current;
    if (at >= target) return {};
    if (!fits_off_t(target, 0)) return os_error(EFBIG);
    const std::vector<std::byte> zeros(
        static_cast<std::size_t>(std::min<std::uint64_t>(target - at, zero_chunk_bytes)));
    while (at < target) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(target - at, zeros.size()));
      if (auto ec = pwrite_all(fd_, at, const_buffer_span(zeros.data(), n))) return ec;
      at += n;
    }
    return {};
  }

  // Frees the whole blocks of the range (reads give zeros); where the file
  // system cannot punch holes, zeros are written instead.
  [[nodiscard]] error_code release(std::uint64_t offset, std::uint64_t length) override {
    if (length == 0) return {};
    if (!fits_off_t(offset, length)) return os_error(EFBIG);
    int rc;
    do {
      rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(length));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return {};
    if (errno != EOPNOTSUPP && errno != ENOSYS) return last_error();
    return file::release(offset, length);
  }

 private:
  int fd_;
};

class posix_file_lock final : public file_lock {
 public:
  explicit posix_file_lock(int fd) noexcept : fd_(fd) {}
  ~posix_file_lock() override {
    // close() alone would release the flock too; unlocking first makes the release
    // independent of any fd the process might have inherited or duplicated.
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

bool is_directory(const std::string& path) noexcept {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class posix_fs final : public file_system {
 public:
  [[nodiscard]] boost::system::result<std::unique_ptr<file>> open(const std::string& path,
                                                                  open_mode mode) override {
    int flags = 0;
    switch (mode) {
      case open_mode::read_only: flags = O_RDONLY; break;
      case open_mode::read_write: flags = O_RDWR; break;
      case open_mode::read_write_create: flags = O_RDWR | O_CREAT; break;
    }
    const int fd = open_retry(path.c_str(), flags, 0600);
    if (fd < 0) return last_error();
    // O_RDONLY happily opens a directory; refuse it here so every later read does
    // not have to, and so the memory file system can behave the same way.
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
      const error_code ec = S_ISDIR(st.st_mode) ? os_error(EISDIR) : last_error();
      ::close(fd);
      return ec;
    }
    return std::unique_ptr<file>(std::make_unique<posix_file>(fd));
  }

  [[nodiscard]] error_code create_directories(const std::string& path) override {
    if (path.empty() || is_directory(path)) return {};
    // mkdir -p, one prefix at a time. Any mkdir failure is judged by what is there
    // afterwards: EEXIST, but also EACCES on an existing parent we may not write.
    std::size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      const std::string prefix = path.substr(0, pos);
      if (prefix.empty() || prefix.back() == '/') continue;  // "//" or trailing '/'
      if (::mkdir(prefix.c_str(), 0700) == 0) continue;
      const int e = errno;
      struct stat st {};
      if (::stat(prefix.c_str(), &st) != 0) return os_error(e);
      if (!S_ISDIR(st.st_mode)) return os_error(pos == std::string::npos ? EEXIST : ENOTDIR);
    }
    return {};
  }

  [[nodiscard]] error_code sync_directory(const std::string& path) override {
    const int fd = open_retry(path.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return last_error();
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    const error_code ec = rc == 0 ? error_code{} : last_error();
    ::close(fd);
    return ec;
  }

  bool exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  [[nodiscard]] error_code rename(const std::string& from, const std::string& to) override {
    return ::rename(from.c_str(), to.c_str()) == 0 ? error_code{} : last_error();
  }

  [[nodiscard]] error_code remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return {};
    // Linux reports EISDIR for unlink of a directory, POSIX allows EPERM.
    if (errno != EISDIR && errno != EPERM) return last_error();
    return ::rmdir(path.c_str()) == 0 ? error_code{} : last_error();
  }

  [[nodiscard]] boost::system::result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return last_error();
    std::vector<std::string> names;
    for (;;) {
      errno = 0;  // readdir signals errors only through errno
      const dirent* entry = ::readdir(d);
      if (entry == nullptr) {
        const int e = errno;
        ::closedir(d);
        if (e != 0) return os_error(e);
        return names;
      }
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      names.emplace_back(entry->d_name);
    }
  }

  [[nodiscard]] boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& path) override {
    const int fd = open_retry(path.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0) return last_error();
    // flock, not fcntl locks: flock locks belong to the open file description, so a
    // second open in this same process conflicts too, and closing some other fd of
    // the file does not silently drop the lock.
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) return make_error_code(errc::store_locked);
      return os_error(e);
    }
    return std::unique_ptr<file_lock>(std::make_unique<posix_file_lock>(fd));
  }
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
  // Stateless, so one instance serves the whole process.
  static const std::shared_ptr<file_system> instance = std::make_shared<posix_fs>();
  return instance;
}

}  // namespace evstore
