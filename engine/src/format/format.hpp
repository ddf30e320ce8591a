// Every on-disk byte of an evstore directory. docs/format.md is the prose
// companion (grammar and reasons); keep the two in step.
//
// All integers are little-endian. Every CRC is a *masked* CRC-32C (see
// crc32c.hpp), so a region of zeros never checksums correctly: preallocated
// space is told from data by its framing alone.
//
// Layout of a store directory:
//   LOCK                    flock()ed by the single writer
//   store.json              {"format":"evstore","version":1,...}
//   streams/<enc>.evs       partition: file header, then records of one stream
//   index/<enc>.idx         stream index: file header, then stream_entry[version]
//   index/$all.idx          global index: file header, then all_entry[position]
//   index/catalog           file header, then catalog records (stream id -> name)
//   index/checkpoint        two checkpoint slots (format 2: section Checkpoint of format 2)
//   index/head              the writer's published $all count (for followers)
//   journal.wal             durable mode: frames of recent flushes (write-ahead)
//   links/<enc>.lnk         read and system streams: link_entry[entry number]
//   links/progress          how far the indexer has linked $all
//   links/read_streams.json definitions of read streams (name, filter, built?)
//   consumers/<enc>/<enc>.consumer  durable consumer checkpoints
//   log/p<NNN>-<SSSSSSSS>.evs  format v2 (not used by the store yet): segment
//                           SSSSSSSS of partition NNN (section Segment below)
// A format-2 directory (docs/format.md, "Directory") holds
// store.json (version 2, partitions, segment_size: format/store_json.hpp),
// log/, index/all.idx (all_entry2[position], no header), index/manifest and
// index/run-*.sidx (the stream index), index/checkpoint (checkpoint2),
// index/head, links/ and consumers/ as above; no streams/, catalog or journal.
// <enc> is stream_name.hpp's file-name encoding of the stream name.
#pragma once

#include <boost/endian/conversion.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace evstore::detail::format {

inline constexpr std::uint32_t format_version = 1;

using bytes = std::span<const std::byte>;
using mutable_bytes = std::span<std::byte>;

// True if every byte is zero: preallocated or never-written space, and the
// reserved fields the decoders insist on.
bool all_zero(bytes in);

// ---------------------------------------------------------------------------
// File header: the first 256 bytes of every partition, index and catalog file.
//   0   u8[8]  magic (one per file kind, in format.cpp)
//   8   u32    format_version
//   12  u32    header_size (256)
//   16  u32    entry_size (index files), 0 otherwise
//   20  u32    stream_id (partition and stream index), 0 otherwise
//   24  u32    name_len
//   28  u8[200] stream name (partition and stream index), zero padded
//   228 u32    segment number (segment files), 0 otherwise
//   232 u64    segment size in bytes (segment files), 0 otherwise
//   240 u8[12] reserved, zero
//   252 u32    masked crc32c of bytes [0, 252)
// The stream name in partition headers lets repair rebuild every index from the
// partitions alone.
inline constexpr std::size_t file_header_size = 256;
inline constexpr std::size_t header_name_capacity = 200;

// Values are the order of this list (never stored: each kind has its own
// magic); append new kinds at the end.
enum class file_kind : std::uint8_t {
  partition,
  stream_index,
  all_index,
  catalog,
  journal,
  link_index,
  segment
};

struct file_header {
  file_kind kind = file_kind::partition;
  std::uint32_t entry_size = 0;
  std::uint32_t stream_id = 0;
  std::string_view name;           // decode: points into the decoded buffer
  std::uint32_t segment = 0;       // segment files only
  std::uint64_t segment_size = 0;  // segment files only
};

// REQUIRES: out.size() >= file_header_size, h.name.size() <= header_name_capacity.
void encode_file_header(const file_header& h, mutable_bytes out);
// nullopt if the magic, version, size or checksum is wrong.
std::optional<file_header> decode_file_header(bytes in, file_kind expected_kind);

