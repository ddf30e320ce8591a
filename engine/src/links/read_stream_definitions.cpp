// Read-stream definitions (see indexer.hpp): links/read_streams.json, the
// names they claim against write streams, and creating and deleting a read
// stream (whose back-fill the indexer's loop then runs, indexer.cpp).
#include "links/read_stream_definitions.hpp"

#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "links/indexer.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace evstore::detail {
result<std::vector<parsed_definition>> parse_read_stream_definitions(std::string_view text,
                                                                     const std::string& path) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth + 8;  // filter values may nest that deep, inside the file's envelope
  const auto doc = boost::json::parse(text, ec, {}, opts);
  const auto* list = !ec && doc.is_object() ? doc.as_object().if_contains("readStreams") : nullptr;
  if (list == nullptr || !list->is_array())
    return store_impl::corruption("bad read-stream definitions", path, 0);
  // Filters are read from their text as written (values keep their spelling).
  const auto raw_items = raw_elements(*raw_member(text, "readStreams"));
  std::vector<parsed_definition> items;
  for (std::size_t i = 0; i < raw_items.size(); ++i) {
    const auto* o = list->as_array()[i].if_object();
    const auto* name = o ? o->if_contains("name") : nullptr;
    const auto* def = o ? o->if_contains("filter") : nullptr;
    const auto* built = o ? o->if_contains("built") : nullptr;
    if (!name || !name->is_string() || !def || !built || !built->is_bool()) {
      return store_impl::corruption("bad read-stream definition", path, 0);
    }
    auto f2 = filter::from_json(*raw_member(raw_items[i], "filter"));
    if (!f2) return store_impl::corruption("bad read-stream filter: " + f2.error().message(), path, 0);
    items.push_back({std::string(name->as_string()), std::move(*f2), built->as_bool()});
  }
  return items;
}

// Reads links/read_streams.json; a definition already known keeps its state
// (back-fill cursor, waiters), one no longer listed is dropped. True if any
// definition came, went, or changed its filter or back-fill state.
result<bool> indexer::load_definitions() {
  file_system& fs = *store_.options().file_system;
  const std::string defs_path = layout::join(dir_, "read_streams.json");
  if (!fs.exists(defs_path)) {
    std::unique_lock lock(mutex_);
    const bool changed = !definitions_.empty();
    definitions_.clear();
    return changed;
  }
  auto f = fs.open(defs_path, open_mode::read_only);
  if (!f) return error(f.error(), defs_path);
  auto text = read_all(**f);
  if (!text) return error(text.error(), defs_path);
  auto parsed = parse_read_stream_definitions(to_string_view(*text), defs_path);
  if (!parsed) return parsed.error();
  std::vector<parsed_definition>& items = *parsed;
  std::vector<link_state*> links;
  links.reserve(items.size());
  for (const parsed_definition& p : items) links.push_back(&link_for(p.name));
  std::unique_lock lock(mutex_);
  std::map<std::string, std::unique_ptr<read_stream_definition>, std::less<>> loaded;
  bool changed = items.size() != definitions_.size();
  for (std::size_t i = 0; i < items.size(); ++i) {
    parsed_definition& p = items[i];
    if (auto it = definitions_.find(p.name);
        it != definitions_.end() && it->second && it->second->matcher.definition() == p.f) {
      changed = changed || it->second->building != !p.built;
      it->second->building = !p.built;
      loaded.emplace(p.name, std::move(it->second));
      continue;
    }
    changed = true;
    auto d = std::make_unique<read_stream_definition>(
        read_stream_definition{p.name, filter_matcher(p.f), !p.built, 0, links[i], {}, {}});
    loaded.emplace(p.name, std::move(d));
  }
  // Left behind: deleted (or redefined) by the writer. Their subscribers end.
  for (auto& [name, d] : definitions_) {
    if (d) d->link->incarnation.fetch_add(1, std::memory_order_acq_rel);
  }
  definitions_ = std::move(loaded);
  return changed;
}

