// What a migration carries over beside the events (v1_reader.hpp): read-stream
// definitions and durable consumer checkpoints, read as they are. Links are
// not read: the format-2 indexer rebuilds them from $all.
#include "format/layout.hpp"
#include "io/io_util.hpp"
#include "links/read_stream_definitions.hpp"
#include "live/consumer_files.hpp"
#include "migrate/v1_reader_impl.hpp"

namespace evstore::detail::migrate {

result<std::vector<v1_read_stream>> v1_reader::read_streams() const {
  const impl& m = *impl_;
  const std::string path = layout::join(layout::links_dir(m.dir), "read_streams.json");
  std::vector<v1_read_stream> out;
  auto f = m.fs->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return out;
  if (!f) return m.read_error(f.error(), path, 0);
  auto text = read_all(**f);
  if (!text) return m.read_error(text.error(), path, 0);
  auto parsed = parse_read_stream_definitions(to_string_view(*text), m.relative(path));
  if (!parsed) return parsed.error();
  for (const parsed_definition& d : *parsed) out.push_back({d.name, d.f.to_json(), d.built});
  return out;
}

result<std::vector<v1_consumer>> v1_reader::consumers() const {
  auto stored = list_consumer_checkpoints(*impl_->fs, layout::join(impl_->dir, "consumers"));
  if (!stored) return stored.error();
  std::vector<v1_consumer> out;
  for (consumer_info& c : *stored)
    out.push_back({std::move(c.stream), std::move(c.name), c.position, std::move(c.state)});
  return out;
}

}  // namespace evstore::detail::migrate
