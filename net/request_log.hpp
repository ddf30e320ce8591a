// evstored's request log: one structured line per request (method, path
// without the query, status, duration), never headers, bodies or tokens.
// Every line starts with its time, RFC 3339 in UTC with milliseconds
// ("2026-11-30T20:19:06.123Z evstored method=GET ...").
// Lines are gathered and written to stderr once per turn of the network loop
// (or when 64 KiB are waiting), not with a write(2) per request.
//
// Writing never blocks: a pipe or terminal on stderr is written through its
// own non-blocking open file description (a socket with MSG_DONTWAIT), so a
// reader that stops reading costs log lines (counted in dropped()), never the
// network loop. What the pipe does not take waits, up to 1 MiB, for the next
// flush; lines beyond that are dropped whole.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace evstore::net {

class request_log {
 public:
  request_log() = default;
  request_log(const request_log&) = delete;
  request_log& operator=(const request_log&) = delete;
  ~request_log() { flush(); }

  // Thread-safe. Returns true when the caller should arrange a flush() soon
  // (no flush is asked for since the last one).
  bool add(std::string_view method, std::string_view path, unsigned status,
           std::chrono::steady_clock::duration took);
  // A connection's unexpected end ("evstored error=tls_handshake peer=... message=..."),
  // gathered as add()'s lines are; returns as add() does. Thread-safe.
  bool add_error(std::string_view what, std::string_view peer, std::string_view message);
  // A free-form line ("evstored: ...\n"), after the time, written at once if
  // stderr takes it. Thread-safe.
  void note(std::string_view line);
  // Writes what is gathered, as much as stderr takes now. Thread-safe.
  void flush();
  // Lines dropped because stderr did not take them.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  bool append_locked(std::string_view line);
  void write_locked();

  std::mutex mutex_;
  std::string pending_;
  bool flush_asked_ = false;
  std::atomic<std::uint64_t> dropped_{0};
};

// Writes to stderr without blocking (see above); returns the bytes written.
std::size_t write_stderr_nowait(std::string_view s);

// "2026-11-30T20:19:06.123Z ": the time every log line starts with (RFC 3339,
// UTC, milliseconds), followed by a space.
std::string log_timestamp(std::chrono::system_clock::time_point t = std::chrono::system_clock::now());

// `line` (ending in '\n') after the time, to stderr without blocking: the
// lines evstored writes outside the request log (start, stop, failures).
void log_line_nowait(std::string_view line);

}  // namespace evstore::net
