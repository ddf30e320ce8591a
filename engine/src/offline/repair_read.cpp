#include "offline/repair_read.hpp"

namespace evstore::detail::repair {

std::optional<std::string> check_record(const format::decoded_record& r, const record_info* last) {
  const format::record_fields& f = r.fields;
  if (r.kind != format::record_kind_event) return "unknown record kind " + std::to_string(r.kind);
  if (last != nullptr && (f.version <= last->version || f.position <= last->position)) {
    return "version " + std::to_string(f.version) + " at position " + std::to_string(f.position) +
           " after version " + std::to_string(last->version) + " at position " +
           std::to_string(last->position);
  }
  if (f.position < f.commit_first_position || f.position - f.commit_first_position >= f.commit_count ||
      f.commit_end != (f.position - f.commit_first_position + 1 == f.commit_count)) {
    return std::string("commit fields do not match");
  }
  return std::nullopt;
}

[[nodiscard]] result<std::optional<std::uint64_t>> find_next_record(const source& src, std::uint64_t from,
                                                                    const record_info* last) {
  window scan(src), probe(src);
  for (std::uint64_t at = from; at + format::record_overhead <= src.size(); ++at) {
    auto head = scan.get(at, 4);
    if (!head) return head.error();
    const std::uint32_t len = format::get_u32(head->data());
    if (len < format::record_overhead || len > format::max_record_size || at + len > src.size()) continue;
    auto tail = probe.get(at + len - 4, 4);
    if (!tail) return tail.error();
    if (tail->size() < 4 || format::get_u32(tail->data()) != len) continue;
    auto bytes = probe.get(at, len);
    if (!bytes) return bytes.error();
    format::decoded_record r;
    if (format::decode_record(*bytes, r) == format::decode_status::ok && !check_record(r, last)) return at;
  }
  return std::nullopt;
}

[[nodiscard]] result<std::pair<std::uint64_t, bool>> count_framed(window& w, std::uint64_t at,
                                                                  std::uint64_t size) {
  std::uint64_t count = 0;
  while (at < size) {
    auto head = w.get(at, 4);
    if (!head) return head.error();
    if (head->size() < 4) return std::pair{count, false};
    const std::uint32_t len = format::get_u32(head->data());
    if (len == 0) {
      for (std::uint64_t z = at; z < size; z += read_window) {
        auto rest = w.get(z, read_window);
        if (!rest) return rest.error();
        if (!format::all_zero(*rest)) return std::pair{count, false};
      }
      return std::pair{count, true};
    }
    if (len < format::record_overhead || len > format::max_record_size) return std::pair{count, false};
    if (at + len > size) return std::pair{count + 1, true};  // a torn last record
    auto tail = w.get(at + len - 4, 4);
    if (!tail) return tail.error();
    if (tail->size() < 4 || format::get_u32(tail->data()) != len) return std::pair{count, false};
    ++count;
    at += len;
  }
  return std::pair{count, true};
}

}  // namespace evstore::detail::repair
