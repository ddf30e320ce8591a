// Encoders and decoders of every on-disk structure, and the checksum.
#include "format/format.hpp"

#include "format/crc32c.hpp"
#include "format/scavenge_state.hpp"
#include "format/store_json.hpp"
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <span>
#include <vector>

using namespace evstore::detail;
using namespace evstore::detail::format;

namespace {

record_fields sample() {
  record_fields f;
  f.position = 123456789012ull;
  f.version = 42;
  f.committed_at = 1764000000000;
  f.commit_first_position = 123456789010ull;
  f.commit_count = 3;
  f.commit_end = true;
  std::array<std::byte, 16> id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::byte>(i + 1);
  f.id = id;
  f.type = "OrderPlaced";
  f.data = R"({"total":12.5})";
  f.metadata = R"({"user":"u-1"})";
  return f;
}

}  // namespace

TEST(crc32c, matches_known_vectors) {
  // RFC 3720 B.4 test vectors.
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xff), inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c::value(zeros.data(), 32), 0x8a9136aau);
  EXPECT_EQ(crc32c::value(ones.data(), 32), 0x62a8ab43u);
  EXPECT_EQ(crc32c::value(inc.data(), 32), 0x46dd794eu);
  EXPECT_EQ(crc32c::value("123456789", 9), 0xe3069283u);
  // Extending in pieces equals one pass.
  EXPECT_EQ(crc32c::extend(crc32c::value(inc.data(), 5), inc.data() + 5, 27), crc32c::value(inc.data(), 32));
}

TEST(crc32c, mask_round_trips_and_zero_is_not_a_valid_masked_crc_of_zeros) {
  for (std::uint32_t v : {0u, 1u, 0xdeadbeefu, 0xffffffffu}) EXPECT_EQ(crc32c::unmask(crc32c::mask(v)), v);
  std::vector<unsigned char> zeros(28, 0);
  EXPECT_NE(crc32c::mask(crc32c::value(zeros.data(), zeros.size())), 0u);
}

TEST(format_record, round_trips_every_field) {
  const record_fields f = sample();
  std::vector<std::byte> buf(record_size(f.type.size(), f.data.size(), f.metadata.size()));
  const std::uint32_t crc = encode_record(f, buf);
  decoded_record d;
  ASSERT_EQ(decode_record(buf, d), decode_status::ok);
  EXPECT_EQ(d.size, buf.size());
  EXPECT_EQ(d.stored_crc, crc);
  EXPECT_EQ(d.kind, record_kind_event);
  EXPECT_EQ(d.fields.position, f.position);
  EXPECT_EQ(d.fields.version, f.version);
  EXPECT_EQ(d.fields.committed_at, f.committed_at);
  EXPECT_EQ(d.fields.commit_first_position, f.commit_first_position);
  EXPECT_EQ(d.fields.commit_count, f.commit_count);
  EXPECT_TRUE(d.fields.commit_end);
  EXPECT_EQ(d.fields.id, f.id);
  EXPECT_EQ(d.fields.type, f.type);
  EXPECT_EQ(d.fields.data, f.data);
  EXPECT_EQ(d.fields.metadata, f.metadata);
}

TEST(format_record, zero_length_means_end_and_short_buffer_is_truncated) {
  std::vector<std::byte> zeros(200);
  decoded_record d;
  EXPECT_EQ(decode_record(zeros, d), decode_status::end);
  const record_fields f = sample();
  std::vector<std::byte> buf(record_size(f.type.size(), f.data.size(), f.metadata.size()));
  encode_record(f, buf);
  for (std::size_t n = 0; n < buf.size(); ++n) {
    EXPECT_EQ(decode_record(std::span(buf).first(n), d), decode_status::truncated) << n;
  }
}

TEST(format_record, every_single_bit_flip_is_detected) {
  const record_fields f = sample();
  std::vector<std::byte> buf(record_size(f.type.size(), f.data.size(), f.metadata.size()));
  encode_record(f, buf);
  decoded_record d;
  for (std::size_t byte = 0; byte < buf.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = buf;
      copy[byte] ^= static_cast<std::byte>(1 << bit);
      const auto status = decode_record(copy, d);
      EXPECT_NE(status, decode_status::ok) << "byte " << byte << " bit " << bit;
    }
  }
}

