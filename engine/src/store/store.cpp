// evstore::store and evstore::event_range: thin forwarding to store_impl.
#include "format/stream_name.hpp"
#include "links/indexer.hpp"
#include "live/store_consumers.hpp"
#include "live/subscription_impl.hpp"
#include "store/detailed_handler.hpp"
#include "store/reader.hpp"
#include "store/store_impl.hpp"
#include "store/tracked_handler.hpp"
#include <evstore/store.hpp>

namespace evstore {

result<store> store::open(executor_type executor, store_options options) {
  auto impl = std::make_shared<detail::store_impl>(std::move(executor), std::move(options));
  if (auto r = impl->open(); !r) return r.error();
  return store(std::move(impl));
}

store::store(std::shared_ptr<detail::store_impl> impl) : impl_(std::move(impl)) {}
store::store(store&&) noexcept = default;
store& store::operator=(store&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->stop_background();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
store::~store() {
  if (impl_) impl_->stop_background();
}

void store::async_append(std::string stream, std::vector<event_data> events, expected_version expected,
                         boost::asio::any_completion_handler<append_signature> handler, bool own_executor) {
  // A plain callback runs on the strand, under the one work guard the store
  // holds for all of them (store_impl::complete); a handler with an executor
  // of its own keeps that executor busy until it runs there.
  if (!own_executor) {
    impl_->append(std::move(stream), std::move(events), expected, std::move(handler), true);
    return;
  }
  impl_->append(std::move(stream), std::move(events), expected,
                detail::track_work(std::move(handler), impl_->executor()), false);
}

void store::async_delete_stream(std::string stream, delete_options options,
                                boost::asio::any_completion_handler<append_signature> handler,
                                bool own_executor) {
  detail::lifecycle_change change;
  change.what = options.hard ? detail::lifecycle_change::kind::hard_delete
                             : detail::lifecycle_change::kind::soft_delete;
  if (!own_executor) {
    impl_->change_lifecycle(std::move(stream), change, options.expected, std::move(handler), true);
    return;
  }
  impl_->change_lifecycle(std::move(stream), change, options.expected,
                          detail::track_work(std::move(handler), impl_->executor()), false);
}

void store::async_set_stream_metadata(std::string stream, stream_metadata metadata, expected_version expected,
                                      bool keep_acl,
                                      boost::asio::any_completion_handler<append_signature> handler,
                                      bool own_executor) {
  detail::lifecycle_change change{
      keep_acl ? detail::lifecycle_change::kind::set_limits : detail::lifecycle_change::kind::set_metadata,
      std::move(metadata)};
  if (!own_executor) {
    impl_->change_lifecycle(std::move(stream), std::move(change), expected, std::move(handler), true);
    return;
  }
  impl_->change_lifecycle(std::move(stream), std::move(change), expected,
                          detail::track_work(std::move(handler), impl_->executor()), false);
}

stream_metadata store::stream_metadata_of(std::string_view stream) const {
  const auto l = impl_->lifecycle_of(stream);
  return l ? l->metadata : stream_metadata{};
}

std::vector<std::pair<std::string, stream_acl>> store::access_lists(std::string_view prefix) const {
  return impl_->access_lists(prefix);
}

result<scavenge_report> store::scavenge(const scavenge_options& options) { return impl_->scavenge(options); }

void store::async_close(boost::asio::any_completion_handler<detail::detailed_signature> handler) {
  impl_->async_close(detail::with_detail(
      detail::track_work(std::move(handler), impl_->executor()),
      [dir = impl_->options().directory](boost::system::error_code ec) {
        // The first write, fsync or linking error since the store opened.
        return detail::describe_failure(
            "closing the store in " + dir + ": a flush, checkpoint or read-stream link write failed", ec);
      }));
}

result<read_page> store::read(std::string_view stream, read_options options) const {
  if (auto refused = impl_->refused_read(stream); refused.code) return refused;
  return impl_->read_visible(stream, options);
}

event_range store::events(std::string_view stream, read_options options) const {
  return event_range(impl_->make_cursor(stream, options));
}

result<std::optional<std::uint64_t>> store::stream_version(std::string_view stream) const {
  if (auto refused = impl_->refused_read(stream); refused.code) return refused;
  // With hidden events, and an erased last event as its placeholder: the
  // last version is what the next append expects, whatever reads show.
  auto page = impl_->read(
      stream,
      read_options{
          .from = from_end, .max_count = 1, .direction = direction::backward, .include_hidden = true});
  if (!page) {
    if (page.error().code == errc::stream_not_found) return std::optional<std::uint64_t>{};
    return page.error();
  }
  if (page->events.empty()) return std::optional<std::uint64_t>{};
  // The number of the stream's last event in that stream: a version, a $all
  // position, or a read stream's entry number.
  return std::optional<std::uint64_t>{page->events.front().sequence};
}

std::vector<stream_info> store::list_streams(std::size_t offset, std::size_t limit) const {
  auto page = impl_->list_streams(offset, limit);
  // Streams the application's before_read refuses are not listed.
  if (impl_->options().before_read) {
    std::erase_if(page, [&](const stream_info& s) { return impl_->refused_read(s.name).code.failed(); });
  }
  return page;
}
std::size_t store::stream_count() const { return impl_->stream_count(); }
std::uint64_t store::event_count() const { return impl_->all_count(); }
result<subscription> store::subscribe(std::string_view stream, subscription_options options) const {
  return subscribe(stream, options, impl_->executor());
}

result<subscription> store::subscribe(std::string_view stream, subscription_options options,
                                      subscription::executor_type executor) const {
  if (auto refused = impl_->refused_read(stream); refused.code) return refused;
  auto count = impl_->published_count(stream);
  if (!count) return count.error();
  if (options.from == from_end) options.from = *count;
  return subscription(
      std::make_shared<detail::subscription_impl>(impl_, std::string(stream), options, std::move(executor)));
}

void store::start_callbacks(
    subscription& sub, std::function<void(boost::system::error_code, const subscription_batch&)> on_batch) {
  sub.impl_->run(std::move(on_batch));
}

void store::async_create_read_stream(
    std::string name, evstore::filter f, std::function<void(std::uint64_t, std::uint64_t)> progress,
    boost::asio::any_completion_handler<detail::detailed_signature> untracked) {
  auto handler = detail::track_work(std::move(untracked), impl_->executor());
  std::optional<error> invalid;
  if (impl_->read_only()) {
    invalid.emplace(errc::read_only, "the store is open read-only");
  } else if (auto bad = detail::stream_name_error(name, detail::name_use::append); bad.code) {
    invalid.emplace(std::move(bad));
  } else if (auto valid = f.validate(); !valid) {
    invalid.emplace(errc::invalid_argument,
                    "the filter of read stream '" + name + "': " + valid.error().message());
  } else if (impl_->write_name_taken(name)) {
    invalid.emplace(errc::read_stream_exists, "'" + name + "' is the name of a write stream");
  }
  if (invalid) {
    return impl_->complete_on_executor(
        detail::with_detail(std::move(handler),
                            [d = invalid->detail](boost::system::error_code) { return d; }),
        invalid->code);
  }
  auto describe = [name](boost::system::error_code ec) {
    if (ec == errc::read_stream_exists)
      return "'" + name + "' is a read stream with another filter, or a write stream";
    if (ec == errc::store_closed) return "the store was closed before read stream '" + name + "' was built";
    return detail::describe_failure("creating read stream '" + name + "'", ec);
  };
  impl_->links().create(std::move(name), std::move(f), std::move(progress),
                        detail::with_detail(std::move(handler), std::move(describe)));
}

void store::async_delete_read_stream(
    std::string name, boost::asio::any_completion_handler<detail::detailed_signature> untracked) {
  auto describe = [name](boost::system::error_code ec) {
    if (ec == errc::read_only) return std::string("the store is open read-only");
    if (ec == errc::stream_not_found) return "there is no read stream '" + name + "'";
    if (ec == errc::store_closed) return std::string("the store was closed");
    return detail::describe_failure("deleting read stream '" + name + "'", ec);
  };
  auto handler =
      detail::with_detail(detail::track_work(std::move(untracked), impl_->executor()), std::move(describe));
  if (impl_->read_only())
    return impl_->complete_on_executor(std::move(handler), make_error_code(errc::read_only));
  impl_->links().remove(std::move(name), std::move(handler));
}

std::vector<read_stream_info> store::list_read_streams() const { return impl_->links().list(); }

result<consumer> store::consumer(std::string_view stream, std::string_view name) const {
  if (auto refused = impl_->refused_read(stream); refused.code) return refused;
  auto c = detail::open_consumer(impl_, stream, name);
  if (!c) return c.error();
  return evstore::consumer(std::move(*c));
}

result<consumer_info> store::consumer_state(std::string_view stream, std::string_view name) const {
  if (auto refused = impl_->refused_read(stream); refused.code) return refused;
  return detail::read_consumer_info(*impl_, stream, name);
}

result<std::vector<consumer_info>> store::list_consumers() const {
  auto all = detail::list_consumer_infos(*impl_);
  if (all && impl_->options().before_read) {
    std::erase_if(*all, [&](const consumer_info& c) { return impl_->refused_read(c.stream).code.failed(); });
  }
  return all;
}

result<std::uint64_t> store::refresh() { return impl_->refresh(); }
bool store::is_read_only() const { return impl_->read_only(); }
const store_options& store::options() const { return impl_->options(); }
store_statistics store::statistics() const { return impl_->statistics(); }
evstore::error store::indexer_status() const { return impl_->links().status(); }

event_range::event_range(std::unique_ptr<detail::cursor> c) : cursor_(std::move(c)) {}
event_range::event_range(event_range&&) noexcept = default;
event_range& event_range::operator=(event_range&&) noexcept = default;
event_range::~event_range() = default;

event_range::iterator event_range::begin() { return iterator(this); }
const std::optional<evstore::error>& event_range::error() const { return cursor_->error(); }

event_range::iterator::reference event_range::iterator::operator*() const {
  return *range_->cursor_->current();
}
event_range::iterator& event_range::iterator::operator++() {
  range_->cursor_->advance();
  return *this;
}
bool event_range::iterator::done() const {
  return range_ == nullptr || range_->cursor_->current() == nullptr;
}

}  // namespace evstore
