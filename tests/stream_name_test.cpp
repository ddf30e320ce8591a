#include "format/stream_name.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {
namespace {

using namespace std::string_literals;

bool valid_for_read(std::string_view name) { return !validate_stream_name(name, name_use::read); }
bool valid_for_append(std::string_view name) { return !validate_stream_name(name, name_use::append); }

std::string to_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::vector<std::string> split_segments(const std::string& encoded) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = encoded.find('/', start);
    if (slash == std::string::npos) {
      segments.push_back(encoded.substr(start));
      return segments;
    }
    segments.push_back(encoded.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string utf8(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// Hand-picked names that exercise every encoding path: literals, escapes of
// every ASCII class, multi-byte UTF-8, device names in several cases, the
// reserved '$' prefix and lengths around the 240-byte segment limit.
std::vector<std::string> name_corpus() {
  std::vector<std::string> names = {
      "cart-1",
      "Cart-1",
      "CART-1",
      "order_42",
      "käse-1",
      "订单-7",
      "😀",
      "a",
      "Z",
      "0",
      "-",
      "_",
      "$all",
      "$by-type",
      "...",
      ".a",
      "a.",
      ".hidden",
      "a..b",
      "%",
      "%41",
      "+",
      "+-",
      "a+",
      "a b",
      "con",
      "CON",
      "Con",
      "nul",
      "Nul",
      "NUL",
      "com1",
      "COM1",
      "lpt9",
      "aux",
      "prn",
      "com0",
      "lpt0",
      "con1",
      "cona",
      "xcon",
      "con.txt",
      "~",
      "!@#$^&*()=[]{};:'\",<>?|`",
      "\xC2\xA0",
      "\xEF\xBF\xBF",
      "\xF4\x8F\xBF\xBF",
      "\xED\x9F\xBF",
      "\xEE\x80\x80",
  };
  names.push_back(std::string(200, 'a'));
  names.push_back(std::string(200, 'A'));
  names.push_back(std::string(200, '.'));
  names.push_back(std::string(80, 'A'));         // encodes to exactly 240 bytes
  names.push_back(std::string(79, 'A') + "ab");  // encodes to 239 bytes
  names.push_back("b" + std::string(80, 'A'));   // 241 bytes: one split
  names.push_back(std::string(79, 'A') + "bb");  // 239 + 2 bytes
  names.push_back("bb" + std::string(79, 'A'));  // cut lands after "%4"
  names.push_back("b" + std::string(79, 'A') + "b");
  std::string cjk;
  while (cjk.size() + 3 <= 200) cjk += "订";
  names.push_back(cjk);
  std::string emoji;
  while (emoji.size() + 4 <= 200) emoji += "😀";
  names.push_back(emoji);
  for (const auto& n : names) EXPECT_TRUE(valid_for_read(n)) << n;
  return names;
}

// Valid names drawn from a fixed seed so failures reproduce. The alphabet
// mixes literal bytes, escaped ASCII (including '.', '%', '+', '$') and 2-,
// 3- and 4-byte UTF-8 so that cuts land at every offset within escapes.
std::vector<std::string> random_valid_names(std::size_t count) {
  std::mt19937 rng(20240611);
  const std::string ascii_pool = "abcxyz019_-ABCXYZ.%+$ ~!#()=,;'";
  std::vector<std::string> names;
  names.reserve(count);
  while (names.size() < count) {
    const std::size_t target = std::uniform_int_distribution<std::size_t>(1, 200)(rng);
    std::string name;
    for (;;) {
      std::string piece;
      switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
        case 0:
        case 1:
          piece = ascii_pool[std::uniform_int_distribution<std::size_t>(0, ascii_pool.size() - 1)(rng)];
          break;
        case 2:  // U+00A0..U+07FF, past the C1 controls
          piece = utf8(std::uniform_int_distribution<std::uint32_t>(0xA0, 0x7FF)(rng));
          break;
        case 3: {  // BMP without surrogates
          std::uint32_t cp = std::uniform_int_distribution<std::uint32_t>(0x800, 0xFFFF - 0x800)(rng);
          if (cp >= 0xD800) cp += 0x800;
          piece = utf8(cp);
          break;
        }
        case 4: piece = utf8(std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10FFFF)(rng)); break;
        default: piece = "a"; break;
      }
      if (name.size() + piece.size() > target) break;
      name += piece;
    }
    if (name.empty() || name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  return names;
}

std::vector<std::string> all_test_names() {
  std::vector<std::string> names = name_corpus();
  for (auto& n : random_valid_names(5000)) names.push_back(std::move(n));
  return names;
}

// --- validate_stream_name -------------------------------------------------

TEST(validate_stream_name, accepts_plain_ascii_names) {
  for (const char* name : {"cart-1", "Order_42", "a", "a.b", "...", ".hidden", "with space", "100%"}) {
    EXPECT_TRUE(valid_for_append(name)) << name;
    EXPECT_TRUE(valid_for_read(name)) << name;
  }
}

TEST(validate_stream_name, accepts_utf8_names) {
  for (const char* name : {"käse-1", "订单-7", "😀-party", "\xC2\xA0", "\xED\x9F\xBF", "\xEE\x80\x80",
                           "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(valid_for_append(name)) << name;
  }
}

TEST(validate_stream_name, accepts_name_of_exactly_200_bytes) {
  EXPECT_TRUE(valid_for_append(std::string(200, 'x')));
  std::string multi_byte = std::string(2, 'x');
  while (multi_byte.size() < 200) multi_byte += "ä";  // 2 + 99 * 2 bytes
  ASSERT_EQ(multi_byte.size(), 200u);
  EXPECT_TRUE(valid_for_append(multi_byte));
}

TEST(validate_stream_name, reports_invalid_stream_name_code) {
  EXPECT_EQ(validate_stream_name("", name_use::read), make_error_code(errc::invalid_stream_name));
  EXPECT_EQ(validate_stream_name("a/b", name_use::append), make_error_code(errc::invalid_stream_name));
  EXPECT_FALSE(validate_stream_name("ok", name_use::append));
}

TEST(validate_stream_name, rejects_empty_name) {
  EXPECT_FALSE(valid_for_read(""));
  EXPECT_FALSE(valid_for_append(""));
}

TEST(validate_stream_name, rejects_name_of_201_bytes) {
  EXPECT_FALSE(valid_for_read(std::string(201, 'x')));
  std::string multi_byte = std::string(1, 'x');
  while (multi_byte.size() < 201) multi_byte += "ä";
  ASSERT_EQ(multi_byte.size(), 201u);
  EXPECT_FALSE(valid_for_read(multi_byte));
}

TEST(validate_stream_name, rejects_path_separators) {
  for (const char* name : {"../x", "a/b", "/", "a/", "/a", "a\\b", "\\", "..\\x"}) {
    EXPECT_FALSE(valid_for_read(name)) << name;
  }
}

TEST(validate_stream_name, rejects_dot_and_dot_dot) {
  EXPECT_FALSE(valid_for_read("."));
  EXPECT_FALSE(valid_for_read(".."));
  // Only the exact names alias directories.
  EXPECT_TRUE(valid_for_read("..."));
  EXPECT_TRUE(valid_for_read(".a"));
  EXPECT_TRUE(valid_for_read("a.."));
}

// The words an invalid_stream_name carries: the rule the name breaks, and
// where, so a client learns what to change.
TEST(validate_stream_name, an_error_names_the_rule_the_name_breaks) {
  const auto problem = [](std::string_view name, name_use use = name_use::read) {
    return stream_name_problem(name, use);
  };
  EXPECT_EQ(problem("order-1"), "");
  EXPECT_EQ(problem(""), "a stream name is at least 1 byte");
  EXPECT_EQ(problem(std::string(201, 'a')), "a stream name is at most 200 bytes (this one is 201)");
  EXPECT_EQ(problem(".."), "'.' and '..' are not stream names");
  EXPECT_EQ(problem("$x", name_use::append),
            "names starting with '$' are the store's own: read, never appended to");
  EXPECT_EQ(problem("$x"), "");
  EXPECT_EQ(problem("ab/c"), "a stream name holds no '/' or '\\' (one is at byte 2)");
  EXPECT_EQ(problem("a\\"), "a stream name holds no '/' or '\\' (one is at byte 1)");
  EXPECT_EQ(problem("a\tb"), "a stream name holds no control character (one is at byte 1)");
  EXPECT_EQ(problem("ab\xFF"), "a stream name is valid UTF-8 (it is not at byte 2)");
  EXPECT_EQ(problem("$et-"), "'$et-' is followed by an event type");
  EXPECT_EQ(problem("$ce-a/b"),
            "'$ce-' is followed by a category, and a stream name holds no '/' or '\\' (one is at byte 1)");
  // The error quotes the name, printable and cut, and says the rule.
  const error e = stream_name_error("bad/\x01" + std::string(100, 'x'), name_use::append);
  EXPECT_EQ(e.code, errc::invalid_stream_name);
  EXPECT_EQ(e.detail,
            "'bad/?" + std::string(59, 'x') + "...': a stream name holds no '/' or '\\' (one is at byte 3)");
  EXPECT_FALSE(stream_name_error("ok", name_use::append).code);
}

TEST(validate_stream_name, rejects_c0_control_characters) {
  EXPECT_FALSE(valid_for_read("a\0b"s));
  EXPECT_FALSE(valid_for_read("\0"s));
  EXPECT_FALSE(valid_for_read("\x01"));
  EXPECT_FALSE(valid_for_read("a\tb"));
  EXPECT_FALSE(valid_for_read("a\n"));
  EXPECT_FALSE(valid_for_read("\x1F"));
  EXPECT_TRUE(valid_for_read(" "));
}

TEST(validate_stream_name, rejects_del_and_c1_control_characters) {
  EXPECT_FALSE(valid_for_read("\x7F"));
  EXPECT_FALSE(
      valid_for_read("a\x7F"
                     "b"));
  EXPECT_FALSE(valid_for_read("\xC2\x80"));
  EXPECT_FALSE(
      valid_for_read("a\xC2\x85"
                     "b"));
  EXPECT_FALSE(valid_for_read("\xC2\x9F"));
  EXPECT_TRUE(valid_for_read("\xC2\xA0"));  // NO-BREAK SPACE is the first non-control
  EXPECT_TRUE(valid_for_read("~"));
}

TEST(validate_stream_name, rejects_invalid_utf8) {
  const std::vector<std::string> invalid = {
      "\xFF",              // never valid in UTF-8
      "a\xFE",             //
      "\xF5\x80\x80\x80",  // would be above U+10FFFF
      "\x80",              // stray continuation byte
      "a\xBF"
      "b",         //
      "\xC3",      // truncated 2-byte sequence
      "\xE8\xAE",  // truncated 3-byte sequence
      "\xE8\xAE"
      "a",                 // continuation replaced by ASCII
      "\xF0\x9F\x98",      // truncated 4-byte sequence
      "\xC3\xC3\xA4",      // lead byte where a continuation belongs
      "\xC0\xAF",          // overlong '/'
      "\xC1\xBF",          // overlong U+007F
      "\xE0\x80\xAF",      // overlong 3-byte '/'
      "\xE0\x9F\xBF",      // overlong U+07FF
      "\xF0\x80\x80\xAF",  // overlong 4-byte '/'
      "\xF0\x8F\xBF\xBF",  // overlong U+FFFF
      "\xED\xA0\x80",      // surrogate U+D800
      "\xED\xBF\xBF",      // surrogate U+DFFF
      "\xF4\x90\x80\x80",  // U+110000
  };
  for (const auto& name : invalid) EXPECT_FALSE(valid_for_read(name)) << testing::PrintToString(name);
}

TEST(validate_stream_name, rejects_dollar_prefix_for_append_but_accepts_it_for_read) {
  EXPECT_FALSE(valid_for_append("$all"));
  EXPECT_FALSE(valid_for_append("$"));
  EXPECT_TRUE(valid_for_read("$all"));
  EXPECT_TRUE(valid_for_read("$"));
  EXPECT_TRUE(valid_for_append("a$"));  // only a leading '$' is reserved
}

// --- encode_stream_file_name / decode_stream_file_name --------------------

TEST(stream_file_name, keeps_safe_bytes_and_escapes_all_others_in_upper_case_hex) {
  EXPECT_EQ(encode_stream_file_name("cart-1_z9"), "cart-1_z9");
  EXPECT_EQ(encode_stream_file_name("Cart"), "%43art");
  EXPECT_EQ(encode_stream_file_name("a.b"), "a%2Eb");
  EXPECT_EQ(encode_stream_file_name("%"), "%25");
  EXPECT_EQ(encode_stream_file_name("$all"), "%24all");
  EXPECT_EQ(encode_stream_file_name("käse"), "k%C3%A4se");
  EXPECT_EQ(encode_stream_file_name("a+"), "a%2B");
}

TEST(stream_file_name, round_trips_corpus) {
  for (const auto& name : name_corpus()) {
    const std::string encoded = encode_stream_file_name(name);
    EXPECT_EQ(decode_stream_file_name(encoded), name) << encoded;
  }
}

TEST(stream_file_name, round_trips_random_valid_names) {
  for (const auto& name : random_valid_names(5000)) {
    ASSERT_TRUE(valid_for_read(name)) << testing::PrintToString(name);
    const std::string encoded = encode_stream_file_name(name);
    ASSERT_EQ(decode_stream_file_name(encoded), name) << encoded;
  }
}

TEST(stream_file_name, encodings_are_safe_path_segments) {
  for (const auto& name : all_test_names()) {
    const std::string encoded = encode_stream_file_name(name);
    EXPECT_EQ(encoded.find('\0'), std::string::npos) << encoded;
    EXPECT_EQ(encoded.find('\\'), std::string::npos) << encoded;
    const auto segments = split_segments(encoded);
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const std::string& segment = segments[i];
      EXPECT_FALSE(segment.empty()) << encoded;
      EXPECT_LE(segment.size(), 240u) << encoded;
      if (segment.empty()) continue;
      EXPECT_NE(segment.front(), '.') << encoded;
      // '/' appears only as the separator right after a continuation '+'.
      const bool last = i + 1 == segments.size();
      EXPECT_EQ(segment.back() == '+', !last) << encoded;
      EXPECT_EQ(segment.find('+'), last ? std::string::npos : segment.size() - 1) << encoded;
    }
  }
}

TEST(stream_file_name, splits_only_encodings_longer_than_240_bytes) {
  EXPECT_EQ(encode_stream_file_name(std::string(80, 'A')).size(), 240u);
  EXPECT_EQ(split_segments(encode_stream_file_name(std::string(80, 'A'))).size(), 1u);
  EXPECT_EQ(split_segments(encode_stream_file_name(std::string(200, 'a'))).size(), 1u);
  EXPECT_EQ(split_segments(encode_stream_file_name("b" + std::string(80, 'A'))).size(), 2u);
  // 600 encoded bytes need three segments.
  EXPECT_EQ(split_segments(encode_stream_file_name(std::string(200, '.'))).size(), 3u);
}

TEST(stream_file_name, never_splits_an_escape) {
  for (const auto& name : all_test_names()) {
    const auto segments = split_segments(encode_stream_file_name(name));
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      const std::string& s = segments[i];
      ASSERT_GE(s.size(), 3u);
      // Before the '+', the last escape must be complete.
      EXPECT_NE(s[s.size() - 2], '%') << s;
      EXPECT_NE(s[s.size() - 3], '%') << s;
    }
  }
}

TEST(stream_file_name, escapes_windows_device_names) {
  const std::set<std::string> devices = {"con",  "prn",  "aux",  "nul",  "com0", "com1", "com2", "com3",
                                         "com4", "com5", "com6", "com7", "com8", "com9", "lpt0", "lpt1",
                                         "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9"};
  for (const char* name : {"CON", "con", "Nul", "com1", "COM1", "lpt9", "aux", "PRN", "com0"}) {
    const std::string encoded = encode_stream_file_name(name);
    EXPECT_EQ(devices.count(to_lower(encoded)), 0u) << name << " -> " << encoded;
    EXPECT_EQ(decode_stream_file_name(encoded), name);
  }
  EXPECT_EQ(encode_stream_file_name("con"), "%63on");
  EXPECT_EQ(encode_stream_file_name("com1"), "%63om1");
  // Near misses are ordinary names.
  EXPECT_EQ(encode_stream_file_name("con1"), "con1");
  EXPECT_EQ(encode_stream_file_name("xcon"), "xcon");
  EXPECT_EQ(encode_stream_file_name("com"), "com");
}

TEST(stream_file_name, distinguishes_names_differing_only_in_case) {
  const std::string upper = encode_stream_file_name("Cart-1");
  const std::string lower = encode_stream_file_name("cart-1");
  EXPECT_NE(upper, lower);
  EXPECT_NE(to_lower(upper), to_lower(lower));
}

TEST(stream_file_name, encodings_are_injective_even_ignoring_case) {
  std::set<std::string> names;
  std::set<std::string> encodings;
  std::set<std::string> folded;
  for (const auto& name : all_test_names()) {
    if (!names.insert(name).second) continue;
    const std::string encoded = encode_stream_file_name(name);
    EXPECT_TRUE(encodings.insert(encoded).second) << encoded;
    EXPECT_TRUE(folded.insert(to_lower(encoded)).second) << encoded;
  }
}

TEST(stream_file_name, decode_rejects_malformed_input) {
  const std::string long_encoded = encode_stream_file_name(std::string(200, '.'));
  const std::string short_long_encoded = encode_stream_file_name("b" + std::string(80, 'A'));
  std::string unsplit = long_encoded;
  for (std::size_t p; (p = unsplit.find("+/")) != std::string::npos;) unsplit.erase(p, 2);
  std::string moved_split = short_long_encoded;  // "b%41...%4+/1" style: cut elsewhere
  {
    const std::size_t p = moved_split.find("+/");
    moved_split.erase(p, 2);
    moved_split.insert(p - 3, "+/");
  }

  const std::vector<std::string> malformed = {
      "",                        // empty
      "%61",                     // needless escape of a literal byte
      "%2d",                     // lower-case hex
      "%2",                      // truncated escape
      "%",                       //
      "a%",                      //
      "%G1",                     // not hex
      "A",                       // literal outside the set
      ".",                       //
      ".a",                      //
      "a.b",                     //
      "a b",                     //
      "a/b",                     // '/' not after '+'
      "/a",                      //
      "a\\b",                    //
      "a\0b"s,                   //
      "con",                     // device name left unescaped
      "%63%6F%6E",               // more than the first byte escaped
      "%2E",                     // decodes to "."
      "%2E%2E",                  // decodes to ".."
      "%2F",                     // decodes to "/"
      "%00",                     // decodes to NUL
      "%C2%85",                  // decodes to a C1 control
      "%FF",                     // decodes to invalid UTF-8
      "%C0%AF",                  // decodes to an overlong
      "%ED%A0%80",               // decodes to a surrogate
      "a+",                      // continuation marker on the last segment
      "a+/",                     // empty last segment
      "+/a",                     // empty first segment
      "a+/b",                    // split although short
      "a+/+/b",                  //
      "a+b",                     // '+' without a separator
      long_encoded + "+",        // last segment ends in '+'
      long_encoded + "+/",       //
      unsplit,                   // segment longer than 240 bytes
      moved_split,               // split at a non-canonical place
      std::string(201, 'a'),     // decodes to a name that is too long
      std::string(100000, 'a'),  // absurdly long
  };
  for (const auto& encoded : malformed) {
    EXPECT_EQ(decode_stream_file_name(encoded), std::nullopt) << testing::PrintToString(encoded);
  }
  // Sanity: the unmodified long encodings do decode.
  EXPECT_TRUE(decode_stream_file_name(long_encoded).has_value());
  EXPECT_TRUE(decode_stream_file_name(short_long_encoded).has_value());
}

TEST(stream_file_name, decode_accepts_only_outputs_of_encode) {
  // Every short string over the encoding alphabet either decodes to a name
  // that encodes back to it, or is rejected.
  const std::string alphabet = "a0_-%2E4F+/.c";
  std::vector<std::string> frontier = {""};
  for (int length = 0; length < 5; ++length) {
    std::vector<std::string> next;
    for (const auto& prefix : frontier) {
      for (char c : alphabet) next.push_back(prefix + c);
    }
    for (const auto& candidate : next) {
      if (const auto decoded = decode_stream_file_name(candidate)) {
        EXPECT_TRUE(valid_for_read(*decoded)) << candidate;
        EXPECT_EQ(encode_stream_file_name(*decoded), candidate);
      }
    }
    frontier = std::move(next);
  }
}

}  // namespace
}  // namespace evstore::detail
