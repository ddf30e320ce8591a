// Durable consumers: load, lock and atomically replace a consumer's
// checkpoint file (format.hpp, "Consumer checkpoint").
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "live/consumer_files.hpp"
#include "live/store_consumers.hpp"
#include "live/subscription_impl.hpp"
#include "store/detailed_handler.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"
#include "store/tracked_handler.hpp"
#include <evstore/consumer.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

namespace evstore::detail {

class consumer_impl : public std::enable_shared_from_this<consumer_impl> {
 public:
  using commit_handler = detailed_handler_type;

  consumer_impl(std::shared_ptr<store_impl> store, std::string stream, std::string name, std::string path,
                std::unique_ptr<file_lock> lock, format::consumer_checkpoint stored)
      : store_(std::move(store)),
        stream_(std::move(stream)),
        name_(std::move(name)),
        path_(std::move(path)),
        lock_(std::move(lock)),
        position_(stored.position),
        state_(stored.state) {}

  const std::string& stream() const { return stream_; }
  const std::string& name() const { return name_; }
  std::uint64_t position() const {
    std::lock_guard lock(mutex_);
    return position_;
  }
  std::string state() const {
    std::lock_guard lock(mutex_);
    return state_;
  }
  const std::shared_ptr<store_impl>& store() const { return store_; }

  void commit(std::uint64_t position, std::string state, commit_handler handler);

 private:
  [[nodiscard]] boost::system::error_code write(std::uint64_t position, const std::string& state) const;
  // The detail of a commit going back over handled events.
  std::string behind(std::uint64_t position) const;
  // Takes `self` by value: the completion carries the last reference back to
  // the store's executor, so a store is never destroyed on its background thread.
  static void complete(std::shared_ptr<consumer_impl> self, commit_handler handler,
                       boost::system::error_code ec, std::string detail = {});

