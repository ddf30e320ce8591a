// Durable consumers' checkpoint files (consumer_files.hpp).
#include "live/consumer_files.hpp"

#include "format/layout.hpp"
#include "format/stream_name.hpp"

#include <algorithm>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>

namespace evstore::detail {
namespace {

// Calls f(stream, name, path) for each checkpoint file under `root`. Encoded
// names may span directories (each segment but the last ends in '+'; see
// stream_name.hpp): the stream's segments come first, then the name's.
template <class F>
[[nodiscard]] boost::system::error_code walk_consumers(file_system& fs, const std::string& dir,
                                                       std::string stream_enc, const std::string& name_enc,
                                                       bool in_name, F&& f) {
  auto entries = fs.list(dir);
  if (!entries) return entries.error();
  for (const std::string& entry : *entries) {
    const std::string path = layout::join(dir, entry);
    const bool segment = entry.ends_with('+');
    if (!in_name) {
      // Still in the stream's part: every entry is a directory.
      const std::string enc = stream_enc + entry;
      if (auto ec = walk_consumers(fs, path, segment ? enc + "/" : enc, "", !segment, f)) return ec;
    } else if (segment) {
      if (auto ec = walk_consumers(fs, path, stream_enc, name_enc + entry + "/", true, f)) return ec;
    } else if (entry.ends_with(".consumer")) {
      auto stream = decode_stream_file_name(stream_enc);
      auto name = decode_stream_file_name(
          name_enc + entry.substr(0, entry.size() - std::string_view(".consumer").size()));
      if (stream && name) f(*stream, *name, path);
    }
  }
  return {};
}

}  // namespace

result<format::consumer_checkpoint> load_consumer_checkpoint(file_system& fs, const std::string& path,
                                                             std::vector<std::byte>& bytes) {
  format::consumer_checkpoint stored;
  if (!fs.exists(path)) return stored;
  auto f = fs.open(path, open_mode::read_only);
  if (!f) return error(f.error(), path);
  auto size = (*f)->size();
  if (!size) return error(size.error(), path);
  bytes.resize(*size);
  auto n = (*f)->read_at(0, bytes);
  if (!n) return error(n.error(), path);
  auto decoded = format::decode_consumer_checkpoint(std::span(bytes).first(*n));
  if (!decoded) return error(errc::corrupt_data, "damaged consumer checkpoint in " + path + " at offset 0");
  return *decoded;
}

result<std::vector<consumer_info>> list_consumer_checkpoints(file_system& fs, const std::string& root) {
  std::vector<consumer_info> out;
  if (!fs.exists(root)) return out;  // none stored
  std::optional<evstore::error> failed;
  auto ec = walk_consumers(fs, root, "", "", false,
                           [&](const std::string& stream, const std::string& name, const std::string& path) {
                             if (failed) return;
                             std::vector<std::byte> bytes;
                             auto stored = load_consumer_checkpoint(fs, path, bytes);
                             if (!stored) {
                               failed = stored.error();
                               return;
                             }
                             out.push_back({stored->position, std::string(stored->state), stream, name});
                           });
  if (failed) return *failed;
  if (ec) return error(ec, "cannot list " + root);
  std::sort(out.begin(), out.end(), [](const consumer_info& a, const consumer_info& b) {
    return std::tie(a.stream, a.name) < std::tie(b.stream, b.name);
  });
  return out;
}

}  // namespace evstore::detail
