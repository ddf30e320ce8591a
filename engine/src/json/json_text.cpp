#include "json/json_text.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>

namespace evstore::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// `i` at an opening quote; returns the index after the closing one.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// `i` at the first byte of a value; returns the index after its last byte.
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (i >= s.size()) return s.size();
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return s.size();
  }
  while (i < s.size() && !is_space(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}')
    ++i;  // number, literal
  return i;
}

// Calls f(value) for each element (array) or f(key_token, value) for each member (object).
template <class F>
void for_each_item(std::string_view s, char open, F&& f) {
  std::size_t i = skip_space(s, 0);
  if (i >= s.size() || s[i] != open) return;
  i = skip_space(s, i + 1);
  const char close = open == '[' ? ']' : '}';
  while (i < s.size() && s[i] != close) {
    std::string_view key;
    if (open == '{') {
      const std::size_t k = skip_string(s, i);
      key = s.substr(i, k - i);
      i = skip_space(s, k);
      i = skip_space(s, i + 1);  // ':'
    }
    const std::size_t end = skip_value(s, i);
    f(key, s.substr(i, end - i));
    i = skip_space(s, end);
    if (i < s.size() && s[i] == ',') i = skip_space(s, i + 1);
  }
}

std::string key_text(std::string_view token) {
  const std::string_view inner = token.substr(1, token.size() >= 2 ? token.size() - 2 : 0);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  boost::system::error_code ec;
  const auto v = boost::json::parse(token, ec);  // decode the escapes
  return !ec && v.is_string() ? std::string(v.as_string()) : std::string();
}

std::string_view trim(std::string_view s) {
  const std::size_t b = skip_space(s, 0);
  std::size_t e = s.size();
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool key_equals(std::string_view token, std::string_view key) {
  const std::string_view inner = token.substr(1, token.size() >= 2 ? token.size() - 2 : 0);
  if (inner.find('\\') == std::string_view::npos) return inner == key;
  boost::system::error_code ec;
  const auto v = boost::json::parse(token, ec);  // decode the escapes
  return !ec && v.is_string() && std::string_view(v.as_string()) == key;
}

}  // namespace

std::vector<std::string_view> raw_elements(std::string_view array_text) {
  std::vector<std::string_view> out;
  for_each_item(array_text, '[', [&](std::string_view, std::string_view v) { out.push_back(v); });
  return out;
}

std::optional<std::string_view> raw_member(std::string_view object_text, std::string_view key) {
  std::optional<std::string_view> found;
  for_each_item(object_text, '{', [&](std::string_view k, std::string_view v) {
    if (key_equals(k, key)) found = v;
  });
  return found;
}

std::vector<std::pair<std::string, std::string_view>> raw_members(std::string_view object_text) {
  std::vector<std::pair<std::string, std::string_view>> out;
  for_each_item(object_text, '{',
                [&](std::string_view k, std::string_view v) { out.emplace_back(key_text(k), v); });
  return out;
}

std::optional<std::string_view> raw_at_pointer(std::string_view json, std::string_view pointer) {
  std::string_view at = trim(json);
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // '/'
    const std::size_t end = std::min(pointer.find('/'), pointer.size());
    std::string token;
    for (std::size_t i = 0; i < end; ++i) {
      if (pointer[i] == '~' && i + 1 < end) {
        token += pointer[++i] == '1' ? '/' : '~';
      } else {
        token += pointer[i];
      }
    }
    pointer.remove_prefix(end);
    std::optional<std::string_view> next;
    if (!at.empty() && at.front() == '{') {
      for_each_item(at, '{', [&](std::string_view k, std::string_view v) {
        if (key_equals(k, token)) next = v;
      });
    } else if (!at.empty() && at.front() == '[') {
      const bool index = !token.empty() && token.size() <= 18 &&
                         token.find_first_not_of("0123456789") == std::string::npos &&
                         (token == "0" || token.front() != '0');
      if (!index) return std::nullopt;
      std::size_t wanted = 0;
      std::from_chars(token.data(), token.data() + token.size(), wanted);
      std::size_t i = 0;
      for_each_item(at, '[', [&](std::string_view, std::string_view v) {
        if (i++ == wanted) next = v;
      });
    }
    if (!next) return std::nullopt;
    at = *next;
  }
  return at;
}

void append_compact_json(std::string& out, std::string_view json) {
  out.reserve(out.size() + json.size());
  for (std::size_t i = 0; i < json.size();) {
    if (json[i] == '"') {
      const std::size_t end = skip_string(json, i);
      out.append(json.substr(i, end - i));
      i = end;
    } else {
      if (!is_space(json[i])) out += json[i];
      ++i;
    }
  }
}

}  // namespace evstore::detail
