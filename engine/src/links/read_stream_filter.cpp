// Read-stream filters: their stored JSON form, validation and matching.
//
// A value keeps its text as written (compacted), never a re-serialisation
// (Boost.JSON would print 12.5 as 1.25E1 and lose digits of big integers), so
// parse -> store -> reload gives back the same filter; values are compared as
// exact JSON (exact_json.hpp).
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "links/filter_condition.hpp"
#include "links/filter_matcher.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <set>

namespace evstore {
namespace {

error bad_filter(std::string what) { return error(errc::invalid_argument, "filter: " + std::move(what)); }

// The envelope around a value: {"fields":[{"value": ...}]}.
constexpr std::size_t envelope_depth = 3;

std::string json_string(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }

// Serialising a string that is not UTF-8 gives text no parser takes back.
bool is_utf8(std::string_view s) { return detail::is_valid_json(json_string(s)); }

std::string compact(std::string_view json) {
  std::string out;
  detail::append_compact_json(out, json);
  return out;
}

// RFC 6901: "" or "/token..." where '~' only starts "~0" or "~1".
bool is_json_pointer(std::string_view p) {
  if (!p.empty() && p.front() != '/') return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 == p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) return false;
  }
  return is_utf8(p);
}

// Each key once, and only the known ones: a misspelt key must not widen a filter.
[[nodiscard]] result<void> check_keys(std::string_view object_text,
                                      std::initializer_list<std::string_view> known,
                                      const std::string& where) {
  std::set<std::string, std::less<>> seen;
  for (const auto& [key, value] : detail::raw_members(object_text)) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return bad_filter("unknown key " + json_string(key) + where);
    }
    if (!seen.insert(key).second) return bad_filter("key " + json_string(key) + " given twice" + where);
  }
  return {};
}

// The conditions of "where" (`w`, a member of `json`) into `f.fields`.
// Values are taken as written (the DOM has lost their spelling).
[[nodiscard]] result<void> read_where(std::string_view json, const boost::json::value& w, filter& f) {
  if (!w.is_object()) return bad_filter("\"where\" must be an object of JSON pointers");
  std::set<std::string, std::less<>> seen;
  for (const auto& [key, raw] : detail::raw_members(*detail::raw_member(json, "where"))) {
    const std::string_view k = key;
    const bool meta = k.starts_with("/metadata/") || k == "/metadata";
    if (!meta && !k.starts_with("/data/") && k != "/data") {
      return bad_filter("a \"where\" pointer must start with /data or /metadata: " + json_string(k));
    }
    if (!seen.insert(key).second) {
      return bad_filter("pointer " + json_string(k) +
                        " given twice in \"where\" (use \"fields\" for two conditions on one pointer)");
    }
    f.fields.push_back({meta, std::string(k.substr(meta ? 9 : 5)), compact(raw)});
  }
  return {};
}

// The conditions of "fields" (`fs`, a member of `json`) into `f.fields`.
[[nodiscard]] result<void> read_fields(std::string_view json, const boost::json::value& fs, filter& f) {
  if (!fs.is_array()) return bad_filter("\"fields\" must be an array");
  const auto raw = detail::raw_elements(*detail::raw_member(json, "fields"));
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto* c = fs.as_array()[i].if_object();
    const auto* ptr = c ? c->if_contains("pointer") : nullptr;
    const auto* val = c ? c->if_contains("value") : nullptr;
    const auto* in = c ? c->if_contains("in") : nullptr;
    if (!ptr || !ptr->is_string() || !val) return bad_filter("a field needs \"pointer\" and \"value\"");
    if (in && (!in->is_string() || (in->as_string() != "data" && in->as_string() != "metadata"))) {
      return bad_filter("\"in\" must be \"data\" or \"metadata\"");
    }
    if (auto r = check_keys(raw[i], {"in", "pointer", "value"}, " in a field"); !r) return r.error();
    f.fields.push_back({in && in->as_string() == "metadata", std::string(ptr->as_string()),
                        compact(*detail::raw_member(raw[i], "value"))});
  }
  return {};
}

}  // namespace

