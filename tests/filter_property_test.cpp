// Property: for random filters and random events (seeded: every run checks
// the same cases), the indexer's decision (filter_matcher, and a store's read
// streams) equals a reference matcher written here from the definition in
// read_stream.hpp, plainly: its own JSON parser, numbers compared as
// decimals, pointers walked by hand. Edge values on purpose: numbers beyond
// a double or 64 bits, deep nesting, repeated keys and pointers, strings that
// look like numbers, escapes, missing pointers.
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "links/filter_matcher.hpp"
#include "support/store_fixture.hpp"
#include <evstore/read_stream.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <set>

using namespace evstore;
using namespace evstore::test;
using namespace std::chrono_literals;

namespace {

// --- The reference: a JSON tree, parsed by recursive descent (input is valid JSON).

struct ref_value {
  enum kind { null, boolean, number, string, array, object } k = null;
  std::string text;  // boolean: "true"/"false"; number: "sign digits e exponent"; string: its bytes
  std::vector<ref_value> items;
  std::vector<std::pair<std::string, ref_value>> members;  // as written, repeats included
};

// A decimal as (sign, digits without leading/trailing zeros, exponent of the last digit).
std::string normal_number(std::string_view t) {
  bool negative = t.front() == '-';
  if (negative) t.remove_prefix(1);
  std::string digits;
  long exponent = 0;
  std::size_t i = 0;
  for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i) digits += t[i];
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i, --exponent) digits += t[i];
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E'))
    exponent += std::strtol(std::string(t.substr(i + 1)).c_str(), nullptr, 10);
  while (!digits.empty() && digits.front() == '0') digits.erase(0, 1);
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  if (digits.empty()) return "0";
  return std::string(negative ? "-" : "+") + digits + "e" + std::to_string(exponent);
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

struct ref_parser {
  std::string_view s;
  std::size_t i = 0;
  void space() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  unsigned hex4() {
    const unsigned v = static_cast<unsigned>(std::stoul(std::string(s.substr(i, 4)), nullptr, 16));
    i += 4;
    return v;
  }
  std::string string() {
    std::string out;
    for (++i; s[i] != '"'; ++i) {
      if (s[i] != '\\') {
        out += s[i];
        continue;
      }
      const char c = s[++i];
      if (c == 'u') {
        ++i;
        unsigned cp = hex4();
        if (cp >= 0xd800 && cp < 0xdc00) {
          i += 2;  // "\u"
          cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4() - 0xdc00);
        }
        --i;
        append_utf8(out, cp);
      } else {
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
      }
    }
    ++i;
    return out;
  }
  ref_value value() {
    space();
    ref_value v;
    if (s[i] == '{') {
      v.k = ref_value::object;
      ++i;
      space();
      while (s[i] != '}') {
        std::string key = string();
        space();
        ++i;  // ':'
        v.members.emplace_back(std::move(key), value());
        space();
        if (s[i] == ',') ++i;
        space();
      }
      ++i;
    } else if (s[i] == '[') {
      v.k = ref_value::array;
      ++i;
      space();
      while (s[i] != ']') {
        v.items.push_back(value());
        space();
        if (s[i] == ',') ++i;
        space();
      }
      ++i;
    } else if (s[i] == '"') {
      v.k = ref_value::string;
      v.text = string();
    } else if (s.substr(i, 4) == "null") {
      i += 4;
    } else if (s.substr(i, 4) == "true" || s.substr(i, 5) == "false") {
      v.k = ref_value::boolean;
      v.text = s[i] == 't' ? "true" : "false";
      i += v.text.size();
    } else {
      v.k = ref_value::number;
      const std::size_t start = i;
      while (i < s.size() && std::string_view("+-.eE0123456789").find(s[i]) != std::string_view::npos) ++i;
      v.text = normal_number(s.substr(start, i - start));
    }
    return v;
  }
};

// The last member of that key (JSON.parse and Boost.JSON keep the last).
const ref_value* ref_member(const ref_value& o, const std::string& key) {
  const ref_value* found = nullptr;
  for (const auto& [k, v] : o.members) {
    if (k == key) found = &v;
  }
  return found;
}

