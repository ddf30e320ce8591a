#include "scavenge_job.hpp"

namespace evstore::http {
namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

scavenge_job::~scavenge_job() {
  std::list<job_thread> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(threads_);
  }
  for (auto& t : all) t.thread.join();
}

void scavenge_job::reap() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->done) {
      it->thread.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void scavenge_job::spawn(std::function<void()> work) {
  reap();
  job_thread& slot = threads_.emplace_back();
  slot.thread = std::thread([this, &slot, work = std::move(work)] {
    work();
    std::lock_guard lock(mutex_);
    slot.done = true;
  });
}

bool scavenge_job::start() {
  std::lock_guard lock(mutex_);
  if (running_) return false;
  running_ = true;
  started_at_ = now_ms();
  finished_at_.reset();
  streams_done_ = streams_total_ = 0;
  report_ = {};
  error_.clear();
  spawn([this] {
    auto r = store_.scavenge({.progress = [this](std::uint64_t done, std::uint64_t total) {
      std::lock_guard progress_lock(mutex_);
      streams_done_ = done;
      streams_total_ = total;
    }});
    std::lock_guard done_lock(mutex_);
    running_ = false;
    finished_at_ = now_ms();
    if (r) {
      report_ = *r;
    } else {
      error_ = r.error().message();
    }
  });
  return true;
}

void scavenge_job::erase(std::string stream, std::function<void(result<scavenge_report>)> finished) {
  std::lock_guard lock(mutex_);
  spawn([this, stream = std::move(stream), finished = std::move(finished)] {
    finished(store_.scavenge({.stream = stream}));
  });
}

boost::json::object scavenge_job::status() const {
  std::lock_guard lock(mutex_);
  boost::json::object o;
  o["running"] = running_;
  o["startedAt"] = started_at_ ? boost::json::value(*started_at_) : boost::json::value(nullptr);
  o["finishedAt"] = finished_at_ ? boost::json::value(*finished_at_) : boost::json::value(nullptr);
  o["streamsDone"] = streams_done_;
  o["streamsTotal"] = streams_total_;
  o["eventsErased"] = report_.events_erased;
  o["bytesErased"] = report_.bytes_erased;
  o["bytesReleased"] = report_.bytes_released;
  o["error"] = error_.empty() ? boost::json::value(nullptr) : boost::json::value(error_);
  return o;
}

}  // namespace evstore::http