namespace {

// Recomputes a record's checksum after a test changed its bytes: what a
// writer with a bug (or a forger) would produce, which the CRC cannot catch.
void reseal(std::vector<std::byte>& buf) {
  put_u32(buf.data() + 4, crc32c::mask(crc32c::value(buf.data() + 8, buf.size() - 8)));
}

}  // namespace

// The checksum only proves the bytes are the ones written; the decoder must
// also refuse every form the encoder never produces, or a writer bug becomes
// data that every reader trusts.
TEST(format_record, non_canonical_fields_under_a_valid_checksum_are_corrupt) {
  record_fields f = sample();
  std::vector<std::byte> buf(record_size(f.type.size(), f.data.size(), f.metadata.size()));
  encode_record(f, buf);
  decoded_record d;
  ASSERT_EQ(decode_record(buf, d), decode_status::ok);
  auto forged = [&](const char* what, auto&& change) {
    auto copy = buf;
    change(copy);
    reseal(copy);
    EXPECT_EQ(decode_record(copy, d), decode_status::corrupt) << what;
  };
  // The reserved word (bytes 60..63) is written as zero.
  for (std::size_t at = 60; at < 64; ++at) {
    forged("reserved byte", [at](auto& b) { b[at] = std::byte{0x01}; });
  }
  forged("reserved word", [](auto& b) { put_u32(b.data() + 60, 0xffffffffu); });
  // Flags other than has_id and commit_end.
  for (unsigned bit = 2; bit < 16; ++bit) {
    forged("unknown flag", [bit](auto& b) {
      put_u16(b.data() + 10, static_cast<std::uint16_t>(get_u16(b.data() + 10) | (1u << bit)));
    });
  }
  // The trailing copy of the size, and the lengths that must add up to it.
  forged("trailing size",
         [](auto& b) { put_u32(b.data() + b.size() - 4, static_cast<std::uint32_t>(b.size() + 8)); });
  forged("type length", [](auto& b) { put_u32(b.data() + 12, get_u32(b.data() + 12) - 1); });
  forged("data length", [](auto& b) { put_u32(b.data() + 52, get_u32(b.data() + 52) + 1); });

  // Without the has_id flag the id bytes are zero.
  f.id.reset();
  buf.assign(record_size(f.type.size(), f.data.size(), f.metadata.size()), std::byte{0});
  encode_record(f, buf);
  ASSERT_EQ(decode_record(buf, d), decode_status::ok);
  forged("id bytes without has_id", [](auto& b) { b[64 + 15] = std::byte{0x40}; });
}

// Format 2 records carry their stream's name between the header and the
// type; format 1's carry none. Each kind of store refuses the other kind.
TEST(format_record, a_named_record_round_trips_and_only_where_names_are_required) {
  record_fields f = sample();
  f.stream = "order-0042";
  std::vector<std::byte> buf(record_size(f));
  ASSERT_EQ(buf.size(), record_size(f.type.size(), f.data.size(), f.metadata.size()) + f.stream.size());
  encode_record(f, buf);
  EXPECT_EQ(get_u16(buf.data() + 60), f.stream.size());
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(buf.data() + record_header_size), f.stream.size()),
            f.stream);
  decoded_record d;
  ASSERT_EQ(decode_record(buf, d, record_names::required), decode_status::ok);
  EXPECT_EQ(d.fields.stream, f.stream);
  EXPECT_EQ(d.fields.type, f.type);
  EXPECT_EQ(d.fields.data, f.data);
  EXPECT_EQ(d.fields.metadata, f.metadata);
  EXPECT_EQ(d.size, buf.size());
  EXPECT_EQ(decode_record(buf, d), decode_status::corrupt) << "a format-1 store holds no named record";

  record_fields unnamed = sample();
  std::vector<std::byte> plain(record_size(unnamed));
  encode_record(unnamed, plain);
  EXPECT_EQ(decode_record(plain, d, record_names::required), decode_status::corrupt)
      << "a format-2 record always names its stream";

  // Forged under a valid checksum: a name longer than any stream name, a
  // name length the other lengths do not add up with, the reserved half-word.
  auto forged = [&](const char* what, auto&& change) {
    auto copy = buf;
    change(copy);
    reseal(copy);
    EXPECT_EQ(decode_record(copy, d, record_names::required), decode_status::corrupt) << what;
  };
  forged("name length past the limit", [](auto& b) { put_u16(b.data() + 60, max_record_name + 1); });
  forged("name length off by one", [](auto& b) { put_u16(b.data() + 60, get_u16(b.data() + 60) + 1); });
  forged("reserved half-word", [](auto& b) { put_u16(b.data() + 62, 1); });
}