bool ref_equal(const ref_value& a, const ref_value& b) {
  if (a.k != b.k || a.text != b.text || a.items.size() != b.items.size()) return false;
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    if (!ref_equal(a.items[i], b.items[i])) return false;
  }
  if (a.k != ref_value::object) return true;
  for (const auto& [k, v] : a.members) {
    const ref_value* other = ref_member(b, k);
    if (other == nullptr || !ref_equal(*ref_member(a, k), *other)) return false;
  }
  for (const auto& [k, v] : b.members) {
    if (ref_member(a, k) == nullptr) return false;
  }
  return true;
}

const ref_value* ref_at(const ref_value& doc, const std::string& pointer) {
  const ref_value* at = &doc;
  std::size_t i = 0;
  while (i < pointer.size()) {
    std::size_t end = pointer.find('/', i + 1);
    if (end == std::string::npos) end = pointer.size();
    std::string token;
    for (std::size_t j = i + 1; j < end; ++j) {
      if (pointer[j] == '~') {
        token += pointer[++j] == '0' ? '~' : '/';
      } else {
        token += pointer[j];
      }
    }
    i = end;
    if (at->k == ref_value::object) {
      at = ref_member(*at, token);
    } else if (at->k == ref_value::array) {
      const bool index = !token.empty() && token.find_first_not_of("0123456789") == std::string::npos &&
                         (token == "0" || token[0] != '0') && token.size() < 10;
      if (!index || std::stoul(token) >= at->items.size()) return nullptr;
      at = &at->items[std::stoul(token)];
    } else {
      return nullptr;
    }
    if (at == nullptr) return nullptr;
  }
  return at;
}

// An object with a "$" key: operators (read_stream.hpp).
bool ref_is_operators(const ref_value& v) {
  if (v.k != ref_value::object) return false;
  return std::any_of(v.members.begin(), v.members.end(),
                     [](const auto& m) { return !m.first.empty() && m.first[0] == '$'; });
}

// A normal number ("0" or "±digits e exponent") as fixed-point text with the
// point at a set place, so that two of one sign compare as strings.
std::string ref_fixed(const std::string& normal) {
  constexpr long places = 2000;
  std::string out(2 * places, '0');
  if (normal == "0") return out;
  const auto e = normal.find('e');
  const std::string digits = normal.substr(1, e - 1);
  const long exponent = std::stol(normal.substr(e + 1));
  // The last digit has the place value 10^exponent: index places - 1 - exponent.
  const long last = places - 1 - exponent;
  for (std::size_t i = 0; i < digits.size(); ++i)
    out.at(static_cast<std::size_t>(last - static_cast<long>(digits.size() - 1 - i))) = digits[i];
  return out;
}

// -1, 0, 1; 2 if the two have no order.
int ref_order(const ref_value& a, const ref_value& b) {
  if (a.k != b.k) return 2;
  if (a.k == ref_value::string) {
    const int c = std::memcmp(a.text.data(), b.text.data(), std::min(a.text.size(), b.text.size()));
    if (c != 0) return c < 0 ? -1 : 1;
    return a.text.size() < b.text.size() ? -1 : a.text.size() > b.text.size() ? 1 : 0;
  }
  if (a.k != ref_value::number) return 2;
  const auto sign = [](const std::string& n) { return n == "0" ? 0 : n[0] == '-' ? -1 : 1; };
  if (sign(a.text) != sign(b.text)) return sign(a.text) < sign(b.text) ? -1 : 1;
  const std::string fa = ref_fixed(a.text), fb = ref_fixed(b.text);
  const int magnitude = fa < fb ? -1 : fa > fb ? 1 : 0;
  return sign(a.text) < 0 ? -magnitude : magnitude;
}

bool ref_contains(const std::vector<ref_value>& items, const ref_value& v) {
  return std::any_of(items.begin(), items.end(), [&](const ref_value& x) { return ref_equal(x, v); });
}

bool ref_passes(const std::string& op, const ref_value& operand, const ref_value& found) {
  if (op == "$eq") return ref_equal(found, operand);
  if (op == "$ne") return !ref_equal(found, operand);
  const int o = ref_order(found, operand);
  if (op == "$gt") return o == 1;
  if (op == "$gte") return o == 0 || o == 1;
  if (op == "$lt") return o == -1;
  if (op == "$lte") return o == -1 || o == 0;
  if (op == "$in") return ref_contains(operand.items, found);
  if (op == "$has") return found.k == ref_value::array && ref_contains(found.items, operand);
  // $hasAny
  if (found.k != ref_value::array) return false;
  return std::any_of(operand.items.begin(), operand.items.end(),
                     [&](const ref_value& x) { return ref_contains(found.items, x); });
}