// ---------------------------------------------------------------------------
// Event record, in partitions. Records of one stream follow each other in
// version order; a commit (one append) is a run of records with the same
// commit_first_position, the last of which has flag_commit_end.
//   0   u32   length: total bytes of the record, header + payload + trailer; 0 = no record
//   4   u32   masked crc32c of bytes [8, length)
//   8   u16   kind: 1 = event. Kinds with bit 0x8000 set may be skipped by readers
//             that do not know them; others are corruption to an old reader.
//   10  u16   flags: bit 0 has id, bit 1 last record of its commit
//   12  u32   type_len
//   16  u64   position (in $all)
//   24  u64   version (in its stream)
//   32  i64   committed_at, unix ms
//   40  u64   commit_first_position: position of the commit's first record
//   48  u32   commit_count: records in the commit
//   52  u32   data_len
//   56  u32   metadata_len
//   60  u16   name_len: bytes of the stream name after the header; 0 in
//             format 1 (a partition holds one stream, named in its file
//             header), the stream's name in format 2 (docs/format.md)
//   62  u16   reserved, zero (format 2: bit 0 will mark a compressed record)
//   64  u8[16] event id (zero if none)
//   80  name bytes, type bytes, data bytes, metadata bytes
//   length-4  u32 length again, so a reader can walk backwards
inline constexpr std::size_t record_header_size = 80;
inline constexpr std::size_t record_trailer_size = 4;
inline constexpr std::size_t record_overhead = record_header_size + record_trailer_size;
inline constexpr std::uint16_t record_kind_event = 1;
inline constexpr std::uint16_t record_kind_skippable_bit = 0x8000;
// An event whose body scavenging erased (docs/format.md, "Scavenging"): the
// header of the event it was (stream name, version, position, commit fields,
// committed_at) with type, data, metadata and id gone; the bytes after the
// name are zeros up to the trailing length, so the record keeps its size and
// every other record its offset.
inline constexpr std::uint16_t record_kind_erased = 0x8001;
inline constexpr std::uint16_t record_flag_has_id = 1;
inline constexpr std::uint16_t record_flag_commit_end = 2;
// Upper bound on one record; anything larger is corruption.
inline constexpr std::uint32_t max_record_size = 64u << 20;
// Longest name a record holds (a stream name's limit, stream_name.hpp).
inline constexpr std::size_t max_record_name = 200;
// Largest store_options::max_event_bytes (type + data + metadata) whose events
// always encode within max_record_size with any stream's name; the writer
// still checks each encoded record (empty data is stored as `null`).
inline constexpr std::size_t max_event_payload = max_record_size - record_overhead - max_record_name;

struct record_fields {
  std::string_view stream;  // empty in format 1 (see name_len)
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::int64_t committed_at = 0;
  std::uint64_t commit_first_position = 0;
  std::uint32_t commit_count = 0;
  bool commit_end = false;
  std::optional<std::array<std::byte, 16>> id;
  std::string_view type;
  std::string_view data;
  std::string_view metadata;
};

inline std::size_t record_size(std::size_t type_len, std::size_t data_len, std::size_t metadata_len) {
  return record_overhead + type_len + data_len + metadata_len;
}
// The same with the stream's name stored in the record (format 2).
inline std::size_t record_size(const record_fields& r) {
  return record_size(r.type.size(), r.data.size(), r.metadata.size()) + r.stream.size();
}

// Encodes the record into `out` (exactly record_size(r) bytes) and returns its
// stored (masked) CRC. REQUIRES: r.stream.size() <= max_record_name.
std::uint32_t encode_record(const record_fields& r, mutable_bytes out);
// Encodes the erased form of the event `r` (its stream, position, version,
// committed_at and commit fields; type, data, metadata and id are not
// written) into all of `out`, which is the size of the record it replaces.
// REQUIRES: out.size() >= record_overhead + r.stream.size(), <= max_record_size.
std::uint32_t encode_erased_record(const record_fields& r, mutable_bytes out);

enum class decode_status : std::uint8_t {
  ok,
  end,        // length field is 0: preallocated space, no record here
  truncated,  // the record runs past the bytes given
  corrupt,    // impossible length, checksum mismatch, bad structure
};

struct decoded_record {
  record_fields fields;
  std::uint32_t size = 0;
  std::uint32_t stored_crc = 0;
  std::uint16_t kind = 0;
};

// Which records a store holds: format 1's carry no name (name_len 0),
// format 2's always carry their stream's; the other kind is corruption.
enum class record_names : std::uint8_t { none, required };

// Decodes the record at the start of `in`; views in the result point into `in`.
// An erased record (kind record_kind_erased) decodes with empty type, data
// and metadata and no id.
decode_status decode_record(bytes in, decoded_record& out, record_names names = record_names::none);