TEST(format_index, entries_round_trip_and_reject_damage) {
  const all_entry a{1ull << 40, 7, 300, true, 99, 0xabcdef01u};
  std::array<std::byte, all_entry_size> abuf{};
  encode_all_entry(a, abuf);
  ASSERT_EQ(decode_all_entry(abuf), a);
  const stream_entry s{5ull << 33, 1ull << 35, 180};
  std::array<std::byte, stream_entry_size> sbuf{};
  encode_stream_entry(s, sbuf);
  ASSERT_EQ(decode_stream_entry(sbuf), s);
  for (std::size_t i = 0; i < all_entry_size; ++i) {
    auto copy = abuf;
    copy[i] ^= std::byte{0x10};
    EXPECT_FALSE(decode_all_entry(copy)) << i;
  }
  for (std::size_t i = 0; i < stream_entry_size; ++i) {
    auto copy = sbuf;
    copy[i] ^= std::byte{0x01};
    EXPECT_FALSE(decode_stream_entry(copy)) << i;
  }
  std::array<std::byte, all_entry_size> zeros{};
  EXPECT_FALSE(decode_all_entry(zeros));
  EXPECT_FALSE(decode_stream_entry(std::span(zeros).first(stream_entry_size)));
}

// Format 2's $all entry: 16 bytes locating a record in its partition log.
TEST(format_index, a_format_2_all_entry_round_trips_at_its_limits_and_rejects_damage) {
  for (const all_entry2 e : {all_entry2{0, 256, format::record_overhead, false},
                             all_entry2{999, all_entry2_max_offset, max_record_size, true},
                             all_entry2{65535, 1ull << 40, 215, true}, all_entry2{3, 4096, 300, false, true},
                             all_entry2{3, 4096, 300, true, true}}) {
    std::array<std::byte, all_entry2_size> buf{};
    encode_all_entry2(e, buf);
    ASSERT_EQ(decode_all_entry2(buf), e);
    for (std::size_t i = 0; i < all_entry2_size; ++i) {
      for (unsigned bit = 0; bit < 8; ++bit) {
        auto copy = buf;
        copy[i] ^= std::byte{static_cast<unsigned char>(1u << bit)};
        EXPECT_FALSE(decode_all_entry2(copy)) << i << ":" << bit;
      }
    }
  }
  std::array<std::byte, all_entry2_size> zeros{};
  EXPECT_FALSE(decode_all_entry2(zeros)) << "preallocated space is no entry";
  EXPECT_FALSE(decode_all_entry2(std::span(zeros).first(all_entry2_size - 1)));
  // A size no record has, under a valid checksum.
  std::array<std::byte, all_entry2_size> small{};
  put_u64(small.data(), 256);
  put_u32(small.data() + 8, format::record_overhead - 1);
  put_u32(small.data() + 12, crc32c::mask(crc32c::value(small.data(), 12)));
  EXPECT_FALSE(decode_all_entry2(small));
}

TEST(format_header, round_trips_and_checks_kind) {
  std::array<std::byte, file_header_size> buf{};
  encode_file_header({file_kind::stream_index, stream_entry_size, 17, "cart-1"}, buf);
  auto h = decode_file_header(buf, file_kind::stream_index);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->entry_size, stream_entry_size);
  EXPECT_EQ(h->stream_id, 17u);
  EXPECT_EQ(h->name, "cart-1");
  EXPECT_FALSE(decode_file_header(buf, file_kind::partition));
  buf[40] ^= std::byte{1};
  EXPECT_FALSE(decode_file_header(buf, file_kind::stream_index));
}

