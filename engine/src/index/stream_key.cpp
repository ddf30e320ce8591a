#include "index/stream_key.hpp"

#include <xxhash.h>

namespace evstore::detail {

std::uint64_t stream_hash(std::string_view name) noexcept { return XXH3_64bits(name.data(), name.size()); }

}  // namespace evstore::detail