// The framing checks of decode_record alone (length, checksum, trailing length),
// for code that treats records as opaque (the segmented log, format v2): ok and
// the record's size in `size`, or end/truncated/corrupt as decode_record says.
decode_status check_record_framing(bytes in, std::uint32_t& size);

// ---------------------------------------------------------------------------
// Segment (format v2, not yet used by the store; engine/src/log/): a partition
// of v2 is one append-only log of records split into segment files of a fixed
// size, log/p<NNN>-<SSSSSSSS>.evs (partition NNN < 1000 and segment number, in
// decimal, zero padded). A record is addressed by (partition u16, offset u48):
// offset = segment * segment_size + in-segment offset.
//   0    u8[256] file header, kind segment: stream_id = partition number,
//                segment = segment number, segment_size = the file's size
//                (the same in every segment of a store), name empty
//   256  records, back to back, framed as event records (length, masked crc32c
//        of [8, length), ..., length again); the log treats them as opaque
//   ...  zeros up to segment_size: a length of 0 where a record would start
//        ends the records of the segment
// Space ahead of the records is written with zeros (not a hole or fallocated)
// where it exists: a durable writer keeps some of it ahead so that appends
// overwrite blocks that already exist; a buffered writer and repair write
// none, and the file ends where the records do (docs/format.md).
// Records never span segments: one that does not fit in the rest of a segment
// starts at offset 256 of the next, and the rest stays zero. The log's end is
// the first offset without a valid record; a segment after it holds no records
// (a prepared, empty one may exist).
// Crash rule: a writer that syncs every flush leaves at most `unsynced window`
// bytes (engine/src/log/partition_writer.hpp) written and not yet synced; a
// damaged record followed, beyond that window, by a valid one is therefore
// damage to acknowledged data (corrupt_data), never a torn tail to cut.
inline constexpr std::size_t segment_records_start = file_header_size;

// ---------------------------------------------------------------------------
// $all index entry (index/$all.idx): entry N describes position N.
//   0   u64  offset of the record in its partition
//   8   u32  stream_id
//   12  u32  record size; bit 31 set on the last record of a commit
//   16  u64  version of the event in its stream
//   24  u32  the record's stored crc (lets recovery check the record cheaply)
//   28  u32  masked crc32c of bytes [0, 28)
inline constexpr std::size_t all_entry_size = 32;
inline constexpr std::uint32_t all_entry_commit_end_bit = 0x80000000u;

struct all_entry {
  std::uint64_t offset = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t size = 0;
  bool commit_end = false;
  std::uint64_t version = 0;
  std::uint32_t record_crc = 0;
  friend bool operator==(const all_entry&, const all_entry&) = default;
};

void encode_all_entry(const all_entry& e, mutable_bytes out);
std::optional<all_entry> decode_all_entry(bytes in);

// ---------------------------------------------------------------------------
// $all index entry of format 2 (index/all.idx, docs/format.md): entry N
// describes position N and sits at byte N * 16 (the file has no header).
// Records carry their stream's name and version, so the entry only locates
// the record in the partition logs.
//   0   u64  partition << 48 | offset (the record's place in its partition log)
//   8   u32  record size; bit 31 set on the last record of a commit, bit 30
//            on an event whose record scavenging erased (readers skip it)
//   12  u32  masked crc32c of bytes [0, 12)
inline constexpr std::size_t all_entry2_size = 16;
inline constexpr unsigned all_entry2_offset_bits = 48;
inline constexpr std::uint64_t all_entry2_max_offset = (std::uint64_t{1} << all_entry2_offset_bits) - 1;
inline constexpr std::uint32_t all_entry2_erased_bit = 0x40000000u;

struct all_entry2 {
  std::uint16_t partition = 0;
  std::uint64_t offset = 0;  // REQUIRES (encode): <= all_entry2_max_offset
  std::uint32_t size = 0;
  bool commit_end = false;
  bool erased = false;
  friend bool operator==(const all_entry2&, const all_entry2&) = default;
};

void encode_all_entry2(const all_entry2& e, mutable_bytes out);
// nullopt if the checksum fails or the size is not a record's.
std::optional<all_entry2> decode_all_entry2(bytes in);

// ---------------------------------------------------------------------------
// Stream index entry (index/<enc>.idx): entry N describes version N.
//   0   u64  offset of the record in the partition
//   8   u64  position of the event in $all
//   16  u32  record size
//   20  u32  masked crc32c of bytes [0, 20)
inline constexpr std::size_t stream_entry_size = 24;