bool indexer::has_definitions() const {
  std::shared_lock lock(mutex_);
  return !definitions_.empty();
}

bool indexer::is_link(std::string_view name) const {
  if (is_system_name(name)) return true;
  std::shared_lock lock(mutex_);
  return definitions_.contains(name);
}

bool indexer::claim_write_name(std::string_view name, const std::function<void()>& add) const {
  if (is_system_name(name)) return false;
  std::shared_lock lock(mutex_);
  if (definitions_.contains(name) || name == claimed_) return false;
  add();
  return true;
}

std::optional<std::uint64_t> indexer::incarnation(std::string_view name) const {
  if (is_system_name(name)) return std::nullopt;
  const link_state* l = find_link(name);
  if (l == nullptr) return std::nullopt;
  return l->incarnation.load(std::memory_order_acquire);
}

std::vector<read_stream_info> indexer::list() const {
  std::vector<read_stream_info> out;
  std::shared_lock lock(mutex_);
  for (const auto& [name, d] : definitions_) {
    // Counted on first use (after an open, nothing may have read it yet); a
    // link that cannot be counted shows what is published.
    (void)load(*d->link);
    out.push_back(
        {name, d->matcher.definition(), d->link->count.load(std::memory_order_acquire), d->building});
  }
  return out;
}

boost::system::error_code indexer::write_definitions() {
  // Written as text: a filter's values keep their spelling (a Boost.JSON
  // value would print 12.5 as 1.25E1), and nothing here parses or throws.
  std::string text = "{\"readStreams\":[";
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, d] : definitions_) {
      if (text.back() != '[') text += ',';
      text += "{\"name\":" + boost::json::serialize(boost::json::string(name)) +
              ",\"filter\":" + d->matcher.definition().to_json() +
              ",\"built\":" + (d->building ? "false" : "true") + "}";
    }
  }
  text += "]}\n";
  file_system& fs = *store_.options().file_system;
  if (auto ec = fs.create_directories(dir_)) return ec;
  return write_file_atomically(fs, layout::join(dir_, "read_streams.json"), std::as_bytes(std::span(text)));
}

void indexer::create(std::string name, filter f, std::function<void(std::uint64_t, std::uint64_t)> progress,
                     create_handler handler) {
  if (closing_.load(std::memory_order_acquire)) {
    return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
  }
  start();  // the first read stream of a store without system streams
  boost::asio::post(store_.background_executor(),
                    [this, name = std::move(name), f = std::move(f), progress = std::move(progress),
                     handler = std::move(handler)]() mutable {
                      create_on_background(name, f, std::move(progress), std::move(handler));
                    });
}

// create() on the background thread: claims the name, then adds the
// definition, whose back-fill completes `handler`.
void indexer::create_on_background(const std::string& name, const filter& f,
                                   std::function<void(std::uint64_t, std::uint64_t)> progress,
                                   create_handler handler) {
  std::lock_guard running(step_mutex_);
  if (stopped_ || closing_.load(std::memory_order_acquire)) {
    return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
  }
  EVSTORE_TEST_POINT("indexer.create.claim");
  {
    // Exclusive: the check of the write streams and the claim are one step
    // against the writer's claim_write_name() (the caller's check in
    // store.cpp is only a fast path: an append may come after it).
    std::unique_lock lock(mutex_);
    if (answer_if_taken(lock, name, f, handler)) return;
    if (!failed_) claimed_ = name;
  }
  if (failed_) {
    store_.complete_on_executor(std::move(handler), failed_);
    return;
  }
  auto unclaim = [this] {
    std::unique_lock lock(mutex_);
    claimed_.clear();
  };
  auto d = std::make_unique<read_stream_definition>(
      read_stream_definition{name, filter_matcher(f), true, 0, &link_for(name), std::move(progress), {}});
  // A link file left by an earlier read stream of that name must not
  // show through the new one.
  if (auto reset = reset_link(*d->link)) {
    unclaim();
    return store_.complete_on_executor(std::move(handler), reset);
  }
  d->waiters.push_back(std::move(handler));
  {
    std::unique_lock lock(mutex_);
    definitions_.emplace(name, std::move(d));
    claimed_.clear();
  }
  if (auto wec = write_definitions()) fail(wec);
  schedule();
}

