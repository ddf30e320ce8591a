#include "links/filter_condition.hpp"

#include "json/json_text.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace evstore::detail {
namespace {

struct op_name {
  std::string_view name;
  filter_op op;
};
constexpr std::array<op_name, 9> op_names = {{{"$eq", filter_op::eq},
                                              {"$ne", filter_op::ne},
                                              {"$gt", filter_op::gt},
                                              {"$gte", filter_op::gte},
                                              {"$lt", filter_op::lt},
                                              {"$lte", filter_op::lte},
                                              {"$in", filter_op::in},
                                              {"$has", filter_op::has},
                                              {"$hasAny", filter_op::has_any}}};

std::string known_operators() {
  std::string out;
  for (const auto& o : op_names) out += (out.empty() ? "" : " ") + std::string(o.name);
  return out;
}

bool is_ordered(filter_op op) {
  return op == filter_op::gt || op == filter_op::gte || op == filter_op::lt || op == filter_op::lte;
}

// -1, 0 or 1 as a is below, equal to or above b; nullopt if they have no order
// (different kinds, or neither a number nor a string).
std::optional<int> order(const exact_value& a, const exact_value& b) {
  if (a.k != b.k) return std::nullopt;
  if (a.k == exact_value::kind::number) return compare_numbers(a.number, b.number);
  // Bytes as unsigned: for UTF-8, the order of the code points.
  if (a.k == exact_value::kind::string)
    return a.string.compare(b.string) < 0 ? -1 : a.string == b.string ? 0 : 1;
  return std::nullopt;
}

bool any_equal(const std::vector<exact_value>& values, const exact_value& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

int compare_numbers(const exact_number& a, const exact_number& b) {
  const auto sign = [](const exact_number& n) { return n.digits.empty() ? 0 : n.negative ? -1 : 1; };
  if (sign(a) != sign(b)) return sign(a) < sign(b) ? -1 : 1;
  if (sign(a) == 0) return 0;
  // digits × 10^exponent: the place of the leading digit decides, then the
  // digits (no trailing zeros, so a longer run with the same start is larger).
  const auto lead_a = a.exponent + static_cast<std::int64_t>(a.digits.size());
  const auto lead_b = b.exponent + static_cast<std::int64_t>(b.digits.size());
  int magnitude = lead_a < lead_b ? -1 : lead_a > lead_b ? 1 : 0;
  if (magnitude == 0) {
    const int c = a.digits.compare(b.digits);
    magnitude = c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return a.negative ? -magnitude : magnitude;
}

std::optional<std::vector<filter_check>> parse_condition(const exact_value& value, std::string_view text,
                                                         std::string& problem) {
  const bool operators = value.k == exact_value::kind::object &&
                         std::any_of(value.object.begin(), value.object.end(),
                                     [](const auto& m) { return m.first.starts_with("$"); });
  if (!operators) return std::vector<filter_check>{{filter_op::eq, value}};
  std::vector<filter_check> checks;
  std::set<std::string, std::less<>> seen;
  // In the order written, so an error names the first bad one.
  for (const auto& member : raw_members(text)) {
    const std::string& key = member.first;
    if (!seen.insert(key).second) {
      problem = "operator " + key + " given twice";
      return std::nullopt;
    }
    if (!key.starts_with("$")) {
      problem = "mixes operators and the plain member \"" + key +
                "\" (to match an object with \"$\" keys, write {\"$eq\": {...}})";
      return std::nullopt;
    }
    const auto named =
        std::find_if(op_names.begin(), op_names.end(), [&](const op_name& o) { return o.name == key; });
    if (named == op_names.end()) {
      problem = "unknown operator " + key + " (known: " + known_operators() + ")";
      return std::nullopt;
    }
    const exact_value& operand = *value.member(key);
    const auto k = operand.k;
    if (is_ordered(named->op) && k != exact_value::kind::number && k != exact_value::kind::string) {
      problem = key + " compares numbers or strings: give it a number or a string";
      return std::nullopt;
    }
    if ((named->op == filter_op::in || named->op == filter_op::has_any) &&
        (k != exact_value::kind::array || operand.array.empty())) {
      problem = key + " takes a non-empty array of values";
      return std::nullopt;
    }
    checks.push_back({named->op, operand});
  }
  // One order whatever the order written: {"$gt":1,"$lt":5} is {"$lt":5,"$gt":1}.
  std::sort(checks.begin(), checks.end(),
            [](const filter_check& a, const filter_check& b) { return a.op < b.op; });
  return checks;
}

bool passes(const filter_check& check, const exact_value& found) {
  const exact_value& x = check.operand;
  switch (check.op) {
    case filter_op::eq: return found == x;
    case filter_op::ne: return found != x;
    // (An empty optional compares below every int: test it first.)
    case filter_op::gt: return order(found, x).value_or(0) > 0;
    case filter_op::lt: return order(found, x).value_or(0) < 0;
    case filter_op::gte: return order(found, x).value_or(-1) >= 0;
    case filter_op::lte: return order(found, x).value_or(1) <= 0;
    case filter_op::in: return any_equal(x.array, found);
    case filter_op::has: return found.k == exact_value::kind::array && any_equal(found.array, x);
    case filter_op::has_any:
      return found.k == exact_value::kind::array &&
             std::any_of(x.array.begin(), x.array.end(),
                         [&](const exact_value& v) { return any_equal(found.array, v); });
  }
  return false;
}

}  // namespace evstore::detail