std::string filter::to_json() const {
  std::string out = "{\"types\":[";
  for (std::size_t i = 0; i < types.size(); ++i) out += (i ? "," : "") + json_string(types[i]);
  out += "],\"streamPrefix\":" + json_string(stream_prefix);
  const auto key = [](const field_condition& f) {
    return std::string(f.in_metadata ? "/metadata" : "/data") + f.pointer;
  };
  std::set<std::string, std::less<>> keys;
  for (const auto& field : fields) keys.insert(key(field));
  if (keys.size() == fields.size()) {
    // The stored shape (docs/http.md, read streams).
    out += ",\"where\":{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out += (i ? "," : "") + json_string(key(fields[i])) + ":" + compact(fields[i].value);
    }
    out += "}";
  } else {
    // Two conditions on one pointer: "where" (an object) cannot hold both.
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      out += std::string(i ? "," : "") + "{\"in\":\"" + (fields[i].in_metadata ? "metadata" : "data") +
             "\",\"pointer\":" + json_string(fields[i].pointer) + ",\"value\":" + compact(fields[i].value) +
             "}";
    }
    out += "]";
  }
  // Joins: only when given, so that filters without them keep their stored form.
  if (!streams.empty()) {
    out += ",\"streams\":[";
    for (std::size_t i = 0; i < streams.size(); ++i) out += (i ? "," : "") + json_string(streams[i]);
    out += "]";
  }
  for (const auto& [name, list] :
       {std::pair<const char*, const std::vector<filter>*>{"any", &any}, {"all", &all}}) {
    if (list->empty()) continue;
    out += ",\"" + std::string(name) + "\":[";
    for (std::size_t i = 0; i < list->size(); ++i) out += (i ? "," : "") + (*list)[i].to_json();
    out += "]";
  }
  return out + "}";
}

std::optional<std::vector<std::string>> filter::stream_prefixes() const {
  // Every part given must hold: one part that bounds the streams bounds the filter.
  if (!stream_prefix.empty()) return std::vector<std::string>{stream_prefix};
  if (!streams.empty()) return streams;
  for (const filter& f : all) {
    if (auto p = f.stream_prefixes()) return p;
  }
  if (any.empty()) return std::nullopt;
  std::vector<std::string> out;
  for (const filter& f : any) {
    auto p = f.stream_prefixes();
    if (!p) return std::nullopt;  // one alternative takes any stream
    out.insert(out.end(), p->begin(), p->end());
  }
  return out;
}

namespace {

// The checks of validate() at nesting `level`, counting the parts seen.
[[nodiscard]] result<void> validate_at(const filter& f, std::size_t level, std::size_t& parts);

}  // namespace

result<void> filter::validate() const {
  std::size_t parts = 0;
  return validate_at(*this, 0, parts);
}

namespace {

result<void> validate_at(const filter& f, std::size_t level, std::size_t& parts) {
  if (level > filter::max_nesting) {
    return bad_filter("filters nested deeper than " + std::to_string(filter::max_nesting) + " levels");
  }
  parts += 1 + f.types.size() + f.fields.size() + f.streams.size();
  if (parts > filter::max_parts) {
    return bad_filter("more than " + std::to_string(filter::max_parts) +
                      " parts (types, conditions, stream names, filters) in one filter");
  }
  for (const auto& name : f.streams) {
    if (name.empty()) return bad_filter("empty stream name in \"streams\"");
    if (!is_utf8(name)) return bad_filter("a name in \"streams\" is not UTF-8");
  }
  for (const auto* list : {&f.any, &f.all}) {
    for (const filter& sub : *list) {
      if (auto r = validate_at(sub, level + 1, parts); !r) return r;
    }
  }
  const auto& types = f.types;
  const auto& stream_prefix = f.stream_prefix;
  const auto& fields = f.fields;
  for (const auto& type : types) {
    if (type.empty()) return bad_filter("empty event type");
    if (!is_utf8(type)) return bad_filter("an event type is not UTF-8");
  }
  if (!is_utf8(stream_prefix)) return bad_filter("the stream prefix is not UTF-8");
  for (const auto& field : fields) {
    if (!is_json_pointer(field.pointer)) {
      return bad_filter("not a JSON pointer (RFC 6901: \"/a/0/b\", ~0 for ~, ~1 for /): " +
                        json_string(field.pointer));
    }
    bool numbers_fit = true;
    const auto value = detail::parse_exact_json(field.value, &numbers_fit);
    if (!value) {
      return bad_filter("value of " + field.pointer + " is not JSON (or nested deeper than " +
                        std::to_string(detail::max_json_depth) + ")");
    }
    if (!numbers_fit) {
      return bad_filter("value of " + field.pointer +
                        " has a number out of range (a filter number must be a finite double: 1e400 is not)");
    }
    std::string problem;
    if (!detail::parse_condition(*value, field.value, problem)) {
      return bad_filter("value of " + json_string(field.pointer) + ": " + problem);
    }
  }
  return {};
}

}  // namespace

