// Fuzz target: every on-disk decoder (format.hpp), at the start of the input
// and after a 256-byte file header. Whatever decodes must encode back to the
// same bytes: a decoder may never accept a form the writer cannot produce.
#include "format/format.hpp"
#include "format/scavenge_state.hpp"
#include "fuzz_check.hpp"

#include <algorithm>
#include <vector>

namespace format = evstore::detail::format;

namespace {

bool same(const std::vector<std::byte>& a, format::bytes b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void decoders_at(format::bytes in) {
  // Both kinds of record: format 1's (no name) and format 2's (named).
  for (const auto names : {format::record_names::none, format::record_names::required}) {
    format::decoded_record r;
    if (format::decode_record(in, r, names) == format::decode_status::ok) {
      FUZZ_CHECK(r.size <= in.size());
      FUZZ_CHECK(r.fields.stream.empty() == (names == format::record_names::none));
      if (r.kind == format::record_kind_event) {
        std::vector<std::byte> out(format::record_size(r.fields));
        FUZZ_CHECK(out.size() == r.size);
        FUZZ_CHECK(format::encode_record(r.fields, out) == r.stored_crc);
        FUZZ_CHECK(same(out, in));
      }
      if (r.kind == format::record_kind_erased) {
        std::vector<std::byte> out(r.size);
        FUZZ_CHECK(format::encode_erased_record(r.fields, out) == r.stored_crc);
        FUZZ_CHECK(same(out, in));
      }
    }
  }
  if (auto e = format::decode_all_entry2(in)) {
    std::vector<std::byte> out(format::all_entry2_size);
    format::encode_all_entry2(*e, out);
    FUZZ_CHECK(same(out, in));
  }
  if (auto batch = format::decode_scavenge_state(in))
    FUZZ_CHECK(same(format::encode_scavenge_state(*batch), in));
  if (auto e = format::decode_all_entry(in)) {
    std::vector<std::byte> out(format::all_entry_size);
    format::encode_all_entry(*e, out);
    FUZZ_CHECK(same(out, in));
  }
  if (auto e = format::decode_stream_entry(in)) {
    std::vector<std::byte> out(format::stream_entry_size);
    format::encode_stream_entry(*e, out);
    FUZZ_CHECK(same(out, in));
  }
  format::catalog_record c;
  std::uint32_t size = 0;
  if (format::decode_catalog_record(in, c, size) == format::decode_status::ok) {
    std::vector<std::byte> out(format::catalog_record_size(c.name.size()));
    FUZZ_CHECK(out.size() == size && size <= in.size());
    format::encode_catalog_record(c, out);
    FUZZ_CHECK(same(out, in));
  }
  for (auto kind :
       {format::file_kind::partition, format::file_kind::stream_index, format::file_kind::all_index,
        format::file_kind::catalog, format::file_kind::journal, format::file_kind::link_index}) {
    if (auto h = format::decode_file_header(in, kind)) {
      FUZZ_CHECK(h->kind == kind && h->name.size() <= format::header_name_capacity);
      std::vector<std::byte> out(format::file_header_size);
      format::encode_file_header(*h, out);
      FUZZ_CHECK(same(out, in));
    }
  }
  (void)format::decode_checkpoint(in);
  format::journal_frame frame;
  (void)format::decode_journal_frame(in, frame);
  if (auto h = format::decode_head(in)) {
    std::vector<std::byte> out(format::head_size);
    format::encode_head(*h, out);
    FUZZ_CHECK(same(out, in));
  }
  (void)format::decode_link_entry(in);
  (void)format::decode_link_progress(in);
  if (auto cp = format::decode_consumer_checkpoint(in))
    FUZZ_CHECK(same(format::encode_consumer_checkpoint(*cp), in));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const format::bytes in(reinterpret_cast<const std::byte*>(data), size);
  decoders_at(in);
  if (in.size() > format::file_header_size) decoders_at(in.subspan(format::file_header_size));
  return 0;
}