TEST(format_catalog_and_checkpoint, round_trip) {
  std::vector<std::byte> buf(catalog_record_size(5));
  encode_catalog_record({3, catalog_kind_write_stream, 77, "hello"}, buf);
  catalog_record r;
  std::uint32_t size = 0;
  ASSERT_EQ(decode_catalog_record(buf, r, size), decode_status::ok);
  EXPECT_EQ(size, buf.size());
  EXPECT_EQ(r.stream_id, 3u);
  EXPECT_EQ(r.name, "hello");
  EXPECT_EQ(r.first_position, 77u);
  buf.back() ^= std::byte{1};
  EXPECT_EQ(decode_catalog_record(buf, r, size), decode_status::corrupt);

  std::array<std::byte, checkpoint_slot_size> slot{};
  encode_checkpoint({9, 1000, 4, 4096}, slot);
  auto c = decode_checkpoint(slot);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->sequence, 9u);
  EXPECT_EQ(c->all_count, 1000u);
  EXPECT_EQ(c->stream_count, 4u);
  EXPECT_EQ(c->journal_offset, 4096u);
  slot[20] ^= std::byte{4};
  EXPECT_FALSE(decode_checkpoint(slot));
}

TEST(format_checkpoint2, a_slot_round_trips_and_every_bit_flip_is_refused) {
  for (const std::uint32_t partitions : {1u, 3u, 16u}) {
    checkpoint2 c{7, 123456, 99, {}};
    for (std::uint32_t p = 0; p < partitions; ++p) c.ends.push_back(256 + 1000ull * p + (1ull << 40));
    std::vector<std::byte> slot(checkpoint2_slot_size(partitions));
    encode_checkpoint2(c, slot);
    ASSERT_EQ(decode_checkpoint2(slot, partitions), c);
    for (std::size_t i = 0; i < slot.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto copy = slot;
        copy[i] ^= static_cast<std::byte>(1 << bit);
        EXPECT_FALSE(decode_checkpoint2(copy, partitions)) << partitions << " " << i << ":" << bit;
      }
    }
    EXPECT_FALSE(decode_checkpoint2(std::span(slot).first(slot.size() - 1), partitions)) << "short slot";
  }
  std::vector<std::byte> zeros(checkpoint2_slot_size(2));
  EXPECT_FALSE(decode_checkpoint2(zeros, 2)) << "a slot never written";
}

TEST(format_checkpoint2, a_slot_of_another_partition_count_is_refused) {
  const checkpoint2 c{3, 10, 2, {256, 4096}};
  std::vector<std::byte> file(checkpoint2_file_size(4));
  encode_checkpoint2(c, file);
  EXPECT_FALSE(decode_checkpoint2(file, 1)) << "fewer partitions";
  EXPECT_FALSE(decode_checkpoint2(file, 4)) << "more partitions";
  EXPECT_FALSE(decode_checkpoint2_file(file, 4));
  EXPECT_EQ(decode_checkpoint2(file, 2), c);
}

TEST(format_checkpoint2, the_valid_slot_with_the_higher_sequence_wins) {
  const std::uint32_t partitions = 2;
  const std::size_t slot = checkpoint2_slot_size(partitions);
  const checkpoint2 older{4, 100, 3, {300, 5000}};
  const checkpoint2 newer{5, 180, 5, {900, 7000}};
  std::vector<std::byte> file(checkpoint2_file_size(partitions));
  EXPECT_FALSE(decode_checkpoint2_file(file, partitions)) << "neither slot written";

  // Either slot may hold the newer one (they alternate).
  encode_checkpoint2(older, std::span(file).first(slot));
  encode_checkpoint2(newer, std::span(file).subspan(slot));
  EXPECT_EQ(decode_checkpoint2_file(file, partitions), newer);
  std::vector<std::byte> swapped(file.size());
  encode_checkpoint2(newer, std::span(swapped).first(slot));
  encode_checkpoint2(older, std::span(swapped).subspan(slot));
  EXPECT_EQ(decode_checkpoint2_file(swapped, partitions), newer);

  // A torn write of the newer slot leaves the older one.
  auto torn = file;
  std::fill(torn.begin() + static_cast<std::ptrdiff_t>(slot + 20), torn.end(), std::byte{0});
  EXPECT_EQ(decode_checkpoint2_file(torn, partitions), older);
  // A bad checksum in the newer slot: the older one.
  auto bad = file;
  bad[slot + 16] ^= std::byte{0x10};
  EXPECT_EQ(decode_checkpoint2_file(bad, partitions), older);
  // A file cut inside the second slot: the first one alone.
  EXPECT_EQ(decode_checkpoint2_file(std::span(file).first(slot + 10), partitions), older);
  EXPECT_FALSE(decode_checkpoint2_file(std::span(file).first(slot - 1), partitions));
}

