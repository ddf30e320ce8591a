// JSON values compared exactly, as filters compare them: a number is the
// decimal it spells (1 == 1.0 == 1e0, 12.5 == 1.25E1, and two integers of any
// length are equal only digit for digit), never a rounded double; strings are
// compared after unescaping; objects as sets of members (with a repeated key
// the last one counts, as in Boost.JSON and JavaScript). Parsing never throws
// (beyond bad_alloc) and accepts what is_valid_json accepts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::detail {

// ±digits × 10^exponent, digits without a leading or trailing zero: one
// spelling per value. Zero has no digits and is never negative (-0 == 0).
struct exact_number {
  bool negative = false;
  std::string digits;
  std::int64_t exponent = 0;  // saturates far beyond any double: such numbers equal no filter number
  friend bool operator==(const exact_number&, const exact_number&) = default;
};

// The number spelled by `text` (JSON number syntax, REQUIRED valid).
exact_number exact_number_from_text(std::string_view text);

// True if the number is 0 or a finite double that does not underflow to 0.
bool fits_double(const exact_number& n);

struct exact_value {
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };
  kind k = kind::null;
  bool boolean = false;
  exact_number number;
  std::string string;
  std::vector<exact_value> array;
  std::vector<std::pair<std::string, exact_value>> object;  // sorted by key, keys unique

  const exact_value* member(std::string_view key) const;
  friend bool operator==(const exact_value&, const exact_value&) = default;
};

// nullopt if `text` is not exactly one JSON value nested at most
// max_json_depth deep. `numbers_fit_double`, if given, tells whether every
// number written fits_double (those of a repeated key that lost included).
std::optional<exact_value> parse_exact_json(std::string_view text, bool* numbers_fit_double = nullptr);

}  // namespace evstore::detail