namespace {

// Each nested filter adds two levels: {"any":[{...}]}.
constexpr std::size_t max_filter_depth = detail::max_json_depth + envelope_depth + 2 * filter::max_nesting;

[[nodiscard]] result<filter> filter_from_json(std::string_view json, std::size_t level);

// "streams", "any" and "all" of `o` (the object `json`) into `f`.
[[nodiscard]] result<void> read_joins(std::string_view json, const boost::json::object& o, filter& f,
                                      std::size_t level) {
  if (auto* s = o.if_contains("streams")) {
    if (!s->is_array() || s->as_array().empty())
      return bad_filter("\"streams\" must be a non-empty array of names");
    for (const auto& x : s->as_array()) {
      if (!x.is_string()) return bad_filter("\"streams\" must be a non-empty array of names");
      f.streams.emplace_back(x.as_string());
    }
  }
  for (const auto& [key, out] :
       {std::pair<const char*, std::vector<filter>*>{"any", &f.any}, {"all", &f.all}}) {
    const auto* list = o.if_contains(key);
    if (list == nullptr) continue;
    if (!list->is_array() || list->as_array().empty()) {
      return bad_filter("\"" + std::string(key) + "\" must be a non-empty array of filters");
    }
    if (level + 1 > filter::max_nesting) {
      return bad_filter("filters nested deeper than " + std::to_string(filter::max_nesting) + " levels");
    }
    // Each from its text, so that its values keep their spelling.
    for (const std::string_view sub : detail::raw_elements(*detail::raw_member(json, key))) {
      auto parsed = filter_from_json(sub, level + 1);
      if (!parsed) return parsed.error();
      out->push_back(std::move(*parsed));
    }
  }
  return {};
}

}  // namespace

result<filter> filter::from_json(std::string_view json) {
  auto f = filter_from_json(json, 0);
  if (!f) return f.error();
  if (auto r = f->validate(); !r) return r.error();
  return f;
}

namespace {

result<filter> filter_from_json(std::string_view json, std::size_t level) {
  boost::json::parse_options opts;
  opts.max_depth = max_filter_depth;
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec, {}, opts);
  if (ec || !v.is_object()) return bad_filter("not a JSON object");
  if (auto r = check_keys(
          json, {"types", "streamPrefix", "category", "where", "fields", "streams", "any", "all"}, "");
      !r)
    return r.error();
  const auto& o = v.as_object();
  filter f;
  if (auto* t = o.if_contains("types")) {
    if (!t->is_array()) return bad_filter("\"types\" must be an array of strings");
    for (const auto& x : t->as_array()) {
      if (!x.is_string()) return bad_filter("\"types\" must be an array of strings");
      f.types.emplace_back(x.as_string());
    }
  }
  if (o.contains("streamPrefix") && o.contains("category"))
    return bad_filter("give \"streamPrefix\" or \"category\", not both");
  if (auto* p = o.if_contains("streamPrefix")) {
    if (!p->is_string()) return bad_filter("\"streamPrefix\" must be a string");
    f.stream_prefix = p->as_string();
  }
  if (auto* c = o.if_contains("category")) {
    if (!c->is_string()) return bad_filter("\"category\" must be a string");
    f.stream_prefix = std::string(c->as_string()) + "-";
  }
  // The stored shape: "where": {"/data/total": 1000, "/metadata/tenant": "a"}.
  if (auto* w = o.if_contains("where")) {
    if (auto r = read_where(json, *w, f); !r) return r.error();
  }
  if (auto* fs = o.if_contains("fields")) {
    if (auto r = read_fields(json, *fs, f); !r) return r.error();
  }
  if (auto r = read_joins(json, o, f, level); !r) return r.error();
  return f;
}

}  // namespace

