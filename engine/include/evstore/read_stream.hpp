// Read streams: named, ordered selections of events from any write streams,
// defined by a declarative filter that is stored with them (never code).
//
//   store.create_read_stream("big-paid-orders",
//       evstore::filter::event_types({"OrderPaid"}).where("/total", R"({"$gte": 1000})"), token);
//
// A filter matches an event when every part given holds: its type is one of
// `types`, its stream name starts with `stream_prefix`, and for every field
// condition the JSON value at the JSON pointer (RFC 6901) in its data (or
// metadata) satisfies the condition's value. A plain JSON value means
// equality; an object whose keys all start with "$" holds operators, each of
// which must hold:
//   {"$eq": v}  equal to v            {"$ne": v}  present and not equal to v
//   {"$gt": v} {"$gte": v} {"$lt": v} {"$lte": v}  v a number or a string;
//               numbers compare as decimals, strings by code point; a value
//               of another kind never passes
//   {"$in": [v, ...]}     equal to one of them
//   {"$has": v}           an array with an element equal to v
//   {"$hasAny": [v, ...]} an array with an element equal to one of them
// ({"$gte": 10, "$lt": 20} is a range; {"$eq": {"$x": 1}} matches an object
// with a "$" key). Equal means equal as JSON, exactly:
// numbers are the decimals they spell (1 == 1.0 == 1e0; integers of any length
// compare digit for digit, never as rounded doubles), strings after
// unescaping, objects member by member whatever their order (a key repeated in
// an event: the last one counts). No value at the pointer: no match. Several
// conditions on one pointer must all hold. Values are kept as written, without
// whitespace outside strings: what is stored and listed is what was given.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore {

struct filter {
  struct field_condition {
    bool in_metadata = false;  // false: the event's data
    std::string pointer;       // e.g. "/customer/country"
    std::string value;         // JSON text, e.g. "\"DE\"", "1000" or "{\"$gt\":1000}"
    friend bool operator==(const field_condition&, const field_condition&) = default;
  };
  using field_equals = field_condition;  // its name before operators

  std::vector<std::string> types;  // any of these (empty: any type)
  std::string stream_prefix;       // empty: any stream
  std::vector<field_condition> fields;
  // Joins (node-event-storage's fromStreams): the event's stream is one of
  // these names (empty: any); it matches at least one filter of `any` (empty:
  // no such condition); it matches every filter of `all`. Nested up to
  // max_nesting levels; every part given must hold, as above.
  std::vector<std::string> streams;
  std::vector<filter> any;
  std::vector<filter> all;
  static constexpr std::size_t max_nesting = 4;
  static constexpr std::size_t max_parts =
      1024;  // names, conditions and filters in one filter, nested included

  static filter event_types(std::vector<std::string> t) { return filter{std::move(t), {}, {}}; }
  // Streams named "<c>-...".
  static filter category(std::string_view c) { return filter{{}, std::string(c) + "-", {}}; }
  static filter prefix(std::string p) { return filter{{}, std::move(p), {}}; }
  // Events of these streams (exactly these names), in global order.
  static filter of_streams(std::vector<std::string> names) {
    filter f;
    f.streams = std::move(names);
    return f;
  }
  // Events any of `alternatives` matches: filter::one_of({filter::of_streams({"a"}), filter::category("c")}).
  static filter one_of(std::vector<filter> alternatives) {
    filter f;
    f.any = std::move(alternatives);
    return f;
  }

  // The stream-name prefixes that bound the streams this filter may take
  // events from (an exact name counts as a prefix of itself); nullopt if it
  // may take any stream's. What an access check of a read stream needs: a
  // reader must be allowed every stream under each of them.
  std::optional<std::vector<std::string>> stream_prefixes() const;
  // A condition on the value at `pointer`: `json_value` is what "where" holds
  // in JSON, a plain value ("1000") or operators ("{\"$gt\":1000}").
  filter& where(std::string pointer, std::string json_value) {
    fields.push_back({false, std::move(pointer), std::move(json_value)});
    return *this;
  }
  filter& where_metadata(std::string pointer, std::string json_value) {
    fields.push_back({true, std::move(pointer), std::move(json_value)});
    return *this;
  }

  // {"types":[...],"streamPrefix":"...","where":{"/data/a":1,"/metadata/b":"x"},
  //  "streams":[...],"any":[{...}],"all":[{...}]} (docs/http.md); "streams", "any" and
  // "all" only when given. from_json also takes "category": "c" (prefix "c-")
  // and the long form "fields":[{"in":"data","pointer":"/a","value":1}].
  std::string to_json() const;
  // to_json() writes "where" unless two conditions share a pointer, then
  // "fields"; REQUIRES validate() succeeded. from_json(to_json()) == *this
  // for a filter whose values have no whitespace outside strings.
  // Errors: invalid_argument with the reason (not that shape, an unknown or
  // repeated key, both streamPrefix and category, a pointer repeated in
  // "where", or what validate() refuses).
  [[nodiscard]] static result<filter> from_json(std::string_view json);
  // from_json of the member `key` of a JSON object (an HTTP body
  // {"filter": {...}}), its values as written.
  [[nodiscard]] static result<filter> from_json_member(std::string_view json, std::string_view key);
  // The checks of create_read_stream. Errors: invalid_argument with the
  // reason: an empty or non-UTF-8 type, a prefix that is not UTF-8, a pointer
  // that is not RFC 6901 ('/'-separated, "~0" and "~1" the only escapes), a
  // value that is not JSON or is nested deeper than 64, a number a double
  // cannot hold (1e400, 1e-400), an unknown operator ({"$foo": 1}), an
  // operator given twice or beside plain members, an ordering operator
  // without a number or string, $in or $hasAny without a non-empty array,
  // an empty or non-UTF-8 stream name, filters nested deeper than
  // max_nesting or holding more than max_parts parts, in JSON an empty "any",
  // "all" or "streams".
  [[nodiscard]] result<void> validate() const;

  friend bool operator==(const filter&, const filter&) = default;
};

struct read_stream_info {
  std::string name;
  evstore::filter filter;
  std::uint64_t event_count = 0;  // entries published so far
  bool building = false;          // back-fill not finished
};

}  // namespace evstore
