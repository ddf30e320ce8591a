// A read-stream filter prepared for matching: its values parsed once, exactly
// (exact_json.hpp: numbers as the decimals they spell, never rounded doubles).
#pragma once

#include "json/exact_json.hpp"
#include "links/filter_condition.hpp"
#include <evstore/read_stream.hpp>
#include <evstore/types.hpp>

#include <string>
#include <vector>

namespace evstore::detail {

class filter_matcher {
 public:
  // REQUIRES: f.validate() succeeded (else the filter matches nothing; it
  // never throws). Keeps f with its values compacted (no whitespace outside
  // strings): the text that is stored and listed.
  explicit filter_matcher(const filter& f);
  bool matches(const recorded_event& e) const;
  const filter& definition() const { return filter_; }
  // True if f selects by the same types, prefix and conditions (in the same
  // order), each with the same operators and operands equal as JSON to this
  // one's (12.5 == 1.25E1 == 12.50).
  bool same_filter(const filter& f) const;

 private:
  filter filter_;
  std::vector<std::vector<filter_check>> checks_;  // one list per field
  std::vector<std::string> sorted_streams_;        // filter_.streams, for binary search
  std::vector<filter_matcher> any_, all_;          // the nested filters
  bool valid_ = true;
};

}  // namespace evstore::detail
