// Reading the journal (journal_reader.hpp): its frames, in order, while they
// chain.
#include "journal/journal_reader.hpp"

#include "format/layout.hpp"

#include <vector>

namespace evstore::detail {

[[nodiscard]] result<journal_walk> walk_journal(
    file& journal, const std::string& path, std::uint64_t offset, std::uint64_t position,
    const std::function<result<void>(const format::journal_frame&)>& on_frame) {
  journal_walk walk{offset, std::nullopt};
  auto journal_size = journal.size();
  if (!journal_size) return error(journal_size.error(), path);
  std::vector<std::byte> buffer(format::file_header_size);
  auto got = journal.read_at(0, buffer);
  if (!got) return error(got.error(), path);
  if (*got != buffer.size() || !format::decode_file_header(buffer, format::file_kind::journal)) {
    walk.damage = journal_walk::stop{0, "bad file header"};
    return walk;
  }
  std::uint64_t at = offset;
  format::journal_frame frame;
  for (;;) {
    buffer.resize(format::journal_frame_header_size);
    auto head = journal.read_at(at, buffer);
    if (!head) return error(head.error(), path);
    if (*head != buffer.size()) break;
    const std::uint32_t frame_size = format::peek_journal_frame_size(buffer);
    if (frame_size < format::journal_frame_header_size || frame_size > *journal_size - at) break;
    buffer.resize(frame_size);
    auto body = journal.read_at(at, buffer);
    if (!body) return error(body.error(), path);
    if (*body != buffer.size()) break;
    if (format::decode_journal_frame(buffer, frame) != format::decode_status::ok) break;
    if (frame.first_position != position) break;  // an older cycle's frame: the chain ends
    for (const format::journal_op& op : frame.ops) {
      // The checksum makes damage unlikely; still, never write outside the store.
      if (op.path.empty() || op.path.front() == '/' || op.path.find("..") != std::string_view::npos) {
        walk.damage = journal_walk::stop{at, "journal op with an unsafe path"};
        return walk;
      }
    }
    if (auto r = on_frame(frame); !r) return r.error();
    position += frame.event_count;
    at += format::journal_align(frame.size);
    walk.end = at;
  }
  return walk;
}

[[nodiscard]] result<journal_walk> collect_journal(file& journal, const std::string& path,
                                                   const std::string& dir, std::uint64_t offset,
                                                   std::uint64_t position, overlay& out) {
  return walk_journal(
      journal, path, offset, position, [&](const format::journal_frame& frame) -> result<void> {
        for (const format::journal_op& op : frame.ops)
          out[layout::join(dir, op.path)].push_back({op.offset, {op.data.begin(), op.data.end()}});
        return {};
      });
}

}  // namespace evstore::detail
