// The defaults of evstore::file (file_system.hpp).
#include <evstore/file_system.hpp>

#include <algorithm>
#include <vector>

namespace evstore {

error_code file::release(std::uint64_t offset, std::uint64_t length) {
  constexpr std::uint64_t chunk = std::uint64_t{1} << 20;
  const std::vector<std::byte> zeros(static_cast<std::size_t>(std::min(length, chunk)));
  for (std::uint64_t done = 0; done < length;) {
    const std::uint64_t n = std::min(length - done, chunk);
    if (auto ec = write_at(offset + done, const_buffer_span(zeros.data(), static_cast<std::size_t>(n))))
      return ec;
    done += n;
  }
  return {};
}

}  // namespace evstore
