#include "catalog.hpp"

namespace evstore::sim {

std::vector<std::string> extra_types(const options& o) {
  std::vector<std::string> v;
  if (o.on("system-streams")) {
    // Every byte class a type may hold that a stream name may hold too:
    // upper case and '%' (escaped in file names), '+' (the segment mark),
    // '.', "..", a Windows device name, space, quotes, '$', '~', UTF-8.
    for (const char* t : {"Paid", "con", "..", ".", "%2F", "+", " x ", "\"q\"", "$et-A", "x~1y",
                          "\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80"}) {
      v.emplace_back(t);
    }
  }
  if (o.on("long-names")) {
    v.push_back(std::string(90, 'T'));   // "$et-" + 90 escaped letters: 276 encoded bytes
    v.push_back(std::string(256, 'u'));  // max_type_bytes
  }
  if (o.on("odd-names")) {
    // Allowed in a type, not in a stream name ("$et-" + type): '/', '\', > 196 bytes.
    v.push_back("orders/Placed");
    v.push_back("a\\b");
    v.push_back(std::string(200, 't'));
  }
  return v;
}

std::vector<std::string> extra_streams(const options& o) {
  std::vector<std::string> v;
  if (o.on("system-streams")) {
    // Categories of every byte class a stream name allows; "-lead" and
    // "nodash" have none, "a-b-c" belongs to "a".
    for (const char* s : {"Ab-1", "con-1", "%41-1", "+-1", "a.b-1", " -1", "a-b-c", "-lead", "nodash",
                          "\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80-1"}) {
      v.emplace_back(s);
    }
    v.push_back(std::string(196, 'q') + "-1");  // "$ce-" + 196: the longest readable system stream name
  }
  if (o.on("long-names")) {
    v.push_back(std::string(90, 'Q') + "-1");
    std::string u;
    for (int i = 0; i < 60; ++i) u += "\xC3\xBC";  // 120 bytes, 360 encoded
    v.push_back(u + "-2");
  }
  if (o.on("odd-names"))
    v.push_back(std::string(198, 'c') + "-1");  // "$ce-" + 198: longer than a stream name
  return v;
}

std::vector<std::string> read_stream_names(const options& o) {
  std::vector<std::string> v = {"v1", "v2"};
  if (o.on("long-names")) {
    v.push_back(std::string(90, 'R'));
    v.push_back(std::string(200, 'r'));
  }
  return v;
}

std::vector<std::string> field_values(const options& o) {
  std::vector<std::string> v = {"1",    "2",     "-7",   "\"DE\"", "\"de\"",    "\"\"",
                                "true", "false", "null", "[1,2]",  "{\"a\":1}", "\"a/b~c\""};
  if (o.on("filter-roundtrip")) {
    for (const char* x : {"12.5", "0.1", "1e308", "-2.5e-300"}) v.emplace_back(x);
  }
  if (o.on("big-integers")) {
    const auto big = big_integers();
    v.insert(v.end(), big.begin(), big.end());
  }
  return v;
}

std::vector<std::string> big_integers() {
  // Beyond 2^64, at 2^64, and at 2^53 (where doubles stop telling neighbours apart).
  return {"123456789012345678901234", "123456789012345678901235", "18446744073709551615",
          "18446744073709551616",     "-9223372036854775808",     "-9223372036854775809",
          "9007199254740992",         "9007199254740993"};
}

std::vector<std::string> refused_values() {
  return {"1e400", "-1e400", "1E999", "NaN", "Infinity", "-Infinity", "1e", "01", "[1,"};
}

}  // namespace evstore::sim