// read_stream.hpp's rules for what a filter may say.
bool ref_valid(const filter& f) {
  // Joins (read_stream.hpp): names non-empty; every nested filter valid.
  for (const auto& name : f.streams) {
    if (name.empty()) return false;
  }
  for (const auto* list : {&f.any, &f.all}) {
    for (const filter& sub : *list) {
      if (!ref_valid(sub)) return false;
    }
  }
  const std::function<bool(const ref_value&)> numbers_fit = [&](const ref_value& v) {
    if (v.k == ref_value::number && v.text != "0") {
      const double d = std::strtod(v.text.c_str(), nullptr);  // "+digitsEexponent", correctly rounded
      if (!std::isfinite(d) || d == 0) return false;
    }
    for (const auto& x : v.items) {
      if (!numbers_fit(x)) return false;
    }
    for (const auto& [k, x] : v.members) {
      if (!numbers_fit(x)) return false;
    }
    return true;
  };
  for (const auto& c : f.fields) {
    if (!c.pointer.empty() && c.pointer[0] != '/') return false;
    for (std::size_t i = 0; i < c.pointer.size(); ++i) {
      if (c.pointer[i] == '~' &&
          (i + 1 == c.pointer.size() || (c.pointer[i + 1] != '0' && c.pointer[i + 1] != '1'))) {
        return false;
      }
    }
    const ref_value v = ref_parser{c.value}.value();
    if (!numbers_fit(v)) return false;
    if (!ref_is_operators(v)) continue;
    std::set<std::string> seen;
    for (const auto& [k, x] : v.members) {
      if (k.empty() || k[0] != '$' || !seen.insert(k).second) return false;
      if (k == "$gt" || k == "$gte" || k == "$lt" || k == "$lte") {
        if (x.k != ref_value::number && x.k != ref_value::string) return false;
      } else if (k == "$in" || k == "$hasAny") {
        if (x.k != ref_value::array || x.items.empty()) return false;
      } else if (k != "$eq" && k != "$ne" && k != "$has") {
        return false;
      }
    }
  }
  return true;
}

bool ref_matches(const filter& f, const recorded_event& e) {
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), e.type) == f.types.end()) return false;
  if (e.stream.substr(0, f.stream_prefix.size()) != f.stream_prefix) return false;
  if (!f.streams.empty() && std::find(f.streams.begin(), f.streams.end(), e.stream) == f.streams.end())
    return false;
  for (const filter& sub : f.all) {
    if (!ref_matches(sub, e)) return false;
  }
  if (!f.any.empty() &&
      std::none_of(f.any.begin(), f.any.end(), [&](const filter& sub) { return ref_matches(sub, e); }))
    return false;
  for (const auto& c : f.fields) {
    const std::string_view text = c.in_metadata ? e.metadata : e.data;
    if (text.empty()) return false;
    const ref_value doc = ref_parser{text}.value();
    const ref_value* at = ref_at(doc, c.pointer);
    if (at == nullptr) return false;
    const ref_value condition = ref_parser{c.value}.value();
    if (!ref_is_operators(condition)) {
      if (!ref_equal(*at, condition)) return false;
      continue;
    }
    for (const auto& [op, operand] : condition.members) {
      if (!ref_passes(op, operand, *at)) return false;
    }
  }
  return true;
}

// --- Random filters and events over a small vocabulary, so that they meet.

struct generator {
  std::mt19937_64 rng;
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  bool chance(int percent) { return pick(100) < static_cast<std::size_t>(percent); }

