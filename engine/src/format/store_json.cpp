#include "format/store_json.hpp"

#include "format/layout.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "log/log_layout.hpp"
#include "require.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <span>

namespace evstore::detail {
namespace {

// The start of `text` for an error message, control bytes escaped.
std::string excerpt(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 80)) {
    if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x";
      out += "0123456789abcdef"[(c >> 4) & 0xf];
      out += "0123456789abcdef"[c & 0xf];
    } else {
      out += c;
    }
  }
  return text.size() > 80 ? out + "..." : out;
}

// invalid_argument unless the version-2 fields are in range.
result<void> check_v2(const store_description& d) {
  if (d.partitions < 1 || d.partitions > max_partitions) {
    return error(errc::invalid_argument, "partitions " + std::to_string(d.partitions) + " is not in [1, " +
                                             std::to_string(max_partitions) + "]");
  }
  return check_geometry(log_geometry{d.segment_size});
}

// A member that must be a non-negative integer: its value, or nullopt.
std::optional<std::uint64_t> unsigned_member(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
  return std::nullopt;
}

}  // namespace

result<store_description> parse_store_json(std::string_view text, const std::string& path) {
  boost::system::error_code ec;
  const boost::json::value meta = boost::json::parse(text, ec);
  const auto* obj = ec ? nullptr : meta.if_object();
  const auto* format = obj != nullptr ? obj->if_contains("format") : nullptr;
  if (format == nullptr || !format->is_string() || format->as_string() != "evstore") {
    return error(errc::corrupt_data,
                 path + " does not describe an evstore store: found \"" + excerpt(text) + "\"");
  }
  const auto version = unsigned_member(*obj, "version");
  if (!version) return error(errc::corrupt_data, path + " has no integer \"version\"");
  if (*version == 1) return store_description{1, 0, 0};
  if (*version != 2) {
    return error(errc::format_mismatch, path + " says format version " + std::to_string(*version) +
                                            "; this engine knows versions 1 and 2");
  }
  const auto partitions = unsigned_member(*obj, "partitions");
  if (!partitions) return error(errc::corrupt_data, path + " (version 2) has no integer \"partitions\"");
  const auto segment_size = unsigned_member(*obj, "segment_size");
  if (!segment_size) return error(errc::corrupt_data, path + " (version 2) has no integer \"segment_size\"");
  if (*partitions < 1 || *partitions > max_partitions) {
    return error(errc::corrupt_data, path + ": partitions " + std::to_string(*partitions) +
                                         " is not in [1, " + std::to_string(max_partitions) + "]");
  }
  const store_description d{2, static_cast<std::uint32_t>(*partitions), *segment_size};
  if (auto ok = check_v2(d); !ok) return error(errc::corrupt_data, path + ": " + ok.error().detail);
  return d;
}

std::string store_json_text(const store_description& d) {
  EVSTORE_REQUIRE(d.version == 1 || d.version == 2);
  if (d.version == 1) return "{\"format\":\"evstore\",\"version\":1}\n";
  return "{\"format\":\"evstore\",\"version\":2,\"partitions\":" + std::to_string(d.partitions) +
         ",\"segment_size\":" + std::to_string(d.segment_size) + "}\n";
}

result<store_description> read_store_json(file_system& fs, const std::string& dir) {
  const std::string path = layout::store_json(dir);
  auto f = fs.open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory)
    return error(errc::invalid_argument, "no evstore store in " + dir + " (no store.json)");
  if (!f) return io_error_at(f.error(), "reading", path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return io_error_at(bytes.error(), "reading", path, 0);
  return parse_store_json(to_string_view(*bytes), path);
}

result<void> write_store_json(file_system& fs, const std::string& dir, const store_description& d) {
  if (d.version != 1 && d.version != 2) {
    return error(errc::invalid_argument, "store.json of format version " + std::to_string(d.version));
  }
  if (d.version == 2) {
    if (auto ok = check_v2(d); !ok) return ok;
  }
  const std::string path = layout::store_json(dir);
  const std::string text = store_json_text(d);
  if (auto ec = write_file_atomically(fs, path, std::as_bytes(std::span(text))))
    return io_error_at(ec, "writing", path, 0);
  return {};
}

}  // namespace evstore::detail