result<filter> filter::from_json_member(std::string_view json, std::string_view key) {
  boost::json::parse_options opts;
  opts.max_depth = max_filter_depth + 1;
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec, {}, opts);
  if (ec || !v.is_object() || !v.as_object().contains(key)) {
    return bad_filter("expected a JSON object with " + json_string(key) + ": {\"" + std::string(key) +
                      "\": {...}}");
  }
  return from_json(*detail::raw_member(json, key));
}

}  // namespace evstore

namespace evstore::detail {

filter_matcher::filter_matcher(const filter& f) : filter_(f) {
  for (auto& field : filter_.fields) {
    std::optional<std::vector<filter_check>> checks;
    if (is_valid_json(field.value)) {
      field.value = compact(field.value);
      std::string problem;
      if (auto v = parse_exact_json(field.value)) checks = parse_condition(*v, field.value, problem);
    }
    valid_ = valid_ && checks.has_value();
    checks_.push_back(checks ? std::move(*checks) : std::vector<filter_check>{});
  }
  sorted_streams_ = filter_.streams;
  std::sort(sorted_streams_.begin(), sorted_streams_.end());
  // The nested filters' matchers; the definition keeps their compacted values.
  for (auto [defs, matchers] : {std::pair{&filter_.any, &any_}, std::pair{&filter_.all, &all_}}) {
    for (filter& sub : *defs) {
      matchers->emplace_back(sub);
      sub = matchers->back().definition();
      valid_ = valid_ && matchers->back().valid_;
    }
  }
}

bool filter_matcher::same_filter(const filter& f) const {
  if (f.types != filter_.types || f.stream_prefix != filter_.stream_prefix || f.streams != filter_.streams ||
      f.fields.size() != filter_.fields.size() || f.any.size() != any_.size() ||
      f.all.size() != all_.size()) {
    return false;
  }
  for (std::size_t i = 0; i < any_.size(); ++i) {
    if (!any_[i].same_filter(f.any[i])) return false;
  }
  for (std::size_t i = 0; i < all_.size(); ++i) {
    if (!all_[i].same_filter(f.all[i])) return false;
  }
  for (std::size_t i = 0; i < f.fields.size(); ++i) {
    const auto& a = f.fields[i];
    const auto& b = filter_.fields[i];
    if (a.in_metadata != b.in_metadata || a.pointer != b.pointer) return false;
    if (a.value != b.value) {
      const auto v = parse_exact_json(a.value);
      std::string problem;
      const auto checks = v ? parse_condition(*v, a.value, problem) : std::nullopt;
      if (!checks || *checks != checks_[i]) return false;
    }
  }
  return true;
}

bool filter_matcher::matches(const recorded_event& e) const {
  if (!valid_) return false;
  if (!filter_.types.empty() &&
      std::find(filter_.types.begin(), filter_.types.end(), e.type) == filter_.types.end()) {
    return false;
  }
  if (!e.stream.starts_with(filter_.stream_prefix)) return false;
  if (!sorted_streams_.empty() &&
      !std::binary_search(sorted_streams_.begin(), sorted_streams_.end(), e.stream))
    return false;
  // The value at each pointer is found in the event's text (valid JSON: the
  // append checked it) and only that value is parsed.
  for (std::size_t i = 0; i < filter_.fields.size(); ++i) {
    const auto& field = filter_.fields[i];
    const auto at = raw_at_pointer(field.in_metadata ? e.metadata : e.data, field.pointer);
    if (!at) return false;  // no such value (metadata may be empty): no match
    const auto v = parse_exact_json(*at);
    if (!v) return false;
    for (const filter_check& check : checks_[i]) {
      if (!passes(check, *v)) return false;
    }
  }
  for (const filter_matcher& m : all_) {
    if (!m.matches(e)) return false;
  }
  return any_.empty() ||
         std::any_of(any_.begin(), any_.end(), [&](const filter_matcher& m) { return m.matches(e); });
}

}  // namespace evstore::detail
