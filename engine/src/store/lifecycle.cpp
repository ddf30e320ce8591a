#include "store/lifecycle.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <mutex>

namespace evstore::detail {
namespace {

std::optional<std::uint64_t> optional_count(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

boost::json::array names_json(const std::vector<std::string>& names) {
  boost::json::array a;
  for (const std::string& n : names) a.emplace_back(n);
  return a;
}

// An access list member: absent or null is unset; anything else that is
// not an array of strings (a hand-made or damaged event) names nobody, so
// a list fails closed rather than open.
std::optional<std::vector<std::string>> optional_names(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  std::vector<std::string> names;
  if (!v->is_array()) return names;
  for (const boost::json::value& n : v->get_array()) {
    if (!n.is_string()) return std::vector<std::string>{};
    names.emplace_back(n.get_string());
  }
  return names;
}

}  // namespace

std::string lifecycle_event_data(std::string_view stream, const stream_lifecycle& l) {
  boost::json::object o;
  o["stream"] = stream;
  if (l.metadata.truncate_before) o["truncateBefore"] = *l.metadata.truncate_before;
  if (l.metadata.max_count) o["maxCount"] = *l.metadata.max_count;
  if (l.metadata.max_age) o["maxAge"] = static_cast<std::int64_t>(l.metadata.max_age->count());
  if (!l.metadata.acl.empty()) {
    boost::json::object acl;
    if (l.metadata.acl.read) acl["read"] = names_json(*l.metadata.acl.read);
    if (l.metadata.acl.write) acl["write"] = names_json(*l.metadata.acl.write);
    o["acl"] = std::move(acl);
  }
  if (l.deleted_before > 0) o["deletedBefore"] = l.deleted_before;
  if (l.deleted) o["deleted"] = true;
  if (l.tombstoned) o["tombstoned"] = true;
  return boost::json::serialize(o);
}

std::optional<std::pair<std::string, stream_lifecycle>> parse_lifecycle_event(std::string_view data) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(data, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const boost::json::object& o = v.get_object();
  const boost::json::value* stream = o.if_contains("stream");
  if (stream == nullptr || !stream->is_string()) return std::nullopt;
  stream_lifecycle l;
  l.metadata.truncate_before = optional_count(o, "truncateBefore");
  l.metadata.max_count = optional_count(o, "maxCount");
  if (const auto age = optional_count(o, "maxAge"))
    l.metadata.max_age =
        std::chrono::seconds(static_cast<std::int64_t>(std::min<std::uint64_t>(*age, max_age_limit.count())));
  if (const boost::json::value* acl = o.if_contains("acl"); acl != nullptr && acl->is_object()) {
    l.metadata.acl.read = optional_names(acl->get_object(), "read");
    l.metadata.acl.write = optional_names(acl->get_object(), "write");
  } else if (acl != nullptr && !acl->is_null()) {
    l.metadata.acl = {.read = std::vector<std::string>{}, .write = std::vector<std::string>{}};  // closed
  }
  l.deleted_before = optional_count(o, "deletedBefore").value_or(0);
  const auto flag = [&](std::string_view key) {
    const boost::json::value* f = o.if_contains(key);
    return f != nullptr && f->is_bool() && f->get_bool();
  };
  l.deleted = flag("deleted");
  l.tombstoned = flag("tombstoned");
  return std::pair{std::string(stream->get_string()), l};
}

std::optional<std::string> acl_problem(const stream_acl& acl) {
  for (const auto& [what, names] : {std::pair{"read", &acl.read}, std::pair{"write", &acl.write}}) {
    if (!*names) continue;
    const std::string list = std::string("the access list's ") + what + " names";
    if ((*names)->size() > max_acl_names) return list + " are more than " + std::to_string(max_acl_names);
    for (const std::string& n : **names) {
      const bool printable = std::all_of(n.begin(), n.end(), [](char c) { return c > ' ' && c < 0x7F; });
      if (n.empty() || n.size() > max_acl_name_bytes || !printable)
        return list + " must be 1.." + std::to_string(max_acl_name_bytes) +
               " bytes of printable ASCII without spaces";
    }
  }
  return std::nullopt;
}

std::uint64_t first_readable(const stream_lifecycle& l, std::uint64_t count) {
  std::uint64_t first = std::max(l.deleted_before, l.metadata.truncate_before.value_or(0));
  if (l.metadata.max_count && count > *l.metadata.max_count)
    first = std::max(first, count - *l.metadata.max_count);
  return first;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool expired(const stream_lifecycle& l, std::int64_t committed_at, std::int64_t now_ms) {
  if (!l.metadata.max_age) return false;
  const std::int64_t age_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(*l.metadata.max_age).count();
  return committed_at < now_ms - age_ms;
}

bool reads_as_deleted(const stream_lifecycle& l, std::uint64_t count) {
  return l.tombstoned || (l.deleted && count <= l.deleted_before);
}

std::optional<stream_lifecycle> lifecycle_table::find(std::string_view stream) const {
  if (empty()) return std::nullopt;
  std::shared_lock lock(mutex_);
  const auto it = map_.find(stream);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::string, stream_lifecycle>> lifecycle_table::snapshot() const {
  std::shared_lock lock(mutex_);
  return {map_.begin(), map_.end()};
}

std::vector<std::pair<std::string, stream_acl>> lifecycle_table::access_lists(std::string_view prefix) const {
  std::vector<std::pair<std::string, stream_acl>> out;
  if (acl_count_.load(std::memory_order_acquire) == 0) return out;
  std::shared_lock lock(mutex_);
  for (auto it = acls_.lower_bound(prefix); it != acls_.end() && it->first.starts_with(prefix); ++it)
    out.emplace_back(it->first, it->second);
  return out;
}

void lifecycle_table::set(const std::string& stream, const stream_lifecycle& l) {
  std::unique_lock lock(mutex_);
  if (l.unrestricted()) {
    if (const auto it = map_.find(stream); it != map_.end()) map_.erase(it);
  } else {
    map_.insert_or_assign(stream, l);
  }
  // A tombstoned stream's events are hidden from every read for good and no
  // change reaches it any more: its list would shut tokens out of $all and
  // the rest for nothing, and could never be lifted.
  if (l.metadata.acl.empty() || l.tombstoned) {
    if (const auto it = acls_.find(stream); it != acls_.end()) acls_.erase(it);
  } else {
    acls_.insert_or_assign(stream, l.metadata.acl);
  }
  size_.store(map_.size(), std::memory_order_release);
  acl_count_.store(acls_.size(), std::memory_order_release);
}

}  // namespace evstore::detail
