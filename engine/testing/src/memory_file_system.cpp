// The in-memory file system. Model (see memory_file_system.hpp):
//   - A file is an inode shared by every name and open object referring to it, so an
//     open file keeps its bytes across rename and remove, like a real fd.
//   - An inode has its current bytes, the bytes as of its last sync(), and the log of
//     mutations since that sync (for power_loss_mode::random_prefix).
//   - Names live in two maps: the current namespace and the durable one. sync_directory
//     copies one directory's entries from current to durable.
//   - Directories themselves are immediately durable (create, remove and rename of a
//     directory never revert). The engine creates its directories once and syncs their
//     parents anyway; modelling their loss would add much code for little coverage.
//
// One file of ~500 lines on purpose: the inode, the two namespaces, the open file, the
// lock and power_loss() are one model whose invariants (what is durable when) only read
// as a whole; split, each part would expose the state the others keep consistent. It is
// a test double (evstore::testing), never linked into the product.
#include <evstore/testing/memory_file_system.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace evstore::testing {
namespace {

// Guards against a stray huge offset turning into a multi-gigabyte allocation.
constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 32;
constexpr std::size_t sector_bytes = 512;

[[nodiscard]] error_code os_error(int e) noexcept { return {e, boost::system::system_category()}; }

struct mutation {
  enum class kind { write, resize } what;
  std::uint64_t offset;  // write: where; resize: the new size
  std::string bytes;
};

void apply_mutation(std::string& data, const mutation& m) {
  if (m.what == mutation::kind::resize) {
    data.resize(static_cast<std::size_t>(m.offset), '\0');
    return;
  }
  const auto end = static_cast<std::size_t>(m.offset) + m.bytes.size();
  if (data.size() < end) data.resize(end, '\0');
  std::memcpy(data.data() + m.offset, m.bytes.data(), m.bytes.size());
}

// Lexical normalisation so that "a//b/", "./a/b" and "a/b" name the same entry.
// The root is "" for relative paths and "/" for absolute ones.
std::string normalize(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else {
        parts.push_back(part);
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  std::string out = !path.empty() && path[0] == '/' ? "/" : "";
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out += parts[k];
  }
  return out;
}

bool is_root(const std::string& p) { return p.empty() || p == "/"; }

std::string parent_of(const std::string& p) {
  const auto slash = p.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

std::string name_of(const std::string& p) {
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// True if `p` lies strictly inside directory `dir`.
bool is_under(const std::string& p, const std::string& dir) {
  if (dir.empty()) return !p.empty() && p[0] != '/';
  if (dir == "/") return p.size() > 1 && p[0] == '/';
  return p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/';
}

}  // namespace

struct memory_file_system::state {
  struct inode {
    std::string current;
    std::string durable;
    std::vector<mutation> log;  // since the last sync, in order
  };
  using inode_ptr = std::shared_ptr<inode>;

  mutable std::mutex mutex;
  std::map<std::string, inode_ptr> names;          // current namespace
  std::map<std::string, inode_ptr> durable_names;  // as of the last sync_directory
  std::set<std::string> dirs;                      // never contains a root
  std::map<std::string, std::uint64_t> locks;      // path -> holder token
  std::uint64_t next_lock_token = 1;

  bool dir_exists(const std::string& p) const { return is_root(p) || dirs.count(p) != 0; }

  // Creates `path` as an empty file if missing (callers hold the mutex).
  [[nodiscard]] boost::system::result<inode_ptr> create_file(const std::string& path) {
    if (auto it = names.find(path); it != names.end()) return it->second;
    if (is_root(path) || dirs.count(path) != 0) return os_error(EISDIR);
    const std::string parent = parent_of(path);
    if (!dir_exists(parent)) return os_error(names.count(parent) != 0 ? ENOTDIR : ENOENT);
    auto node = std::make_shared<inode>();
    names[path] = node;
    return node;
  }

  static void record(inode& node, mutation m) {
    apply_mutation(node.current, m);
    node.log.push_back(std::move(m));
  }
};

namespace {

using state = memory_file_system::state;

class memory_file final : public file {
 public:
  memory_file(std::shared_ptr<state> s, state::inode_ptr node, bool writable)
      : state_(std::move(s)), node_(std::move(node)), writable_(writable) {}

  [[nodiscard]] boost::system::result<std::size_t> read_at(std::uint64_t offset,
                                                           std::span<std::byte> buf) override {
    const std::lock_guard<std::mutex> guard(state_->mutex);
    const std::string& data = node_->current;
    if (offset >= data.size()) return std::size_t{0};
    const std::size_t n = std::min<std::size_t>(buf.size(), data.size() - static_cast<std::size_t>(offset));
    std::memcpy(buf.data(), data.data() + offset, n);
    return n;
  }

  [[nodiscard]] error_code write_at(std::uint64_t offset, const_buffer_span buf) override {
    const const_buffer_span one[] = {buf};
    return write_gather(offset, one);
  }

  [[nodiscard]] error_code write_gather(std::uint64_t offset,
                                        std::span<const const_buffer_span> bufs) override {
    if (!writable_) return os_error(EBADF);
    std::string bytes;
    for (const auto& b : bufs) bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    if (bytes.empty()) return {};  // like pwrite of 0 bytes: does not extend the file
    if (offset > max_file_bytes || bytes.size() > max_file_bytes - offset) return os_error(EFBIG);
    const std::lock_guard<std::mutex> guard(state_->mutex);
    // One pwritev is one mutation: random_prefix keeps or drops it whole (torn
    // writes are what garbage mode is for).
    state::record(*node_, mutation{mutation::kind::write, offset, std::move(bytes)});
    return {};
  }

  [[nodiscard]] error_code sync() override {
    const std::lock_guard<std::mutex> guard(state_->mutex);
    // current is durable with the log applied: replaying the log costs what
    // was written since the last sync, a copy would cost the whole file.
    for (const mutation& m : node_->log) apply_mutation(node_->durable, m);
    node_->log.clear();
    return {};
  }

  [[nodiscard]] boost::system::result<std::uint64_t> size() override {
    const std::lock_guard<std::mutex> guard(state_->mutex);
    return std::uint64_t{node_->current.size()};
  }

  [[nodiscard]] error_code truncate(std::uint64_t new_size) override {
    if (!writable_) return os_error(EBADF);
    if (new_size > max_file_bytes) return os_error(EFBIG);
    const std::lock_guard<std::mutex> guard(state_->mutex);
    state::record(*node_, mutation{mutation::kind::resize, new_size, {}});
    return {};
  }

  [[nodiscard]] error_code allocate(std::uint64_t new_size) override {
    if (!writable_) return os_error(EBADF);
    if (new_size > max_file_bytes) return os_error(EFBIG);
    const std::lock_guard<std::mutex> guard(state_->mutex);
    if (node_->current.size() >= new_size) return {};
    state::record(*node_, mutation{mutation::kind::resize, new_size, {}});
    return {};
  }

 private:
  std::shared_ptr<state> state_;
  state::inode_ptr node_;
  bool writable_;
};

class memory_lock final : public file_lock {
 public:
  memory_lock(std::shared_ptr<state> s, std::string path, std::uint64_t token)
      : state_(std::move(s)), path_(std::move(path)), token_(token) {}
  ~memory_lock() override {
    const std::lock_guard<std::mutex> guard(state_->mutex);
    // power_loss() drops all locks, and the path may be locked again since; only
    // release it if it is still ours.
    if (auto it = state_->locks.find(path_); it != state_->locks.end() && it->second == token_) {
      state_->locks.erase(it);
    }
  }

 private:
  std::shared_ptr<state> state_;
  std::string path_;
  std::uint64_t token_;
};

// Re-keys `dir` and every entry under it from prefix `from` to prefix `to`.
template <class Container>
void move_subtree(Container& entries, const std::string& from, const std::string& to) {
  std::vector<std::string> moving;
  for (auto it = entries.lower_bound(from); it != entries.end(); ++it) {
    const std::string& key = [&]() -> const std::string& {
      if constexpr (std::is_same_v<Container, std::set<std::string>>) {
        return *it;
      } else {
        return it->first;
      }
    }();
    // Keys starting with `from` are contiguous, but include siblings like "from-x".
    if (key.compare(0, from.size(), from) != 0) break;
    if (key == from || is_under(key, from)) moving.push_back(key);
  }
  for (const auto& old_key : moving) {
    auto node = entries.extract(old_key);
    if constexpr (std::is_same_v<Container, std::set<std::string>>) {
      node.value() = to + old_key.substr(from.size());
    } else {
      node.key() = to + old_key.substr(from.size());
    }
    entries.insert(std::move(node));
  }
}

}  // namespace

memory_file_system::memory_file_system() : state_(std::make_shared<state>()) {}
memory_file_system::~memory_file_system() = default;

boost::system::result<std::unique_ptr<file>> memory_file_system::open(const std::string& path,
                                                                      open_mode mode) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  state::inode_ptr node;
  if (mode == open_mode::read_write_create) {
    auto created = state_->create_file(p);
    if (!created) return created.error();
    node = *created;
  } else {
    auto it = state_->names.find(p);
    if (it == state_->names.end()) return os_error(state_->dir_exists(p) ? EISDIR : ENOENT);
    node = it->second;
  }
  return std::unique_ptr<file>(std::make_unique<memory_file>(state_, node, mode != open_mode::read_only));
}

error_code memory_file_system::create_directories(const std::string& path) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  // Collect the missing ancestors first so that a file in the way fails the call
  // before any directory was made.
  std::vector<std::string> missing;
  for (std::string d = p; !is_root(d); d = parent_of(d)) {
    if (state_->dirs.count(d) != 0) break;
    if (state_->names.count(d) != 0) return os_error(d == p ? EEXIST : ENOTDIR);
    missing.push_back(d);
  }
  state_->dirs.insert(missing.begin(), missing.end());
  return {};
}