  std::string number() {
    static const std::vector<std::string> numbers = {"0",
                                                     "-0",
                                                     "0.0",
                                                     "1",
                                                     "1.0",
                                                     "10e-1",
                                                     "1e0",
                                                     "-1",
                                                     "12.5",
                                                     "1.25E1",
                                                     "12.50",
                                                     "100",
                                                     "1e2",
                                                     "123456789012345678901234",
                                                     "123456789012345678901235",
                                                     "18446744073709551615",
                                                     "18446744073709551616",
                                                     "-9223372036854775808",
                                                     "9007199254740992",
                                                     "9007199254740993",
                                                     "9007199254740992.0",
                                                     "1e400",
                                                     "-1e400",
                                                     "1e-400",
                                                     "1E+308",
                                                     "1.7976931348623157e308",
                                                     "0.1",
                                                     "0.10000000000000001"};
    return numbers[pick(numbers.size())];
  }
  std::string key() {
    static const std::vector<std::string> keys = {"a", "b", "a/b", "~", "0", "01", "$gt", "", "\u00e9"};
    return keys[pick(keys.size())];
  }
  std::string string_value() {
    static const std::vector<std::string> strings = {R"("a")",
                                                     R"("\u0061")",
                                                     R"("1")",
                                                     R"("12.5")",
                                                     R"("")",
                                                     R"("a\"b")",
                                                     R"("\ud83d\ude00")",
                                                     "\"\xf0\x9f\x98\x80\""};
    return strings[pick(strings.size())];
  }
  std::string escaped_key(const std::string& k) {
    std::string out = "\"";
    for (char c : k) out += c == '"' ? std::string("\\\"") : std::string(1, c);
    return out + "\"";
  }
  std::string value(int depth) {
    const std::size_t kind = depth <= 0 ? pick(5) : pick(8);
    switch (kind) {
      case 0:
      case 1: return number();
      case 2: return string_value();
      case 3: return chance(50) ? "true" : chance(50) ? "false" : "null";
      case 4: return chance(50) ? "[]" : "{}";
      case 5:
      case 6: {
        std::string out = "{";
        for (std::size_t n = pick(4), i = 0; i < n; ++i)
          out += (i ? "," : "") + escaped_key(key()) + ":" + value(depth - 1);
        return out + "}";
      }
      default: {
        std::string out = chance(20) ? " [ " : "[";
        for (std::size_t n = pick(4), i = 0; i < n; ++i) out += (i ? "," : "") + value(depth - 1);
        return out + "]";
      }
    }
  }
  // Nested `levels` arrays/objects deep around `inner`, by pointer "/0/a/0...".
  std::pair<std::string, std::string> deep(std::size_t levels, const std::string& inner) {
    std::string open, close, pointer;
    for (std::size_t i = 0; i < levels; ++i) {
      if (i % 2 == 0) {
        open += "[";
        close = "]" + close;
        pointer += "/0";
      } else {
        open += R"({"a":)";
        close = "}" + close;
        pointer += "/a";
      }
    }
    return {open + inner + close, pointer};
  }
  // A value to compare with: mostly numbers and strings, so they meet.
  std::string operand() { return chance(45) ? number() : chance(70) ? string_value() : value(1); }
  std::string operand_list() {
    std::string out = "[";
    for (std::size_t n = chance(5) ? 0 : 1 + pick(3), i = 0; i < n; ++i) out += (i ? "," : "") + operand();
    return out + "]";
  }
  // An object of operators, now and then a wrong one (unknown, repeated,
  // beside a plain member, an operand of the wrong kind).
  std::string operators() {
    static const std::vector<std::string> ops = {"$eq",  "$ne", "$gt",  "$gte",    "$lt",
                                                 "$lte", "$in", "$has", "$hasAny", "$foo"};
    std::string out = "{";
    for (std::size_t n = 1 + pick(2), i = 0; i < n; ++i) {
      std::string op = ops[pick(chance(3) ? ops.size() : ops.size() - 1)];
      if (chance(2)) op = "b";
      const bool list = op == "$in" || op == "$hasAny";
      out += (i ? "," : "") + escaped_key(op) + ":" + (list != chance(3) ? operand_list() : operand());
    }
    return out + "}";
  }
  std::string pointer() {
    std::string p;
    for (std::size_t n = pick(3), i = 0; i < n; ++i) {
      std::string k = key();
      std::string escaped;
      for (char c : k) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
      p += "/" + escaped;
    }
    if (chance(3)) p += "/~2";  // malformed
    return p;
  }
  // For a plain condition its value; for operators one of their operands or
  // an array around one, so that comparisons meet equal and nearby values.
  std::string near(const std::string& condition) {
    if (condition.empty() || condition[0] != '{' || condition.find("\"$") == std::string::npos)
      return condition;
    const auto members = detail::raw_members(condition);
    if (members.empty()) return condition;
    std::string_view one = members[pick(members.size())].second;
    if (!one.empty() && one[0] == '[') {
      const auto items = detail::raw_elements(one);
      if (!items.empty()) one = items[pick(items.size())];
    }
    const std::string text = chance(20) ? number() : std::string(one);
    return chance(30) ? "[" + text + (chance(50) ? "," + operand() : "") + "]" : text;
  }
  filter make_filter(int depth = 0) {
    filter f;
    if (chance(30)) f.types = {chance(50) ? "A" : "B"};
    if (chance(20)) f.stream_prefix = "s-";
    // Joins now and then, nested at most twice.
    if (chance(depth ? 40 : 12)) {
      static const std::vector<std::string> names = {"s-1", "t-1", "s-2", "s-", ""};
      for (std::size_t n = 1 + pick(2), i = 0; i < n; ++i) f.streams.push_back(names[pick(names.size())]);
    }
    if (depth < 2 && chance(15)) {
      for (std::size_t n = 1 + pick(3), i = 0; i < n; ++i) f.any.push_back(make_filter(depth + 1));
    }
    if (depth < 2 && chance(8)) {
      for (std::size_t n = 1 + pick(2), i = 0; i < n; ++i) f.all.push_back(make_filter(depth + 1));
    }
    if (depth > 0 && chance(60)) return f;  // a nested filter is mostly about streams and types
    for (std::size_t n = 1 + pick(2), i = 0; i < n; ++i) {
      if (chance(10)) {
        f.fields.push_back(
            {chance(20), "/d" + deep(pick(evstore::detail::max_json_depth), "").second, number()});
      } else if (chance(35)) {
        f.fields.push_back({chance(20), pointer(), operators()});
      } else {
        f.fields.push_back({chance(20), pointer(), value(2)});
      }
      if (chance(15)) f.fields.push_back(f.fields.back());  // a repeated pointer
      if (chance(10)) f.fields.back().pointer = f.fields.front().pointer;
    }
    return f;
  }
  // The conditions of a filter and of every filter nested in it.
  static std::vector<filter::field_condition> all_fields(const filter& f) {
    std::vector<filter::field_condition> out = f.fields;
    for (const auto* list : {&f.any, &f.all}) {
      for (const filter& sub : *list) {
        auto more = all_fields(sub);
        out.insert(out.end(), more.begin(), more.end());
      }
    }
    return out;
  }
  std::string document(const filter& f, bool metadata) {
    // Often built around the filter's own pointers and values, so matches happen.
    std::string out = "{";
    std::size_t n = 0;
    for (const auto& c : all_fields(f)) {
      if (c.in_metadata != metadata || c.pointer.empty() || !chance(70)) continue;
      auto tokens_end = c.pointer.find('/', 1);
      std::string first =
          c.pointer.substr(1, tokens_end == std::string::npos ? std::string::npos : tokens_end - 1);
      std::string key;
      for (std::size_t i = 0; i < first.size(); ++i) {
        if (first[i] == '~' && i + 1 < first.size()) {
          key += first[++i] == '0' ? '~' : '/';
        } else {
          key += first[i];
        }
      }
      std::string inner = chance(60) ? near(c.value) : value(2);
      if (first == "d") {
        const auto levels = static_cast<std::size_t>(std::count(c.pointer.begin(), c.pointer.end(), '/') - 1);
        inner = deep(levels, chance(60) ? c.value : number()).first;
      } else if (tokens_end != std::string::npos) {
        inner = value(3);
      }
      out += (n++ ? "," : "") + escaped_key(key) + ":" + inner;
    }
    for (std::size_t extra = pick(3), i = 0; i < extra; ++i)
      out += (n++ ? "," : "") + escaped_key(key()) + ":" + value(2);
    return out + "}";
  }
};

