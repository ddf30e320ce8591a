// Read-stream filters: their stored JSON form, validation and matching.
#include "filter_matcher.hpp"

#include <boost/json.hpp>

namespace evstore {
namespace {

error bad_filter(std::string what) { return error(errc::invalid_argument, "filter: " + std::move(what)); }

}  // namespace

std::string filter::to_json() const {
  boost::json::object o;
  boost::json::array t;
  for (const auto& type : types) t.emplace_back(type);
  o["types"] = std::move(t);
  o["streamPrefix"] = stream_prefix;
  boost::json::object where;
  for (const auto& field : fields) {
    // validated: see validate()
    where[std::string(field.in_metadata ? "/metadata" : "/data") + field.pointer] = boost::json::parse(field.value);
  }
  o["where"] = std::move(where);
  return boost::json::serialize(o);
}

result<void> filter::validate() const {
  for (const auto& type : types) {
    if (type.empty()) return bad_filter("empty event type");
  }
  for (const auto& field : fields) {
    if (!field.pointer.empty() && field.pointer.front() != '/') return bad_filter("JSON pointer must start with '/'");
    boost::system::error_code ec;
    (void)boost::json::parse(field.value, ec);
    if (ec) return bad_filter("value of " + field.pointer + " is not JSON");
  }
  return {};
}

result<filter> filter::from_json(std::string_view json) {
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return bad_filter("not a JSON object");
  const auto& o = v.as_object();
  filter f;
  if (auto* t = o.if_contains("types")) {
    if (!t->is_array()) return bad_filter("\"types\" must be an array of strings");
    for (const auto& x : t->as_array()) {
      if (!x.is_string()) return bad_filter("\"types\" must be an array of strings");
      f.types.emplace_back(x.as_string());
    }
  }
  if (auto* p = o.if_contains("streamPrefix")) {
    if (!p->is_string()) return bad_filter("\"streamPrefix\" must be a string");
    f.stream_prefix = p->as_string();
  }
  if (auto* c = o.if_contains("category")) {
    if (!c->is_string()) return bad_filter("\"category\" must be a string");
    f.stream_prefix = std::string(c->as_string()) + "-";
  }
  // API.md's shape: "where": {"/data/total": 1000, "/metadata/tenant": "a"}.
  if (auto* w = o.if_contains("where")) {
    if (!w->is_object()) return bad_filter("\"where\" must be an object of JSON pointers");
    for (const auto& [key, value] : w->as_object()) {
      const std::string_view k = key;
      const bool meta = k.starts_with("/metadata/") || k == "/metadata";
      if (!meta && !k.starts_with("/data/") && k != "/data") {
        return bad_filter("a \"where\" pointer must start with /data or /metadata: " + std::string(k));
      }
      f.fields.push_back({meta, std::string(k.substr(meta ? 9 : 5)), boost::json::serialize(value)});
    }
  }
  if (auto* fs = o.if_contains("fields")) {
    if (!fs->is_array()) return bad_filter("\"fields\" must be an array");
    for (const auto& x : fs->as_array()) {
      const auto* c = x.if_object();
      const auto* ptr = c ? c->if_contains("pointer") : nullptr;
      const auto* val = c ? c->if_contains("value") : nullptr;
      const auto* in = c ? c->if_contains("in") : nullptr;
      if (!ptr || !ptr->is_string() || !val) return bad_filter("a field needs \"pointer\" and \"value\"");
      if (in && (!in->is_string() || (in->as_string() != "data" && in->as_string() != "metadata"))) {
        return bad_filter("\"in\" must be \"data\" or \"metadata\"");
      }
      f.fields.push_back({in && in->as_string() == "metadata", std::string(ptr->as_string()), boost::json::serialize(*val)});
    }
  }
  if (auto r = f.validate(); !r) return r.error();
  return f;
}

}  // namespace evstore

namespace evstore::detail {

filter_matcher::filter_matcher(const filter& f) : filter_(f) {
  for (const auto& field : f.fields) values_.push_back(boost::json::parse(field.value));
}

bool filter_matcher::matches(const recorded_event& e) const {
  if (!filter_.types.empty() &&
      std::find(filter_.types.begin(), filter_.types.end(), e.type) == filter_.types.end()) {
    return false;
  }
  if (!e.stream.starts_with(filter_.stream_prefix)) return false;
  if (filter_.fields.empty()) return true;
  // Parsed at most once per event and part, and only when the cheap tests pass.
  std::optional<boost::json::value> data, metadata;
  for (std::size_t i = 0; i < filter_.fields.size(); ++i) {
    const auto& field = filter_.fields[i];
    auto& doc = field.in_metadata ? metadata : data;
    if (!doc) {
      boost::system::error_code ec;
      doc = boost::json::parse(field.in_metadata ? e.metadata : e.data, ec);
      if (ec) return false;  // metadata may be empty: no match
    }
    boost::system::error_code ec;
    const boost::json::value* at = doc->find_pointer(field.pointer, ec);
    if (at == nullptr || *at != values_[i]) return false;
  }
  return true;
}

}  // namespace evstore::detail