struct stream_entry {
  std::uint64_t offset = 0;
  std::uint64_t position = 0;
  std::uint32_t size = 0;
  friend bool operator==(const stream_entry&, const stream_entry&) = default;
};

void encode_stream_entry(const stream_entry& e, mutable_bytes out);
std::optional<stream_entry> decode_stream_entry(bytes in);

// ---------------------------------------------------------------------------
// Catalog record (index/catalog): stream ids are dense, in creation order.
//   0   u32  length of the record (24 + name_len); 0 = end
//   4   u32  masked crc32c of bytes [8, length)
//   8   u32  stream_id
//   12  u32  kind: 1 = write stream (other values reserved for read streams)
//   16  u64  first_position: $all position of the stream's first event. A record
//            whose first_position is not below the committed end of $all
//            belongs to a flush that never completed: recovery cuts it.
//   24  name bytes
inline constexpr std::size_t catalog_record_header_size = 24;
inline constexpr std::uint32_t catalog_kind_write_stream = 1;

struct catalog_record {
  std::uint32_t stream_id = 0;
  std::uint32_t kind = catalog_kind_write_stream;
  std::uint64_t first_position = 0;
  std::string_view name;
};

std::size_t catalog_record_size(std::size_t name_len);
void encode_catalog_record(const catalog_record& r, mutable_bytes out);
// Returns the record and its size; decode_status::end/truncated/corrupt as for records.
decode_status decode_catalog_record(bytes in, catalog_record& out, std::uint32_t& size);
// The first_position of the first valid catalog record that starts after
// offset `at` of `catalog` (garbage starts at `at`), if any: recovery tells a
// torn tail (no later record, or one of an unacknowledged flush) from damage
// in the middle (a later record of an acknowledged stream) by it.
std::optional<std::uint64_t> first_position_after_damage(bytes catalog, std::uint64_t at);

// ---------------------------------------------------------------------------
// Checkpoint (index/checkpoint): two 64-byte slots, written alternately, the
// valid one with the higher sequence wins. A checkpoint promises that $all
// entries [0, all_count) and everything they point to were completely written
// (and synced, with fsync_on_flush), that the catalog held stream_count
// streams, and that journal replay starts at journal_offset.
//   0   u8[8] magic "EVSCKPT\n"
//   8   u64   sequence
//   16  u64   all_count
//   24  u32   stream_count: catalog records at that point (a shorter catalog is damage)
//   28  u32   reserved, zero
//   32  u64   journal_offset: first journal frame to replay (0: no journal)
//   40  u8[20] reserved, zero
//   60  u32   masked crc32c of bytes [0, 60)
inline constexpr std::size_t checkpoint_slot_size = 64;
inline constexpr std::size_t checkpoint_file_size = 2 * checkpoint_slot_size;

struct checkpoint {
  std::uint64_t sequence = 0;
  std::uint64_t all_count = 0;
  std::uint32_t stream_count = 0;
  std::uint64_t journal_offset = 0;
};

void encode_checkpoint(const checkpoint& c, mutable_bytes out);
std::optional<checkpoint> decode_checkpoint(bytes in);
// The checkpoint a file's two slots hold: the valid one with the higher
// (non-zero) sequence; nullopt if neither slot decodes.
std::optional<checkpoint> decode_checkpoint_file(bytes in);

// ---------------------------------------------------------------------------
// Checkpoint of format 2 (index/checkpoint, docs/format.md): two slots,
// written alternately, the valid one with the higher (non-zero) sequence
// wins. A slot's size depends on the store's partition count P (store.json):
//   0      u8[8]  magic "EVSCKP2\n"
//   8      u64    sequence
//   16     u64    all_count
//   24     u32    partition_count: P (a slot for another count is invalid)
//   28     u32    reserved, zero
//   32     u64    stream_count: streams with an event below all_count
//   40     u64    end[P]: partition p's log end (a logical log offset, at
//                 least 256: everything below it is written and synced)
//   40+8P  u32    masked crc32c of bytes [0, 40+8P)
//   44+8P  u32    reserved, zero
// Slot k (0 or 1) starts at byte k * (48 + 8P); the file is 2 * (48 + 8P)
// bytes (a slot never written is zeros, which never checksum correctly). The
// checkpoint of sequence n goes to slot n % 2 (as in format 1), so writing
// one never overwrites the previous one; a new store's first is sequence 1.
// A checkpoint promises that all.idx entries [0, all_count) and the records
// they point to are durable, and that partition p's log is durable up to
// end[p]. The stream index's manifest records its own covered range.
inline constexpr std::size_t checkpoint2_fixed_size = 48;
inline constexpr std::size_t checkpoint2_slot_size(std::uint32_t partitions) {
  return checkpoint2_fixed_size + 8 * std::size_t{partitions};
}
inline constexpr std::size_t checkpoint2_file_size(std::uint32_t partitions) {
  return 2 * checkpoint2_slot_size(partitions);
}