// A create of `name` when a read stream or a write stream has it: answers
// `handler` (now, or once the existing read stream is built) and returns
// true; false if the name is free. `lock` holds mutex_ exclusively.
bool indexer::answer_if_taken(std::unique_lock<std::shared_mutex>& lock, const std::string& name,
                              const filter& f, create_handler& handler) {
  boost::system::error_code ec;
  auto it = definitions_.find(name);
  if (it != definitions_.end()) {
    if (!it->second->matcher.same_filter(f)) {
      ec = make_error_code(errc::read_stream_exists);
    } else if (failed_) {
      // Stopped: the links never reach what it would wait for.
      ec = failed_;
    } else if (it->second->building && it->second->link->failed.load()) {
      // Its back-fill waits for the next open (fail_link).
      std::lock_guard loading(it->second->link->load_mutex);
      ec = it->second->link->failure.code;
    } else if (const std::uint64_t all = store_.all_count();
               it->second->building || progress_.load(std::memory_order_relaxed) < all) {
      // Completes with the back-fill, or once the live links reach the
      // events acknowledged before this call (complete_built_waiters).
      if (!it->second->building) it->second->complete_at = std::max(it->second->complete_at, all);
      it->second->waiters.push_back(std::move(handler));
      lock.unlock();
      schedule();
      return true;
    }
    lock.unlock();
    store_.complete_on_executor(std::move(handler), ec);
    return true;
  }
  if (store_.write_name_taken(name)) {
    lock.unlock();
    store_.complete_on_executor(std::move(handler), make_error_code(errc::read_stream_exists));
    return true;
  }
  return false;
}

void indexer::remove(std::string name, create_handler handler) {
  boost::asio::post(
      store_.background_executor(), [this, name = std::move(name), handler = std::move(handler)]() mutable {
        std::lock_guard running(step_mutex_);
        if (stopped_ || closing_.load(std::memory_order_acquire)) {
          return store_.complete_on_executor(std::move(handler), make_error_code(errc::store_closed));
        }
        std::unique_ptr<read_stream_definition> gone;
        {
          std::unique_lock lock(mutex_);
          auto it = definitions_.find(name);
          if (it != definitions_.end()) {
            gone = std::move(it->second);
            definitions_.erase(it);
          }
        }
        boost::system::error_code ec;
        if (!gone) {
          ec = make_error_code(errc::stream_not_found);
        } else if ((ec = write_definitions())) {
          // The file still lists it, so it stays in memory too and goes on being
          // linked: dropped from memory alone, it would come back at the next open
          // missing every event appended in between.
          std::unique_lock lock(mutex_);
          definitions_.emplace(name, std::move(gone));
        } else {
          for (auto& w : gone->waiters)
            store_.complete_on_executor(std::move(w), make_error_code(errc::stream_deleted));
          // The link state stays (readers may hold it) but its entries go, and
          // its subscribers end: bumped before the wake-up their check runs after.
          gone->link->incarnation.fetch_add(1, std::memory_order_acq_rel);
          // The delete is made (the definitions no longer list it) and its
          // subscribers are told so: a file left behind does not undo it. No
          // definition serves that file, and a later one of the name removes it
          // (and syncs its directory) before it is built, or fails.
          (void)reset_link(*gone->link);
          store_.subscriptions().notify(name);
        }
        store_.complete_on_executor(std::move(handler), ec);
      });
}

}  // namespace evstore::detail
