#include "support/v1_fixture.hpp"

#include "format/layout.hpp"
#include "io/io_util.hpp"

#include <boost/json.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>

namespace evstore::test::v1 {
namespace {

namespace json = boost::json;

constexpr std::string_view magic = "evstore-v1-image\n";

// ---------------------------------------------------------------------------
// Archive

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads `bytes` little-endian bytes at `at`; false past the end.
bool get_le(std::string_view in, std::size_t& at, int bytes, std::uint64_t& v) {
  if (in.size() - at < static_cast<std::size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  at += bytes;
  return true;
}

result<std::map<std::string, disk_image>> parse_archive(std::string_view in, const std::string& file) {
  auto damaged = [&](std::size_t at, const std::string& what) {
    return error(errc::corrupt_data, file + " at offset " + std::to_string(at) + ": " + what);
  };
  if (in.substr(0, magic.size()) != magic) return damaged(0, "not an evstore-v1-image archive");
  std::map<std::string, disk_image> out;
  std::size_t at = magic.size();
  while (at < in.size()) {
    const std::size_t entry = at;
    std::uint64_t path_len = 0;
    std::uint64_t size = 0;
    std::uint64_t extents = 0;
    if (!get_le(in, at, 4, path_len) || in.size() - at < path_len) return damaged(entry, "cut path");
    const std::string path(in.substr(at, path_len));
    at += path_len;
    const auto slash = path.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == path.size())
      return damaged(entry, "path " + path + " is not <store>/<file>");
    if (!get_le(in, at, 8, size) || !get_le(in, at, 4, extents)) return damaged(entry, "cut size of " + path);
    std::string bytes(size, '\0');
    std::uint64_t end = 0;  // extents are sorted and apart
    for (std::uint64_t i = 0; i < extents; ++i) {
      const std::size_t extent = at;
      std::uint64_t offset = 0;
      std::uint64_t length = 0;
      if (!get_le(in, at, 8, offset) || !get_le(in, at, 8, length) || in.size() - at < length)
        return damaged(extent, "cut extent of " + path);
      if (offset < end || offset > size || size - offset < length)
        return damaged(extent, "extent of " + path + " out of order or past its size");
      in.substr(at, length).copy(bytes.data() + offset, length);
      at += length;
      end = offset + length;
    }
    out[path.substr(0, slash)][path.substr(slash + 1)] = std::move(bytes);
  }
  return out;
}

// The extents of `bytes` that are not runs of at least `min_gap` zeros.
std::vector<std::pair<std::size_t, std::size_t>> extents_of(const std::string& bytes) {
  constexpr std::size_t min_gap = 64;
  std::vector<std::pair<std::size_t, std::size_t>> out;  // offset, length
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (bytes[i] == '\0') {
      ++i;
      continue;
    }
    std::size_t end = i;
    std::size_t zeros = 0;
    for (std::size_t j = i; j < bytes.size() && zeros < min_gap; ++j) {
      if (bytes[j] == '\0') {
        ++zeros;
      } else {
        zeros = 0;
        end = j + 1;
      }
    }
    out.emplace_back(i, end - i);
    i = end;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Expectations (JSON)

json::object event_to_json(const v1_event& e, bool commit_fields) {
  json::object o{{"stream", e.stream},
                 {"version", e.version},
                 {"position", e.position},
                 {"committed_at", e.committed_at},
                 {"id", e.id ? json::value(boost::uuids::to_string(*e.id)) : json::value(nullptr)},
                 {"type", e.type},
                 {"data", e.data},
                 {"metadata", e.metadata}};
  if (commit_fields) {
    o["commit_first_position"] = e.commit_first_position;
    o["commit_count"] = e.commit_count;
    o["commit_end"] = e.commit_end;
  }
  return o;
}

// The parsers throw (std::exception from boost::json's accessors, or this):
// read_fixture turns that into corrupt_data naming the file.
v1_event event_of(const json::value& v, bool commit_fields) {
  const json::object& o = v.as_object();
  v1_event e;
  e.stream = o.at("stream").as_string();
  e.version = json::value_to<std::uint64_t>(o.at("version"));
  e.position = json::value_to<std::uint64_t>(o.at("position"));
  e.committed_at = json::value_to<std::int64_t>(o.at("committed_at"));
  if (!o.at("id").is_null()) e.id = boost::uuids::string_generator()(std::string(o.at("id").as_string()));
  e.type = o.at("type").as_string();
  e.data = o.at("data").as_string();
  e.metadata = o.at("metadata").as_string();
  if (commit_fields) {
    e.commit_first_position = json::value_to<std::uint64_t>(o.at("commit_first_position"));
    e.commit_count = json::value_to<std::uint32_t>(o.at("commit_count"));
    e.commit_end = o.at("commit_end").as_bool();
  }
  return e;
}

store_expectation expectation_of(const json::value& v) {
  const json::object& o = v.as_object();
  store_expectation x;
  x.made_by = o.at("made_by").as_string();
  x.has_commit_fields = o.at("has_commit_fields").as_bool();
  for (const json::value& e : o.at("events").as_array()) x.events.push_back(event_of(e, x.has_commit_fields));
  for (const json::value& d : o.at("read_streams").as_array()) {
    const json::object& r = d.as_object();
    x.read_streams.push_back({std::string(r.at("name").as_string()),
                              std::string(r.at("filter_json").as_string()), r.at("built").as_bool()});
  }
  for (const json::value& c : o.at("consumers").as_array()) {
    const json::object& r = c.as_object();
    x.consumers.push_back({std::string(r.at("stream").as_string()), std::string(r.at("name").as_string()),
                           json::value_to<std::uint64_t>(r.at("position")),
                           std::string(r.at("state").as_string())});
  }
  for (const auto& [name, d] : o.at("damaged").as_object()) {
    const json::object& r = d.as_object();
    x.damaged[std::string(name)] = {r.at("opens").as_bool(), std::string(r.at("error").as_string()),
                                    json::value_to<std::uint64_t>(r.at("event_count"))};
  }
  return x;
}

result<std::string> read_file(const std::string& path) {
  auto fs = posix_file_system();
  auto f = fs->open(path, open_mode::read_only);
  if (!f) return error(f.error(), "opening " + path);
  auto bytes = detail::read_all(**f);
  if (!bytes) return error(bytes.error(), "reading " + path);
  return std::string(detail::to_string_view(*bytes));
}

std::string join(std::string_view dir, std::string_view name) { return detail::layout::join(dir, name); }

std::string& file_of(disk_image& image, const std::string& path) {
  auto it = image.find(path);
  if (it == image.end()) throw std::invalid_argument("the image has no " + path);
  return it->second;
}

}  // namespace

std::string data_dir() { return std::string(EVSTORE_TEST_SOURCE_DIR) + "/data/v1"; }

result<fixture> read_fixture(const std::string& name, const std::string& dir) {
  const std::string base = (dir.empty() ? data_dir() : dir) + "/" + name;
  auto archive = read_file(base + ".v1img");
  if (!archive) return archive.error();
  auto text = read_file(base + ".json");
  if (!text) return text.error();
  return parse_fixture(name, *archive, *text);
}

result<fixture> parse_fixture(const std::string& name, std::string_view archive, std::string_view json_text) {
  fixture out;
  auto stores = parse_archive(archive, name + ".v1img");
  if (!stores) return stores.error();
  out.stores = std::move(*stores);
  try {
    const json::value parsed = json::parse(json_text);
    for (const auto& [store, x] : parsed.as_object().at("stores").as_object())
      out.expected[std::string(store)] = expectation_of(x);
  } catch (const std::exception& e) {
    return error(errc::corrupt_data, name + ".json: " + e.what());
  }
  // Both files must name the same stores.
  for (const auto& [store, image] : out.stores) {
    if (!out.expected.contains(store)) return error(errc::corrupt_data, name + ".json: no store " += store);
  }
  for (const auto& [store, x] : out.expected) {
    if (!out.stores.contains(store)) return error(errc::corrupt_data, name + ".v1img: no store " += store);
  }
  return out;
}

std::shared_ptr<testing::memory_file_system> disk_of(const disk_image& image, const std::string& dir) {
  auto fs = std::make_shared<testing::memory_file_system>();
  load(*fs, image, dir);
  return fs;
}

void load(testing::memory_file_system& fs, const disk_image& image, const std::string& dir) {
  for (const auto& [path, bytes] : image) fs.set_contents(join(dir, path), bytes);
}

disk_image image_of(const testing::memory_file_system& fs, const std::string& dir) {
  disk_image out;
  const std::string prefix = dir + "/";
  for (const std::string& p : fs.files()) {
    if (p.starts_with(prefix)) out[p.substr(prefix.size())] = fs.contents(p);
  }
  return out;
}

std::uint64_t all_entries(const disk_image& image) {
  return (image.at("index/$all.idx").size() - format::file_header_size) / format::all_entry_size;
}

format::all_entry all_entry(const disk_image& image, std::uint64_t position) {
  const std::string& bytes = image.at("index/$all.idx");
  auto e = format::decode_all_entry(
      std::as_bytes(std::span(bytes))
          .subspan(format::file_header_size + position * format::all_entry_size, format::all_entry_size));
  if (!e) throw std::invalid_argument("$all entry " + std::to_string(position) + " does not decode");
  return *e;
}

damage_site cut_last_all_entry(disk_image& image) {
  std::string& index = file_of(image, "index/$all.idx");
  index.resize(index.size() - format::all_entry_size);
  return {"index/$all.idx", index.size()};
}

damage_site tear_last_record(disk_image& image, const std::string& stream) {
  const format::all_entry last = all_entry(image, all_entries(image) - 1);
  const std::string file = "streams/" + stream + ".evs";
  file_of(image, file).resize(last.offset + last.size / 2);
  return {file, last.offset};
}

damage_site flip_second_catalog_record(disk_image& image, const std::string& first_stream) {
  const std::size_t second = format::file_header_size + format::catalog_record_size(first_stream.size());
  file_of(image, "index/catalog").at(second + format::catalog_record_header_size) ^= 0x20;
  return {"index/catalog", second};
}

std::string to_archive(const std::map<std::string, disk_image>& stores) {
  std::string out(magic);
  for (const auto& [store, image] : stores) {
    for (const auto& [path, bytes] : image) {
      const std::string full = store + "/" += path;
      put_le(out, full.size(), 4);
      out += full;
      put_le(out, bytes.size(), 8);
      const auto extents = extents_of(bytes);
      put_le(out, extents.size(), 4);
      for (const auto& [offset, length] : extents) {
        put_le(out, offset, 8);
        put_le(out, length, 8);
        out.append(bytes, offset, length);
      }
    }
  }
  return out;
}

std::string to_json(const std::map<std::string, store_expectation>& expected) {
  // One event, definition or outcome per line: a regenerated fixture diffs by line.
  auto rows = [](const auto& items, auto to_object) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      out += i == 0 ? "\n      " : ",\n      ";
      out += json::serialize(to_object(items[i]));
    }
    return out + (items.empty() ? "]" : "\n    ]");
  };
  std::string out = "{\"stores\": {";
  bool first = true;
  for (const auto& [store, x] : expected) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    out += json::serialize(json::value(store)) + ": {\n";
    out += "    \"made_by\": " + json::serialize(json::value(x.made_by)) + ",\n";
    out += std::string("    \"has_commit_fields\": ") + (x.has_commit_fields ? "true" : "false") + ",\n";
    out += "    \"read_streams\": " +
           rows(x.read_streams,
                [](const v1_read_stream& r) {
                  return json::object{{"name", r.name}, {"filter_json", r.filter_json}, {"built", r.built}};
                }) +
           ",\n";
    out += "    \"consumers\": " +
           rows(x.consumers,
                [](const v1_consumer& c) {
                  return json::object{
                      {"stream", c.stream}, {"name", c.name}, {"position", c.position}, {"state", c.state}};
                }) +
           ",\n";
    json::object damaged;
    for (const auto& [name, o] : x.damaged)
      damaged[name] = json::object{{"opens", o.opens}, {"error", o.error}, {"event_count", o.event_count}};
    out += "    \"damaged\": " + json::serialize(damaged) + ",\n";
    const bool commit_fields = x.has_commit_fields;
    out += "    \"events\": " +
           rows(x.events, [commit_fields](const v1_event& e) { return event_to_json(e, commit_fields); }) +
           "\n  }";
  }
  return out + "\n}}\n";
}

}  // namespace evstore::test::v1
