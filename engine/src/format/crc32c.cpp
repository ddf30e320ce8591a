#include "format/crc32c.hpp"

#include <boost/crc.hpp>

#include <cstring>

namespace evstore::detail::crc32c {
namespace {

std::uint32_t extend_software(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  // Reflected CRC-32C with the conventional init/xor of all ones.
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> c(crc ^ 0xFFFFFFFFu);
  c.process_bytes(data, size);
  return c.checksum();
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const void* data,
                                                             std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = crc ^ 0xFFFFFFFFu;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    size -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (size > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p);
    ++p;
    --size;
  }
  return c32 ^ 0xFFFFFFFFu;
}

bool cpu_has_sse42() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

using extend_fn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t) noexcept;

extend_fn choose() noexcept {
#if defined(__x86_64__)
  if (cpu_has_sse42()) return &extend_sse42;
#endif
  return &extend_software;
}

const extend_fn chosen = choose();

}  // namespace

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  return chosen(crc, data, size);
}

bool hardware_accelerated() noexcept { return chosen != &extend_software; }

}  // namespace evstore::detail::crc32c
