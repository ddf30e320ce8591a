#include <evstore/error.hpp>
#include <evstore/types.hpp>

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace evstore {
namespace {

class evstore_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "evstore"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "ok";
      case errc::wrong_expected_version: return "wrong_expected_version";
      case errc::stream_not_found: return "stream_not_found";
      case errc::stream_deleted: return "stream_deleted";
      case errc::invalid_stream_name: return "invalid_stream_name";
      case errc::invalid_event: return "invalid_event";
      case errc::corrupt_data: return "corrupt_data";
      case errc::store_locked: return "store_locked";
      case errc::read_only: return "read_only";
      case errc::store_failed: return "store_failed";
      case errc::store_closed: return "store_closed";
      case errc::format_mismatch: return "format_mismatch";
      case errc::invalid_argument: return "invalid_argument";
      case errc::consumer_busy: return "consumer_busy";
      case errc::read_stream_exists: return "read_stream_exists";
      case errc::duplicate_event_id: return "duplicate_event_id";
      case errc::refused: return "refused";
      case errc::stream_tombstoned: return "stream_tombstoned";
    }
    return "unknown evstore error";
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const evstore_category instance;
  return instance;
}

std::string error::message() const {
  std::string m = code.message();
  if (!detail.empty()) {
    m += ": ";
    m += detail;
  }
  return m;
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(e.code, e.detail), loc);
}

std::string to_string(expected_version e) {
  switch (e.which()) {
    case expected_version::kind::any: return "any";
    case expected_version::kind::no_stream: return "no_stream";
    case expected_version::kind::stream_exists: return "stream_exists";
    case expected_version::kind::exact: return std::to_string(e.version());
  }
  return "?";
}

}  // namespace evstore