TEST(format_store_json, both_versions_round_trip) {
  for (const store_description d : {store_description{1, 0, 0}, store_description{2, 1, 8192},
                                    store_description{2, 1000, std::uint64_t{1} << 32}}) {
    auto parsed = parse_store_json(store_json_text(d), "store.json");
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(store_json_text({1, 0, 0}), "{\"format\":\"evstore\",\"version\":1}\n");
  EXPECT_EQ(store_json_text({2, 4, 268435456}),
            "{\"format\":\"evstore\",\"version\":2,\"partitions\":4,\"segment_size\":268435456}\n");
  // What the format-1 engine has always written, and members added later.
  auto v1 = parse_store_json(R"({"format":"evstore","version":1})", "store.json");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->version, 1u);
  auto extra = parse_store_json(
      R"({"format":"evstore","version":2,"partitions":2,"segment_size":8192,"x":1})", "store.json");
  ASSERT_TRUE(extra) << extra.error().message();
  EXPECT_EQ(extra->partitions, 2u);
}

TEST(format_store_json, says_what_is_wrong) {
  struct bad_case {
    const char* text;
    evstore::errc code;
    const char* says;
  };
  for (const bad_case& c : {
           bad_case{"", evstore::errc::corrupt_data, "does not describe an evstore store"},
           bad_case{"not json", evstore::errc::corrupt_data, "does not describe an evstore store"},
           bad_case{R"({"format":"other","version":2})", evstore::errc::corrupt_data, "does not describe"},
           bad_case{R"({"format":"evstore"})", evstore::errc::corrupt_data, "no integer \"version\""},
           bad_case{R"({"format":"evstore","version":"2"})", evstore::errc::corrupt_data,
                    "no integer \"version\""},
           bad_case{R"({"format":"evstore","version":3})", evstore::errc::format_mismatch,
                    "format version 3"},
           bad_case{R"({"format":"evstore","version":2,"segment_size":8192})", evstore::errc::corrupt_data,
                    "no integer \"partitions\""},
           bad_case{R"({"format":"evstore","version":2,"partitions":1})", evstore::errc::corrupt_data,
                    "no integer \"segment_size\""},
           bad_case{R"({"format":"evstore","version":2,"partitions":0,"segment_size":8192})",
                    evstore::errc::corrupt_data, "partitions 0"},
           bad_case{R"({"format":"evstore","version":2,"partitions":1001,"segment_size":8192})",
                    evstore::errc::corrupt_data, "partitions 1001"},
           bad_case{R"({"format":"evstore","version":2,"partitions":1,"segment_size":10000})",
                    evstore::errc::corrupt_data, "segment size 10000"},
           bad_case{R"({"format":"evstore","version":2,"partitions":-1,"segment_size":8192})",
                    evstore::errc::corrupt_data, "no integer \"partitions\""},
       }) {
    auto r = parse_store_json(c.text, "s/store.json");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, c.code) << c.text;
    EXPECT_NE(r.error().detail.find(c.says), std::string::npos) << c.text << " -> " << r.error().detail;
    EXPECT_NE(r.error().detail.find("s/store.json"), std::string::npos) << r.error().detail;
  }
}

TEST(format_store_json, is_written_atomically_and_read_back) {
  auto mem = std::make_shared<evstore::testing::memory_file_system>();
  auto missing = read_store_json(*mem, "/s");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, evstore::errc::invalid_argument);
  ASSERT_TRUE(mem->create_directories("/s") == boost::system::error_code{});
  EXPECT_FALSE(write_store_json(*mem, "/s", {2, 0, 8192})) << "out of range: nothing written";
  EXPECT_FALSE(mem->exists("/s/store.json"));
  ASSERT_TRUE(write_store_json(*mem, "/s", {2, 3, 8192}));
  mem->power_loss(evstore::testing::power_loss_mode::synced_only, 1);
  auto back = read_store_json(*mem, "/s");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, (store_description{2, 3, 8192}));
  EXPECT_FALSE(mem->exists("/s/store.json.tmp"));

  // A failed write leaves the old file.
  evstore::testing::fault_injecting_file_system faults(mem);
  for (std::uint64_t k = 1; k <= 6; ++k) {  // open, truncate, write, sync, rename, directory sync
    faults.fail_operation(k, {}, false);
    auto r = write_store_json(faults, "/s", {1, 0, 0});
    ASSERT_FALSE(r) << k;
    EXPECT_NE(r.error().detail.find("store.json"), std::string::npos);
    mem->power_loss(evstore::testing::power_loss_mode::synced_only, k);
    auto now = read_store_json(*mem, "/s");
    ASSERT_TRUE(now) << now.error().message();
    EXPECT_EQ(now->version, 2u) << k;
  }
}

