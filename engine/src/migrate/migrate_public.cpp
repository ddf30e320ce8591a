// evstore::migrate_store (include/evstore/migrate.hpp) over the engine's
// migrate_store (migrate/migrate_store.hpp).
#include "migrate/migrate_store.hpp"
#include <evstore/migrate.hpp>

namespace evstore {

result<migrate_report> migrate_store(const std::string& directory, const migrate_options& options) {
  auto fs = options.file_system ? options.file_system : posix_file_system();
  detail::migrate::migrate_options o;
  o.store.partitions = options.partitions;
  o.store.segment_size = options.segment_size;
  auto done = detail::migrate::migrate_store(fs, directory, o);
  if (!done) return done.error();
  migrate_report r;
  r.migrated = done->migrated_now;
  r.events = done->events;
  r.read_streams = done->read_streams;
  r.consumers = done->consumers;
  r.left_out = done->left_out.events;
  r.left_out_reason = done->left_out.reason;
  r.backup = done->backup;
  return r;
}

}  // namespace evstore
