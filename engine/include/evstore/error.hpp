// Error codes at the engine boundary.
//
// Every fallible engine call reports a boost::system::error_code from the
// evstore category (or the OS's own code for I/O failures). Synchronous calls
// return evstore::result<T>, whose error also carries a human-readable detail
// (for corruption: the file and byte offset).
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <system_error>

namespace evstore {

enum class errc {
  ok = 0,
  wrong_expected_version = 1,  // the stream is not at the version the append expected
  stream_not_found,            // read of a stream that has no events
  stream_deleted,       // a read of a deleted stream (store::delete_stream) or of a deleted read stream
  invalid_stream_name,  // empty, too long, not UTF-8, control chars, '/', '\', ".", "..", "$" prefix on
                        // append
  invalid_event,        // empty/too-long type, data or metadata not JSON, event too large, empty append
  corrupt_data,         // a checksum or structure check failed; the range is not served
  store_locked,         // another process holds the store's LOCK
  read_only,            // a write on a store opened read-only
  store_failed,         // an earlier write or fsync failed; the store no longer acknowledges appends
  store_closed,         // the store was closed
  format_mismatch,      // the directory holds a store of an unknown format version
  invalid_argument,     // an option or parameter is out of range
  consumer_busy,        // another live instance (this or another process) holds the consumer
  read_stream_exists,   // create_read_stream with a name in use by another definition or a write stream
  duplicate_event_id,   // an id of the append is a recent event's, but the append is not a retry of that
                        // append
  refused,              // the application's before_append or before_read hook refused (store_options)
  stream_tombstoned,    // a write to a stream deleted for good (store::delete_stream with hard)
};

const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// The error of a synchronous call: a code to branch on plus a detail for people
// (never parsed by programs).
struct error {
  boost::system::error_code code;
  std::string detail;

  error() = default;
  error(boost::system::error_code c, std::string d = {}) : code(c), detail(std::move(d)) {}
  error(errc e, std::string d = {}) : code(make_error_code(e)), detail(std::move(d)) {}

  // "corrupt_data: checksum mismatch in streams/cart-1.evs at offset 4096"
  std::string message() const;
};

// What a failed asynchronous operation throws with boost::asio::use_future
// and boost::asio::use_awaitable (see completion.hpp): a system_error whose
// code() is the operation's error, with the detail for people. what() is
// "<detail>: <code's message>".
class operation_error : public boost::system::system_error {
 public:
  operation_error(boost::system::error_code ec, std::string detail)
      : boost::system::system_error(ec, detail), detail_(std::move(detail)) {}
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

// Lets boost::system::result<T, error>::value() throw a system_error.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

}  // namespace evstore

namespace boost::system {
template <>
struct is_error_code_enum<evstore::errc> : std::true_type {};
}  // namespace boost::system