struct checkpoint2 {
  std::uint64_t sequence = 0;
  std::uint64_t all_count = 0;
  std::uint64_t stream_count = 0;
  std::vector<std::uint64_t> ends;  // one per partition
  friend bool operator==(const checkpoint2&, const checkpoint2&) = default;
};

// REQUIRES: out.size() >= checkpoint2_slot_size(c.ends.size()).
void encode_checkpoint2(const checkpoint2& c, mutable_bytes out);
// The slot at the start of `in` for a store of `partitions` partitions;
// nullopt if it is short, its magic, checksum or partition count is wrong, a
// reserved field is not zero, or its sequence is 0.
std::optional<checkpoint2> decode_checkpoint2(bytes in, std::uint32_t partitions);
// The valid slot of the two with the higher sequence; nullopt if neither decodes.
std::optional<checkpoint2> decode_checkpoint2_file(bytes in, std::uint32_t partitions);

// ---------------------------------------------------------------------------
// Journal (journal.wal), durable mode only: a flush first appends one frame
// holding every byte it is about to write to the other files and fdatasyncs the
// journal alone; the other files are synced at checkpoints. Recovery replays
// the frames after the checkpoint's journal_offset. After the file header:
//   frame := 0   u32 length of the frame (header + ops); 0 = end
//            4   u32 masked crc32c of bytes [8, length)
//            8   u64 first_position: $all position of the frame's first event
//            16  u64 event_count
//            24  u32 op_count
//            28  u32 reserved, zero
//            32  ops
//   op    := 0   u64 offset in the file
//            8   u32 data length
//            12  u16 path length (relative to the store directory)
//            14  u16 flags: bit 0 the file is new (create it, and its directories)
//            16  path bytes, data bytes
// Every frame starts on a journal_frame_alignment boundary (zeros between), so
// a torn write of one frame can never damage an earlier, acknowledged one even
// on disks that may garble a whole sector.
// Frames chain: the first replayed frame starts at the checkpoint's all_count
// and each next one where the previous ended; anything else ends the replay
// (stale frames of an earlier journal cycle, a torn tail).
inline constexpr std::size_t journal_frame_header_size = 32;
// A frame's length is a u32: the writer keeps every frame within this (it
// seals a batch before it would outgrow it and refuses, in durable mode, an
// append that alone would not fit).
inline constexpr std::size_t max_journal_frame_size = std::size_t{1} << 30;
// Upper bound on what one stream adds to a frame besides its records and
// index entries: four ops (16 bytes + a path of at most 640 bytes each) and
// two file headers.
inline constexpr std::size_t journal_stream_overhead = 4096;
inline constexpr std::size_t journal_frame_alignment = 4096;
inline constexpr std::uint64_t journal_align(std::uint64_t n) {
  return (n + journal_frame_alignment - 1) / journal_frame_alignment * journal_frame_alignment;
}
inline constexpr std::size_t journal_op_header_size = 16;
inline constexpr std::uint16_t journal_op_new_file = 1;

struct journal_op {
  std::uint64_t offset = 0;
  std::string_view path;
  bool new_file = false;
  bytes data;
};

// Appends one op to a frame being built (after reserving the frame header).
void append_journal_op(std::vector<std::byte>& frame, const journal_op& op);
// Fills in the header of a frame built with append_journal_op.
void seal_journal_frame(std::vector<std::byte>& frame, std::uint64_t first_position,
                        std::uint64_t event_count, std::uint32_t op_count);

