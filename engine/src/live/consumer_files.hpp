// Durable consumers' checkpoint files under a consumer directory (format.hpp,
// "Consumer checkpoint"): reading one, listing them all. Shared by the store
// (live/consumer.cpp) and the format-1 reader of `evstore migrate`.
#pragma once

#include "format/format.hpp"
#include <evstore/consumer.hpp>
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace evstore::detail {

// The stored checkpoint at `path` (position 0 and no state if there is none
// yet); views into `bytes`. corrupt_data if it is damaged.
[[nodiscard]] result<format::consumer_checkpoint> load_consumer_checkpoint(file_system& fs,
                                                                           const std::string& path,
                                                                           std::vector<std::byte>& bytes);

// Every checkpoint under `root` (none if it does not exist), sorted by stream
// then name.
[[nodiscard]] result<std::vector<consumer_info>> list_consumer_checkpoints(file_system& fs,
                                                                           const std::string& root);

}  // namespace evstore::detail