  const std::shared_ptr<store_impl> store_;
  const std::string stream_;
  const std::string name_;
  const std::string path_;
  const std::unique_ptr<file_lock> lock_;
  mutable std::mutex mutex_;
  std::uint64_t position_;
  std::string state_;
  std::mutex commit_mutex_;  // one file replacement at a time
};

boost::system::error_code consumer_impl::write(std::uint64_t position, const std::string& state) const {
  return write_file_atomically(*store_->options().file_system, path_,
                               format::encode_consumer_checkpoint({position, state}));
}

void consumer_impl::commit(std::uint64_t position, std::string state, commit_handler handler) {
  std::optional<error> invalid;
  auto published = store_->published_count(stream_);
  if (!published) {
    invalid = published.error();
  } else if (position > *published) {
    // Never ahead of what a crash keeps, never back over handled events.
    invalid.emplace(errc::invalid_argument, "position " + std::to_string(position) + " is beyond the " +
                                                std::to_string(*published) + " published events of '" +
                                                stream_ + "'");
  } else if (position < this->position()) {
    invalid.emplace(errc::invalid_argument, behind(position));
  } else if (!state.empty() && !is_valid_json(state)) {
    invalid.emplace(errc::invalid_event, "the state is not JSON");
  }
  if (invalid)
    return complete(shared_from_this(), std::move(handler), invalid->code, std::move(invalid->detail));
  // fsync and rename are blocking: off the caller's executor.
  boost::asio::post(store_->background_executor(),
                    [self = shared_from_this(), position, state = std::move(state),
                     handler = std::move(handler)]() mutable {
                      EVSTORE_TEST_POINT("consumer.commit.write");
                      boost::system::error_code ec;
                      std::string detail;
                      {
                        std::lock_guard serial(self->commit_mutex_);
                        // Checked again in turn: commit() checked against the position before
                        // any commit still in flight, and one of those may have passed this one.
                        if (position < self->position()) {
                          ec = make_error_code(errc::invalid_argument);
                          detail = self->behind(position);
                        } else if ((ec = self->write(position, state))) {
                          detail = describe_failure("writing the checkpoint " + self->path_, ec);
                        }
                        if (!ec) {
                          std::lock_guard lock(self->mutex_);
                          self->position_ = std::max(self->position_, position);
                          self->state_ = std::move(state);
                        }
                      }
                      complete(std::move(self), std::move(handler), ec, std::move(detail));
                    });
}

std::string consumer_impl::behind(std::uint64_t position) const {
  return "position " + std::to_string(position) + " is behind the committed position " +
         std::to_string(this->position()) + " of consumer '" + name_ + "'";
}

void consumer_impl::complete(std::shared_ptr<consumer_impl> self, commit_handler handler,
                             boost::system::error_code ec, std::string detail) {
  // The store lets go of `self` before the handler runs: the caller may then
  // reopen the store and must not find this consumer (or its store) alive.
  store_impl& store = *self->store_;
  store.complete_on_executor(with_detail(std::move(handler),
                                         [d = std::move(detail)](boost::system::error_code e) {
                                           return d.empty() ? e.message() : d;
                                         }),
                             ec, std::move(self));
}

namespace {

struct consumer_location {
  std::string root;
  std::string path;
};

[[nodiscard]] result<consumer_location> locate_consumer(const store_impl& store, std::string_view stream,
                                                        std::string_view name) {
  if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
  if (validate_stream_name(name, name_use::read)) {
    return error(errc::invalid_argument, "invalid consumer name: " + std::string(name));
  }
  std::string root = store.consumer_directory();
  if (root.empty()) {
    return error(errc::read_only, "a read-only store keeps consumers in store_options::consumer_directory");
  }
  const std::string dir = layout::join(root, encode_stream_file_name(stream));
  return consumer_location{std::move(root), layout::join(dir, encode_stream_file_name(name) + ".consumer")};
}

}  // namespace

[[nodiscard]] result<std::shared_ptr<consumer_impl>> open_consumer(const std::shared_ptr<store_impl>& store,
                                                                   std::string_view stream,
                                                                   std::string_view name) {
  auto where = locate_consumer(*store, stream, name);
  if (!where) return where.error();
  const std::string& root = where->root;
  const std::string& path = where->path;
  file_system& fs = *store->options().file_system;
  const std::string parent = layout::parent(path);
  if (!fs.exists(parent)) {
    if (auto ec = fs.create_directories(parent); ec) return error(ec, parent);
    // Make the new directories durable, so a committed checkpoint cannot vanish with them.
    for (std::string d = parent; d.size() >= root.size(); d = layout::parent(d)) {
      if (auto ec = fs.sync_directory(layout::parent(d)); ec) return error(ec, layout::parent(d));
      if (d.size() == root.size()) break;
    }
  }
  auto lock = fs.lock(path + ".lock");
  if (!lock) {
    if (lock.error() == errc::store_locked) {
      return error(errc::consumer_busy,
                   "consumer '" + std::string(name) + "' of '" + std::string(stream) + "' is open elsewhere");
    }
    return error(lock.error(), path + ".lock");
  }
  std::vector<std::byte> bytes;
  auto stored = load_consumer_checkpoint(fs, path, bytes);
  if (!stored) return stored.error();
  return std::make_shared<consumer_impl>(store, std::string(stream), std::string(name), path,
                                         std::move(*lock), *stored);
}

[[nodiscard]] result<consumer_info> read_consumer_info(const store_impl& store, std::string_view stream,
                                                       std::string_view name) {
  auto where = locate_consumer(store, stream, name);
  if (!where) return where.error();
  std::vector<std::byte> bytes;
  file_system& fs = *store.options().file_system;
  if (!fs.exists(where->path))
    return error(errc::stream_not_found,
                 "no consumer '" + std::string(name) + "' of '" + std::string(stream) + "'");
  auto stored = load_consumer_checkpoint(fs, where->path, bytes);
  if (!stored) return stored.error();
  return consumer_info{stored->position, std::string(stored->state), std::string(stream), std::string(name)};
}

[[nodiscard]] result<std::vector<consumer_info>> list_consumer_infos(const store_impl& store) {
  const std::string root = store.consumer_directory();
  file_system& fs = *store.options().file_system;
  if (root.empty()) return std::vector<consumer_info>{};  // a read-only store keeps none of its own
  return list_consumer_checkpoints(fs, root);
}

}  // namespace evstore::detail

namespace evstore {

consumer::consumer(std::shared_ptr<detail::consumer_impl> impl) : impl_(std::move(impl)) {}
consumer::consumer(consumer&&) noexcept = default;
consumer& consumer::operator=(consumer&&) noexcept = default;
consumer::~consumer() = default;

const std::string& consumer::stream() const { return impl_->stream(); }
const std::string& consumer::name() const { return impl_->name(); }
std::uint64_t consumer::position() const { return impl_->position(); }
std::string consumer::state() const { return impl_->state(); }

result<subscription> consumer::subscribe(subscription_options options) const {
  return subscribe(options, impl_->store()->executor());
}

result<subscription> consumer::subscribe(subscription_options options,
                                         subscription::executor_type executor) const {
  options.from = impl_->position();
  return subscription(std::make_shared<detail::subscription_impl>(impl_->store(), impl_->stream(), options,
                                                                  std::move(executor)));
}

void consumer::async_commit(std::uint64_t position, std::string state,
                            boost::asio::any_completion_handler<detail::detailed_signature> handler) {
  impl_->commit(position, std::move(state),
                detail::track_work(std::move(handler), impl_->store()->executor()));
}

}  // namespace evstore
