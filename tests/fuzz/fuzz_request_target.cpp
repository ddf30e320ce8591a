// Fuzz target: evstored's request-target parsing (api.hpp): paths, percent
// escapes, queries, and the integers taken from them.
#include "api.hpp"
#include "fuzz_check.hpp"

#include <charconv>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (auto t = evstore::http::parse_target(raw)) {
    FUZZ_CHECK(!raw.empty() && raw.front() == '/');
    for (const auto& [k, v] : t->query) FUZZ_CHECK(!k.empty());
  }
  if (auto v = evstore::http::to_u64(raw)) {
    FUZZ_CHECK(!raw.empty() && raw.find_first_not_of("0123456789") == std::string_view::npos);
    FUZZ_CHECK(std::to_string(*v).size() <= raw.size());
  } else {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), n);
    FUZZ_CHECK(raw.empty() || ec != std::errc() || end != raw.data() + raw.size());
  }
  return 0;
}