TEST(filter_property, the_matcher_decides_as_the_reference_for_random_filters_and_events) {
  generator g{std::mt19937_64(20261130)};
  std::size_t valid = 0, matched = 0, checked = 0, op_checked = 0, op_matched = 0, join_checked = 0,
              join_matched = 0;
  for (int round = 0; round < 6000; ++round) {
    const filter f = g.make_filter();
    const bool expect_valid = ref_valid(f);
    ASSERT_EQ(f.validate().has_value(), expect_valid) << f.to_json();
    if (!expect_valid) continue;
    ++valid;
    const detail::filter_matcher m(f);
    const bool has_operators = std::any_of(f.fields.begin(), f.fields.end(), [](const auto& c) {
      return ref_is_operators(ref_parser{c.value}.value());
    });
    const bool has_joins = !f.streams.empty() || !f.any.empty() || !f.all.empty();
    auto reloaded = filter::from_json(f.to_json());
    ASSERT_TRUE(reloaded) << f.to_json() << ": " << reloaded.error().message();
    ASSERT_EQ(*reloaded, m.definition()) << "stored and reloaded, the same filter";
    ASSERT_TRUE(m.same_filter(f));
    for (int k = 0; k < 10; ++k) {
      const std::string data = g.document(f, false);
      const std::string metadata = g.chance(20) ? std::string() : g.document(f, true);
      if (!detail::is_valid_json(data) || !detail::is_valid_json(metadata.empty() ? "{}" : metadata))
        continue;
      recorded_event e;
      e.stream = g.chance(60) ? "s-1" : g.chance(50) ? "t-1" : "s-2";
      e.type = g.chance(50) ? "A" : "B";
      e.data = data;
      e.metadata = metadata;
      const bool expected = ref_matches(f, e);
      op_checked += has_operators;
      op_matched += has_operators && expected;
      join_checked += has_joins;
      join_matched += has_joins && expected;
      ASSERT_EQ(m.matches(e), expected) << f.to_json() << "\n data " << data << "\n metadata " << metadata;
      ++checked;
      matched += expected;
    }
  }
  // The generator must reach both answers often, or the property says little.
  EXPECT_GT(valid, 1000u);
  EXPECT_GT(matched, 1000u);
  EXPECT_GT(checked - matched, 1000u);
  // And so must filters with operators.
  std::printf(
      "[filter_property] %zu checks, %zu matched; with operators %zu, %zu matched; with joins %zu, %zu "
      "matched\n",
      checked, matched, op_checked, op_matched, join_checked, join_matched);
  EXPECT_GT(op_matched, 250u);
  EXPECT_GT(op_checked - op_matched, 1000u);
  EXPECT_GT(join_matched, 250u);
  EXPECT_GT(join_checked - join_matched, 1000u);
}

