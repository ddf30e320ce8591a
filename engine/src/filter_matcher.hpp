// A read-stream filter prepared for matching: its JSON values parsed once.
#pragma once

#include <evstore/read_stream.hpp>
#include <evstore/types.hpp>

#include <boost/json/value.hpp>

#include <vector>

namespace evstore::detail {

class filter_matcher {
 public:
  // REQUIRES: f.validate() succeeded.
  explicit filter_matcher(const filter& f);
  bool matches(const recorded_event& e) const;
  const filter& definition() const { return filter_; }

 private:
  filter filter_;
  std::vector<boost::json::value> values_;
};

}  // namespace evstore::detail
