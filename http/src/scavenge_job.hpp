// Scavenges started over HTTP (POST /admin/scavenge, DELETE /streams/{s}?erase=true),
// each on a thread of its own: store::scavenge blocks its caller, and the
// server's threads must not wait on a disk-bound job.
//
// At most one store-wide scavenge runs; its progress is what GET
// /admin/scavenge shows. An erase runs its own scavenge of one stream (the
// store runs one scavenge at a time: an erase started during a store-wide
// one waits for it). The destructor waits for every job.
#pragma once

#include <evstore/store.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace evstore::http {

class scavenge_job {
 public:
  explicit scavenge_job(store& s) : store_(s) {}
  ~scavenge_job();
  scavenge_job(const scavenge_job&) = delete;
  scavenge_job& operator=(const scavenge_job&) = delete;

  // Starts a store-wide scavenge; false if one is running.
  bool start();
  // Scavenges `stream` and calls `finished` with the result, on the job's thread.
  void erase(std::string stream, std::function<void(result<scavenge_report>)> finished);
  // {"running", "startedAt", "finishedAt", "streamsDone", "streamsTotal",
  //  "eventsErased", "bytesErased", "bytesReleased", "error"} of the last
  // store-wide scavenge (times in unix ms, null when not yet).
  boost::json::object status() const;

 private:
  // A finished thread's object is dropped when the next job starts.
  void reap();
  // Runs `work` on a new thread. REQUIRES: mutex_ held.
  void spawn(std::function<void()> work);

  store& store_;
  mutable std::mutex mutex_;
  struct job_thread {
    std::thread thread;
    bool done = false;
  };
  std::list<job_thread> threads_;  // mutex_
  // The store-wide scavenge (mutex_).
  bool running_ = false;
  std::optional<std::int64_t> started_at_, finished_at_;
  std::uint64_t streams_done_ = 0, streams_total_ = 0;
  scavenge_report report_;
  std::string error_;
};

}  // namespace evstore::http
