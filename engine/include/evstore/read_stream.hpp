// Read streams: named, ordered selections of events from any write streams,
// defined by a declarative filter that is stored with them (never code).
//
//   store.create_read_stream("big-paid-orders",
//       evstore::filter::event_types({"OrderPaid"}).where("/total", "1000"), token);
//
// A filter matches an event when every part given holds: its type is one of
// `types`, its stream name starts with `stream_prefix`, and for every field
// condition the JSON value at the JSON pointer (RFC 6901) in its data (or
// metadata) equals the given JSON value.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace evstore {

struct filter {
  struct field_equals {
    bool in_metadata = false;  // false: the event's data
    std::string pointer;       // e.g. "/customer/country"
    std::string value;         // JSON text, e.g. "\"DE\"" or "1000"
    friend bool operator==(const field_equals&, const field_equals&) = default;
  };

  std::vector<std::string> types;  // any of these (empty: any type)
  std::string stream_prefix;       // empty: any stream
  std::vector<field_equals> fields;

  static filter event_types(std::vector<std::string> t) { return filter{std::move(t), {}, {}}; }
  // Streams named "<c>-...".
  static filter category(std::string_view c) { return filter{{}, std::string(c) + "-", {}}; }
  static filter prefix(std::string p) { return filter{{}, std::move(p), {}}; }
  filter& where(std::string pointer, std::string json_value) {
    fields.push_back({false, std::move(pointer), std::move(json_value)});
    return *this;
  }
  filter& where_metadata(std::string pointer, std::string json_value) {
    fields.push_back({true, std::move(pointer), std::move(json_value)});
    return *this;
  }

  // {"types":[...],"streamPrefix":"...","where":{"/data/a":1,"/metadata/b":"x"}} (API.md).
  // from_json also takes "category": "c" (prefix "c-") and the long form
  // "fields":[{"in":"data","pointer":"/a","value":1}].
  std::string to_json() const;
  // Errors: invalid_argument (not that shape, a pointer not starting with '/', a value not JSON).
  static result<filter> from_json(std::string_view json);
  // The same checks on a filter built in code.
  result<void> validate() const;

  friend bool operator==(const filter&, const filter&) = default;
};

struct read_stream_info {
  std::string name;
  evstore::filter filter;
  std::uint64_t event_count = 0;  // entries published so far
  bool building = false;           // back-fill not finished
};

}  // namespace evstore