error_code memory_file_system::sync_directory(const std::string& path) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  if (!state_->dir_exists(p)) return os_error(state_->names.count(p) != 0 ? ENOTDIR : ENOENT);
  auto& durable = state_->durable_names;
  for (auto it = durable.begin(); it != durable.end();) {
    it = parent_of(it->first) == p ? durable.erase(it) : std::next(it);
  }
  for (const auto& [name, node] : state_->names) {
    if (parent_of(name) == p) durable[name] = node;
  }
  return {};
}

bool memory_file_system::exists(const std::string& path) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  return state_->names.count(p) != 0 || state_->dir_exists(p);
}

error_code memory_file_system::rename(const std::string& from, const std::string& to) {
  const std::string f = normalize(from);
  const std::string t = normalize(to);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  auto& s = *state_;
  const std::string to_parent = parent_of(t);
  if (!s.dir_exists(to_parent)) return os_error(s.names.count(to_parent) != 0 ? ENOTDIR : ENOENT);

  if (auto it = s.names.find(f); it != s.names.end()) {
    if (f == t) return {};
    if (s.dir_exists(t)) return os_error(EISDIR);
    // Only the current namespace changes: until both directories are synced, a
    // power loss shows the old name (and the old target, if one was replaced).
    s.names[t] = it->second;
    s.names.erase(f);
    return {};
  }
  if (is_root(f) || s.dirs.count(f) == 0) return os_error(ENOENT);
  if (f == t) return {};
  if (is_under(t, f)) return os_error(EINVAL);
  if (s.names.count(t) != 0) return os_error(ENOTDIR);
  if (s.dirs.count(t) != 0) {
    const bool empty =
        std::none_of(s.dirs.begin(), s.dirs.end(), [&](const auto& d) { return is_under(d, t); }) &&
        std::none_of(s.names.begin(), s.names.end(), [&](const auto& n) { return is_under(n.first, t); });
    if (!empty) return os_error(ENOTEMPTY);
  }
  // Directories are immediately durable, so a directory rename moves its subtree in
  // both namespaces at once.
  s.dirs.erase(t);
  move_subtree(s.dirs, f, t);
  move_subtree(s.names, f, t);
  move_subtree(s.durable_names, f, t);
  return {};
}

