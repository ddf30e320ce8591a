// What the workload of issue 10 draws names and values from: event types,
// stream names and read-stream names that are hostile to the link files'
// encoding (long, '/', every byte class the append validation allows), JSON
// values for event data and filters, and filter values that must be refused.
// Each class of options.hpp adds its own entries, so that with a class off
// nothing of it is drawn.
#pragma once

#include "options.hpp"

#include <string>
#include <vector>

namespace evstore::sim {

// Event types beyond A, B, C (system-streams, long-names, odd-names).
std::vector<std::string> extra_types(const options& o);
// Write-stream names beyond a-0 .. c-7, for their $ce- categories.
std::vector<std::string> extra_streams(const options& o);
// Read-stream names: v1, v2 and (long-names) ones whose link file needs a sub-directory.
std::vector<std::string> read_stream_names(const options& o);

// JSON texts for the value of "/k" in event data and of a filter condition,
// each value in one spelling only (see sim_event::fields).
std::vector<std::string> field_values(const options& o);
// Integers a digit apart beyond what a double tells apart (big-integers).
std::vector<std::string> big_integers();
// Filter values a store must refuse at create with invalid_argument (huge-numbers).
std::vector<std::string> refused_values();

// Keys in event data besides "n" and "k": one needs RFC 6901 escapes.
inline constexpr const char* odd_key = "x/y~z";
inline constexpr const char* odd_key_pointer = "/x~1y~0z";

}  // namespace evstore::sim