// The same property through a store: its read streams, after a restart too,
// hold exactly the events the reference selects.
TEST(filter_property, a_stores_read_streams_hold_what_the_reference_selects) {
  generator g{std::mt19937_64(7)};
  std::vector<filter> filters;
  while (filters.size() < 12) {
    filter f = g.make_filter();
    if (f.validate()) filters.push_back(std::move(f));
  }
  struct appended {
    std::string stream, type, data, metadata;
  };
  std::vector<appended> events;
  temp_dir dir;
  store_options o;
  o.directory = dir.path();
  o.system_streams = false;
  const auto check = [&](store& s) {
    ASSERT_TRUE(wait_until([&] { return s.statistics().indexed >= events.size(); }));
    for (std::size_t i = 0; i < filters.size(); ++i) {
      std::vector<std::uint64_t> expected, got;
      for (std::size_t p = 0; p < events.size(); ++p) {
        recorded_event e;
        e.stream = events[p].stream;
        e.type = events[p].type;
        e.data = events[p].data;
        e.metadata = events[p].metadata;
        if (ref_matches(filters[i], e)) expected.push_back(p);
      }
      auto page = s.read("r" + std::to_string(i), {.max_count = 10000});
      ASSERT_TRUE(page) << page.error().message();
      for (const auto& e : page->events) got.push_back(e.position);
      EXPECT_EQ(got, expected) << filters[i].to_json();
    }
  };
  const auto append_some = [&](store& s, int n) {
    for (int k = 0; k < n; ++k) {
      const filter& f = filters[g.pick(filters.size())];
      appended a{g.chance(70) ? "s-1" : "t-1", g.chance(50) ? "A" : "B", g.document(f, false),
                 g.chance(20) ? std::string() : g.document(f, true)};
      event_data d = make_event(a.type, a.data);
      d.metadata = a.metadata;
      if (append_wait(s, a.stream, {d}).ec) continue;  // refused (too deep): not in $all
      events.push_back(std::move(a));
    }
  };
  {
    io_thread io;
    auto s = store::open(io.executor(), o);
    ASSERT_TRUE(s) << s.error().message();
    append_some(*s, 150);  // back-filled
    for (std::size_t i = 0; i < filters.size(); ++i) {
      std::promise<boost::system::error_code> done;
      s->create_read_stream("r" + std::to_string(i), filters[i],
                            [&](boost::system::error_code ec) { done.set_value(ec); });
      ASSERT_FALSE(done.get_future().get()) << filters[i].to_json();
    }
    append_some(*s, 150);  // linked live
    check(*s);
    ASSERT_FALSE(close_wait(*s));
  }
  io_thread io;
  auto s = store::open(io.executor(), o);
  ASSERT_TRUE(s) << s.error().message();
  append_some(*s, 100);  // by the reloaded definitions
  check(*s);
}

}  // namespace