struct journal_frame {
  std::uint32_t size = 0;
  std::uint64_t first_position = 0;
  std::uint64_t event_count = 0;
  std::vector<journal_op> ops;  // views into the decoded buffer
};
decode_status decode_journal_frame(bytes in, journal_frame& out);
// The length field of the frame starting at `in` (0 if fewer than 4 bytes).
std::uint32_t peek_journal_frame_size(bytes in);

// ---------------------------------------------------------------------------
// Published head (index/head), rewritten in place by the writer after every
// flush, once its events are acknowledged (after the fsync in durable mode):
//   0   u8[8] magic "EVSHEAD\n"
//   8   u64   published count of $all
//   16  u32   reserved, zero
//   20  u32   masked crc32c of bytes [0, 20)
// A read-only follower never publishes past it, so it cannot show an event
// the writer has not acknowledged (one a power loss could still take back).
inline constexpr std::size_t head_size = 24;
void encode_head(std::uint64_t count, mutable_bytes out);
std::optional<std::uint64_t> decode_head(bytes in);

// ---------------------------------------------------------------------------
// Link index (links/<enc>.lnk): the entries of a read stream or system stream
// ($ce-<category>, $et-<type>), derived from $all by the store's indexer.
// After the file header (kind link_index, entry_size 16, the stream's name):
//   entry N := 0   u64  position in $all of the read stream's event N
//              8   u32  reserved, zero
//              12  u32  masked crc32c of bytes [0, 12)
// Positions strictly increase. Link files are derived data: they are complete
// for every position below the indexer's progress (links/progress) and cut
// back to it before the indexer writes again.
inline constexpr std::size_t link_entry_size = 16;
void encode_link_entry(std::uint64_t position, mutable_bytes out);
std::optional<std::uint64_t> decode_link_entry(bytes in);

// Indexer progress (links/progress), rewritten in place after the link files
// it covers are written (and synced, in durable mode):
//   0   u8[8] magic "EVSLINK\n"
//   8   u64   progress: every link is complete for $all positions below it
//   16  u32   reserved, zero
//   20  u32   masked crc32c of bytes [0, 20)
// Missing or damaged: progress 0 (every link is rebuilt from $all).
inline constexpr std::size_t link_progress_size = 24;
void encode_link_progress(std::uint64_t progress, mutable_bytes out);
std::optional<std::uint64_t> decode_link_progress(bytes in);

// ---------------------------------------------------------------------------
// Consumer checkpoint (<consumer dir>/<enc stream>/<enc name>.consumer): the
// durable position and state of one consumer, replaced as a whole by writing
// a temporary file, fsyncing it, renaming it over the old one and fsyncing the
// directory, so a crash leaves the old pair or the new one, never a mix.
//   0   u8[8] magic "EVSCONS\n"
//   8   u32   format_version
//   12  u32   state_len
//   16  u64   position: the next event number to deliver (one past the last handled)
//   24  u32   reserved, zero
//   28  u32   masked crc32c of bytes [0, 28) followed by the state bytes
//   32  state: JSON text (state_len bytes; empty: no state)
inline constexpr std::size_t consumer_header_size = 32;
struct consumer_checkpoint {
  std::uint64_t position = 0;
  std::string_view state;
};
std::vector<std::byte> encode_consumer_checkpoint(const consumer_checkpoint& c);
// nullopt if the magic, version, length or checksum is wrong; views point into `in`.
std::optional<consumer_checkpoint> decode_consumer_checkpoint(bytes in);

// ---------------------------------------------------------------------------
// Little-endian helpers shared by the encoders.
inline void put_u16(std::byte* p, std::uint16_t v) {
  boost::endian::store_little_u16(reinterpret_cast<unsigned char*>(p), v);
}
inline void put_u32(std::byte* p, std::uint32_t v) {
  boost::endian::store_little_u32(reinterpret_cast<unsigned char*>(p), v);
}
inline void put_u64(std::byte* p, std::uint64_t v) {
  boost::endian::store_little_u64(reinterpret_cast<unsigned char*>(p), v);
}
inline std::uint16_t get_u16(const std::byte* p) {
  return boost::endian::load_little_u16(reinterpret_cast<const unsigned char*>(p));
}
inline std::uint32_t get_u32(const std::byte* p) {
  return boost::endian::load_little_u32(reinterpret_cast<const unsigned char*>(p));
}
inline std::uint64_t get_u64(const std::byte* p) {
  return boost::endian::load_little_u64(reinterpret_cast<const unsigned char*>(p));
}

}  // namespace evstore::detail::format
