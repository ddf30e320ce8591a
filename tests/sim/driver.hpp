// Runs one seed: owns the in-memory disk, the writer, a follower, the
// subscriptions, and the order in which all of them take their steps.
//
// Determinism: the writer's executor is an io_context that only this thread
// runs (run_one/poll). The engine's own threads are made to wait for: the
// durable flush's I/O thread (the driver runs the writer's executor until the
// step's completions arrived; EVSTORE_SERIAL_IO makes the flush's file
// operations one sequence), the indexer's background thread (the driver waits
// until its progress reaches the event count before the next step), and the
// consumers' commits (waited for like appends). The follower has follow=false
// and moves only on refresh(). So every fault lands on the same operation and
// every answer is the same on each run of a seed.
//
// Parts: driver.cpp (the step loop, the writer's lifecycle, settling and
// reconciling after a reopen), driver_writes.cpp (appends, retries, consumers,
// read streams), driver_subs.cpp (subscriptions), driver_links.cpp (close
// during a back-fill), driver_follower.cpp, driver_backup.cpp.
#pragma once

#include "faults.hpp"
#include "hooked_executor.hpp"
#include "model.hpp"
#include "options.hpp"
#include "random.hpp"
#include "read_fault_file_system.hpp"
#include "trace.hpp"
#include "workload.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace evstore::sim {

using testing::fault_injecting_file_system;

// The seed and step running now: main's terminate handler reports them when
// the engine kills the process (an exception on one of its threads).
inline std::atomic<std::uint64_t> current_seed{0}, current_step{0};

struct run_result {
  std::uint64_t ops = 0;
  std::uint64_t crashes = 0;  // kills and power losses
  std::uint64_t faults = 0;   // injected errors that fired
  std::uint64_t steps = 0;    // steps run (the failing one, if any)
  std::optional<std::string> violation;
  std::uint64_t hash = 0;
};

class driver {
 public:
  driver(const options& o, std::uint64_t seed);
  ~driver();
  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  run_result run();

 private:
  static constexpr const char* directory = "/sim/store";

  // --- driver.cpp
  void step(op_kind k);
  store_options writer_options();
  void open_writer();
  void close_writer();
  void kill_writer(bool power_loss);
  void drop_writer();
  void reconcile();
  // Runs the writer's executor until done() (or a deadline: a violation).
  void drive(const std::function<bool()>& done, const std::string& what);
  // Runs the writer's completions queued now, and those they queue, without
  // waiting for more (cancelled subscriptions, the engine's last references).
  void run_queued();
  // Lets the engine's threads finish what the step started: the indexer up to
  // the event count, every read stream built, completions run.
  void settle();
  void check();
  void arm(const fault_plan& f);
  // Disarms; true if the armed fault fired.
  bool disarm(const fault_plan& f, std::uint64_t ops_before);
  // Runs `body` (which issues an operation and waits for it) with `f` armed,
  // settles, disarms; after a crash fault the writer is killed (and, durable,
  // the power may go too).
  void with_fault(const fault_plan& f, const std::function<void()>& body);

  // --- driver_writes.cpp
  void append_step(std::vector<append_request> requests, const fault_plan& f);
  void nested_append(const std::string& stream);
  void read_with_fault();
  void consumer_step(const fault_plan& f);
  void create_read_stream(const fault_plan& f);
  void delete_read_stream(const fault_plan& f);

  // --- driver_subs.cpp
  struct live_subscription;
  void subscribe();
  void resubscribe();
  void finish_subscriptions();
  void delivered(live_subscription& s, boost::system::error_code ec, const subscription_batch& b);
  void await_end(live_subscription& s, const std::string& what);
  void arm_churn();
  void settle_churn();
  void end_subscriptions_of(const std::string& name);
  void expect_not_told_deleted(const std::string& name);

  // --- driver_links.cpp
  void close_during_backfill();
  // The indexer stopped: a violation unless an injected fault may have stopped it.
  void indexer_stopped(const boost::system::error_code& ec);

  // --- driver_follower.cpp
  void follower_open();
  void follower_refresh();
  void follower_read();
  void follower_race();
  void check_follower_links();

  // --- driver_backup.cpp
  void backup();

  struct live_subscription {
    std::string stream;
    std::optional<subscription> sub;
    std::uint64_t next = 0;  // the sequence the next delivered event must have
    bool pending = false;    // a next() whose handler has not run
    bool hooked = false;     // on hooked_executor: sub-churn may destroy it at any point
    bool callback = false;   // the callback form (store::subscribe with on_batch)
    bool churned = false;    // destroyed or cancelled by sub-churn
    bool deleted = false;    // its read stream was deleted
    bool ended = false;      // an error ended it (its last handler call)
    boost::system::error_code end;
  };
  void pull(live_subscription& s);

  const options& options_;
  std::uint64_t seed_;
  rng rng_;
  trace trace_;
  model model_;
  run_result result_;
  std::uint64_t step_ = 0;

  // Per seed: durability mode and store tuning.
  bool fsync_ = false;
  std::uint64_t checkpoint_interval_ = 0;
  std::size_t max_open_files_ = 0;
  std::size_t writer_stream_cache_ = 0;
  std::size_t index_cache_bytes_ = 0;

  std::shared_ptr<memory_file_system> disk_;
  std::shared_ptr<fault_injecting_file_system> write_faults_;
  std::shared_ptr<read_fault_file_system> writer_fs_;
  std::shared_ptr<read_fault_file_system> follower_fs_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::io_context follower_io_;

  std::optional<store> writer_;
  bool writer_failed_ = false;  // an I/O error: restart before trusting it again
  bool indexer_failed_ = false;
  std::optional<store> follower_;
  std::set<std::string> follower_loaded_;  // streams this follower instance has read
  std::vector<std::unique_ptr<live_subscription>> subs_;
  execute_hook hook_;
  std::string deleting_;  // the read stream a delete_read_stream is under way for
  bool fault_armed_ = false;
  bool fault_fired_since_open_ = false;  // an injected fault is armed: an indexer error may be its doing
  std::vector<append_request> failed_requests_;  // for retries
  std::uint64_t nonce_ = 0;
  int nesting_ = 0;  // appends nested in a backup's or a follower load's callback
};

}  // namespace evstore::sim