error_code memory_file_system::remove(const std::string& path) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  auto& s = *state_;
  if (s.names.erase(p) != 0) return {};  // the durable name stays until sync_directory
  if (is_root(p) || s.dirs.count(p) == 0) return os_error(ENOENT);
  const bool has_children =
      std::any_of(s.dirs.begin(), s.dirs.end(), [&](const auto& d) { return is_under(d, p); }) ||
      std::any_of(s.names.begin(), s.names.end(), [&](const auto& n) { return is_under(n.first, p); });
  if (has_children) return os_error(ENOTEMPTY);
  // Removing a directory is durable at once; names under it that were removed
  // without a sync_directory cannot come back without it.
  s.dirs.erase(p);
  std::erase_if(s.durable_names, [&](const auto& n) { return is_under(n.first, p); });
  return {};
}

boost::system::result<std::vector<std::string>> memory_file_system::list(const std::string& dir) {
  const std::string p = normalize(dir);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  if (!state_->dir_exists(p)) return os_error(state_->names.count(p) != 0 ? ENOTDIR : ENOENT);
  std::vector<std::string> out;
  for (const auto& d : state_->dirs) {
    if (parent_of(d) == p) out.push_back(name_of(d));
  }
  for (const auto& n : state_->names) {
    if (parent_of(n.first) == p) out.push_back(name_of(n.first));
  }
  return out;
}

boost::system::result<std::unique_ptr<file_lock>> memory_file_system::lock(const std::string& path) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  // Like the POSIX version, locking creates the lock file.
  if (auto created = state_->create_file(p); !created) return created.error();
  if (state_->locks.count(p) != 0) return make_error_code(errc::store_locked);
  const std::uint64_t token = state_->next_lock_token++;
  state_->locks[p] = token;
  return std::unique_ptr<file_lock>(std::make_unique<memory_lock>(state_, p, token));
}

