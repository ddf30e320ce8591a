// One condition of a read-stream filter, the value it is given in JSON: a
// plain value is equality; an object whose keys all start with "$" holds
// operators, every one of which must hold ({"$gte": 10, "$lt": 20}).
#pragma once

#include "json/exact_json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

enum class filter_op : std::uint8_t { eq, ne, gt, gte, lt, lte, in, has, has_any };

struct filter_check {
  filter_op op = filter_op::eq;
  exact_value operand;  // $in and $hasAny: an array of the values
  friend bool operator==(const filter_check&, const filter_check&) = default;
};

// The checks `value` (the condition's JSON text, parsed) says; nullopt with
// `problem` set to the reason (an unknown operator, operators mixed with
// plain members, an operand of the wrong kind). `text` is that JSON as
// written, to find an operator given twice (the parse keeps only the last).
std::optional<std::vector<filter_check>> parse_condition(const exact_value& value, std::string_view text,
                                                         std::string& problem);

// True if the value found at the condition's pointer passes the check.
bool passes(const filter_check& check, const exact_value& found);

// Numbers in the order of the decimals they spell (saturated exponents
// compare as their caps: only numbers far beyond a double are affected).
int compare_numbers(const exact_number& a, const exact_number& b);

}  // namespace evstore::detail
