#include "json/exact_json.hpp"

#include "json/json_check.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace evstore::detail {
namespace {

// Far beyond a double's exponent (±324), far below overflow of the sums below.
constexpr std::int64_t exponent_cap = std::int64_t{1} << 50;

// Builds an exact_value from Boost.JSON's SAX events; the parser checks the
// grammar, UTF-8 and the depth.
struct builder {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  using ec = boost::system::error_code;

  std::vector<exact_value> open;  // arrays and objects being filled
  std::vector<std::string> keys;  // one pending key per open object that awaits its value
  std::string part;               // a string, key or number split over callbacks
  std::optional<exact_value> done;
  bool check_range = false;
  bool numbers_fit = true;

  void add(exact_value v) {
    if (open.empty()) {
      done = std::move(v);
    } else if (open.back().k == exact_value::kind::array) {
      open.back().array.push_back(std::move(v));
    } else {
      open.back().object.emplace_back(std::move(keys.back()), std::move(v));
      keys.pop_back();
    }
  }
  void add_number(std::string_view last) {
    part.append(last);
    exact_value v;
    v.k = exact_value::kind::number;
    v.number = exact_number_from_text(part);
    part.clear();
    if (check_range) numbers_fit = numbers_fit && fits_double(v.number);
    add(std::move(v));
  }
  bool close() {
    exact_value v = std::move(open.back());
    open.pop_back();
    if (v.k == exact_value::kind::object) {
      auto& m = v.object;
      std::stable_sort(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      // A repeated key: the last one written counts.
      std::vector<std::pair<std::string, exact_value>> unique;
      unique.reserve(m.size());
      for (std::size_t i = 0; i < m.size(); ++i) {
        if (i + 1 < m.size() && m[i + 1].first == m[i].first) continue;
        unique.push_back(std::move(m[i]));
      }
      m = std::move(unique);
    }
    add(std::move(v));
    return true;
  }

  bool on_document_begin(ec&) { return true; }
  bool on_document_end(ec&) { return true; }
  bool on_object_begin(ec&) {
    open.emplace_back().k = exact_value::kind::object;
    return true;
  }
  bool on_object_end(std::size_t, ec&) { return close(); }
  bool on_array_begin(ec&) {
    open.emplace_back().k = exact_value::kind::array;
    return true;
  }
  bool on_array_end(std::size_t, ec&) { return close(); }
  bool on_key_part(std::string_view s, std::size_t, ec&) {
    part.append(s);
    return true;
  }
  bool on_key(std::string_view s, std::size_t, ec&) {
    part.append(s);
    keys.push_back(std::move(part));
    part.clear();
    return true;
  }
  bool on_string_part(std::string_view s, std::size_t, ec&) {
    part.append(s);
    return true;
  }
  bool on_string(std::string_view s, std::size_t, ec&) {
    part.append(s);
    exact_value v;
    v.k = exact_value::kind::string;
    v.string = std::move(part);
    part.clear();
    add(std::move(v));
    return true;
  }
  bool on_number_part(std::string_view s, ec&) {
    part.append(s);
    return true;
  }
  // Boost.JSON's converted value is ignored: the text is the number.
  bool on_int64(std::int64_t, std::string_view s, ec&) {
    add_number(s);
    return true;
  }
  bool on_uint64(std::uint64_t, std::string_view s, ec&) {
    add_number(s);
    return true;
  }
  bool on_double(double, std::string_view s, ec&) {
    add_number(s);
    return true;
  }
  bool on_bool(bool b, ec&) {
    exact_value v;
    v.k = exact_value::kind::boolean;
    v.boolean = b;
    add(std::move(v));
    return true;
  }
  bool on_null(ec&) {
    add(exact_value{});
    return true;
  }
  bool on_comment_part(std::string_view, ec&) { return true; }
  bool on_comment(std::string_view, ec&) { return true; }
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

exact_number exact_number_from_text(std::string_view text) {
  exact_number n;
  std::size_t i = 0;
  if (i < text.size() && text[i] == '-') {
    n.negative = true;
    ++i;
  }
  std::string digits;
  while (i < text.size() && is_digit(text[i])) digits += text[i++];
  std::int64_t fraction = 0;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && is_digit(text[i]); ++i, ++fraction) digits += text[i];
  }
  std::int64_t exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    for (; i < text.size() && is_digit(text[i]); ++i)
      exponent = std::min(exponent * 10 + (text[i] - '0'), exponent_cap);
    if (negative) exponent = -exponent;
  }
  const auto first = digits.find_first_not_of('0');
  if (first == std::string::npos) return exact_number{};  // zero, whatever its sign and exponent
  const auto last = digits.find_last_not_of('0');
  n.digits = digits.substr(first, last + 1 - first);
  const auto trailing_zeros = static_cast<std::int64_t>(digits.size() - 1 - last);
  n.exponent = exponent - fraction + trailing_zeros;
  return n;
}

bool fits_double(const exact_number& n) {
  if (n.digits.empty()) return true;
  const std::int64_t scientific = n.exponent + static_cast<std::int64_t>(n.digits.size()) - 1;
  if (scientific > 400 || scientific < -400) return false;
  std::string text(n.digits.substr(0, 1));
  if (n.digits.size() > 1) text.append(".").append(n.digits, 1);
  text.append("e").append(std::to_string(scientific));
  double d = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
  return r.ec == std::errc() && std::isfinite(d) && d != 0;
}

const exact_value* exact_value::member(std::string_view key) const {
  auto it = std::lower_bound(object.begin(), object.end(), key,
                             [](const auto& m, std::string_view wanted) { return m.first < wanted; });
  return it != object.end() && it->first == key ? &it->second : nullptr;
}

std::optional<exact_value> parse_exact_json(std::string_view text, bool* numbers_fit_double) {
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth;
  boost::json::basic_parser<builder> parser(opts);
  parser.handler().check_range = numbers_fit_double != nullptr;
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size()) return std::nullopt;
  if (numbers_fit_double) *numbers_fit_double = parser.handler().numbers_fit;
  return std::move(parser.handler().done);
}

}  // namespace evstore::detail