void memory_file_system::power_loss(power_loss_mode mode, std::uint64_t seed) {
  const std::lock_guard<std::mutex> guard(state_->mutex);
  auto& s = *state_;
  std::mt19937_64 rng(seed);
  // Draws use plain modulo rather than std distributions so that a seed reproduces
  // the same outcome with every standard library.
  const auto draw = [&rng](std::uint64_t bound) { return bound == 0 ? 0 : rng() % bound; };

  // Inodes that only the current namespace knows vanish with their names; reset
  // them anyway, since open file objects may still look at them.
  std::set<state::inode*> seen;
  for (const auto& entry : s.durable_names) seen.insert(entry.second.get());
  for (const auto& entry : s.names) {
    if (seen.insert(entry.second.get()).second) {
      entry.second->current = entry.second->durable;
      entry.second->log.clear();
    }
  }
  s.names = s.durable_names;
  s.locks.clear();  // the process holding them is gone

  seen.clear();
  for (const auto& entry : s.names) {  // sorted, so a seed is reproducible
    if (!seen.insert(entry.second.get()).second) continue;
    state::inode& n = *entry.second;
    switch (mode) {
      case power_loss_mode::synced_only: n.current = n.durable; break;
      case power_loss_mode::random_prefix: {
        const auto keep = static_cast<std::size_t>(draw(n.log.size() + 1));
        n.current = n.durable;
        for (std::size_t i = 0; i < keep; ++i) apply_mutation(n.current, n.log[i]);
        break;
      }
      case power_loss_mode::garbage: {
        std::string out = n.current;
        for (std::size_t at = 0; at < out.size(); at += sector_bytes) {
          const std::size_t len = std::min(sector_bytes, out.size() - at);
          const bool unchanged =
              at + len <= n.durable.size() && n.durable.compare(at, len, n.current, at, len) == 0;
          if (unchanged) continue;
          switch (draw(4)) {
            case 0:  // the new bytes made it
              break;
            case 1:  // the old bytes stayed (zeros where the file was shorter)
              for (std::size_t i = 0; i < len; ++i) {
                out[at + i] = at + i < n.durable.size() ? n.durable[at + i] : '\0';
              }
              break;
            case 2: std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), len, '\0'); break;
            default:
              for (std::size_t i = 0; i < len; ++i) out[at + i] = static_cast<char>(rng());
              break;
          }
        }
        n.current = std::move(out);
        break;
      }
      case power_loss_mode::torn_sectors:
      case power_loss_mode::torn_bytes: {
        const bool bytes = mode == power_loss_mode::torn_bytes;
        std::string out = n.current;
        for (std::size_t at = 0; at < out.size(); at += sector_bytes) {
          const std::size_t len = std::min(sector_bytes, out.size() - at);
          if (at + len <= n.durable.size() && n.durable.compare(at, len, n.current, at, len) == 0) continue;
          const auto choice = draw(bytes ? 4 : 2);
          for (std::size_t i = at; i < at + len; ++i) {
            if (i < n.durable.size() && n.durable[i] == n.current[i]) continue;  // not written: unchanged
            switch (choice) {
              case 0: break;                                                       // the new bytes
              case 1: out[i] = i < n.durable.size() ? n.durable[i] : '\0'; break;  // the old ones
              case 2: out[i] = '\0'; break;
              default: out[i] = static_cast<char>(rng()); break;
            }
          }
        }
        n.current = std::move(out);
        break;
      }
    }
    n.durable = n.current;
    n.log.clear();
  }
}

std::string memory_file_system::contents(const std::string& path) const {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  const auto it = state_->names.find(p);
  return it == state_->names.end() ? std::string{} : it->second->current;
}

void memory_file_system::set_contents(const std::string& path, const std::string& bytes) {
  const std::string p = normalize(path);
  const std::lock_guard<std::mutex> guard(state_->mutex);
  auto& s = *state_;
  // A test helper cannot report errors, so it makes whatever it needs: the parent
  // directories, the file and its durable name.
  for (std::string d = parent_of(p); !is_root(d) && s.names.count(d) == 0; d = parent_of(d)) s.dirs.insert(d);
  if (is_root(p) || s.dirs.count(p) != 0) return;
  auto& node = s.names[p];
  if (!node) node = std::make_shared<state::inode>();
  node->current = bytes;
  node->durable = bytes;
  node->log.clear();
  s.durable_names[p] = node;
}

std::vector<std::string> memory_file_system::files() const {
  const std::lock_guard<std::mutex> guard(state_->mutex);
  std::vector<std::string> out;
  out.reserve(state_->names.size());
  for (const auto& n : state_->names) out.push_back(n.first);
  return out;
}

}  // namespace evstore::testing