TEST(format_record, random_bytes_never_decode_as_a_valid_record) {
  std::mt19937_64 rng(7);
  std::vector<std::byte> buf(512);
  decoded_record d;
  for (int i = 0; i < 20000; ++i) {
    for (auto& b : buf) b = static_cast<std::byte>(rng());
    // Make the length plausible so the checksum is what has to catch it.
    put_u32(buf.data(), 100 + static_cast<std::uint32_t>(rng() % 400));
    EXPECT_NE(decode_record(buf, d), decode_status::ok);
  }
}

// A scavenged event's record: its header and name, zeros up to the trailer,
// the size of the record it replaces; anything else there is damage.
TEST(format_record, an_erased_record_keeps_its_place_and_header_and_nothing_else) {
  record_fields f;
  f.stream = "user-7";
  f.type = "Registered";
  f.data = R"({"email":"someone@example.com"})";
  f.position = 41;
  f.version = 3;
  f.committed_at = 1764000000000;
  f.commit_first_position = 40;
  f.commit_count = 2;
  f.commit_end = true;
  f.id = std::array<std::byte, 16>{std::byte{1}};
  std::vector<std::byte> original(record_size(f));
  encode_record(f, original);
  std::vector<std::byte> erased(original.size());
  const std::uint32_t crc = encode_erased_record(f, erased);
  decoded_record r;
  ASSERT_EQ(decode_record(erased, r, record_names::required), decode_status::ok);
  EXPECT_EQ(r.kind, record_kind_erased);
  EXPECT_EQ(r.size, original.size());
  EXPECT_EQ(r.stored_crc, crc);
  EXPECT_EQ(r.fields.stream, "user-7");
  EXPECT_EQ(r.fields.version, 3u);
  EXPECT_EQ(r.fields.position, 41u);
  EXPECT_EQ(r.fields.commit_first_position, 40u);
  EXPECT_EQ(r.fields.commit_count, 2u);
  EXPECT_TRUE(r.fields.commit_end);
  EXPECT_EQ(r.fields.committed_at, 1764000000000);
  EXPECT_TRUE(r.fields.type.empty() && r.fields.data.empty() && !r.fields.id);
  const std::string text(reinterpret_cast<const char*>(erased.data()), erased.size());
  EXPECT_EQ(text.find("someone@example.com"), std::string::npos);
  EXPECT_EQ(text.find("Registered"), std::string::npos);
  // A non-zero byte in the padding, under a checksum made to match, is refused.
  auto padded = erased;
  padded[record_header_size + 6 + 2] = std::byte{1};
  put_u32(padded.data() + 4, crc32c::mask(crc32c::value(padded.data() + 8, padded.size() - 8)));
  EXPECT_EQ(decode_record(padded, r, record_names::required), decode_status::corrupt);
}

TEST(format_scavenge_state, a_batch_round_trips_and_a_torn_one_is_refused) {
  std::vector<scavenge_entry> batch(2);
  batch[0] = {7, {0, 300, 500, true, true}, "user-1", 2, 1764000000000, 6, 2};
  batch[1] = {9, {1, 1u << 20, 4096, false, true}, "user-22", 0, 1764000000001, 9, 1};
  const auto bytes = encode_scavenge_state(batch);
  auto back = decode_scavenge_state(bytes);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].stream, "user-22");
  EXPECT_EQ((*back)[0].entry, batch[0].entry);
  EXPECT_EQ((*back)[0].commit_count, 2u);
  EXPECT_EQ(encode_scavenge_state(*back), bytes);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_FALSE(decode_scavenge_state(std::span(bytes).first(cut))) << cut;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= std::byte{0x10};
    EXPECT_FALSE(decode_scavenge_state(copy)) << i;
  }
  EXPECT_TRUE(decode_scavenge_state(encode_scavenge_state({}))) << "an empty batch is valid";
}
