// GET /metrics (api::metrics, api.hpp): the store's statistics and the
// server's counters in the Prometheus text format.
#include "api.hpp"

#include <charconv>
#include <string>
#include <string_view>

namespace evstore::http {
namespace {

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::string_view value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += value;
  out += '\n';
}

void counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t v) {
  metric(out, name, "counter", help, std::to_string(v));
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::uint64_t v) {
  metric(out, name, "gauge", help, std::to_string(v));
}

void flush_duration_histogram(std::string& out, const store_statistics& st) {
  out +=
      "# HELP evstore_flush_duration_seconds Duration of flushes (write, and fsync in durable mode).\n"
      "# TYPE evstore_flush_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < st.flush_duration_counts.size(); ++i) {
    cumulative += st.flush_duration_counts[i];
    std::string le = "+Inf";
    if (i < store_statistics::flush_duration_bounds_ns.size()) {
      char buf[32];
      const double seconds = static_cast<double>(store_statistics::flush_duration_bounds_ns[i]) / 1e9;
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seconds, std::chars_format::fixed);
      le.assign(buf, ec == std::errc{} ? end : buf);
    }
    out += "evstore_flush_duration_seconds_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += "evstore_flush_duration_seconds_sum " +
         std::to_string(static_cast<double>(st.flush_nanoseconds) / 1e9) + "\n";
  out += "evstore_flush_duration_seconds_count " + std::to_string(cumulative) + "\n";
}

void store_metrics(std::string& out, const store& s, const store_statistics& st) {
  counter(out, "evstore_appends_total", "Acknowledged appends.", st.appends);
  counter(out, "evstore_events_written_total", "Events written by this process.", st.events);
  counter(out, "evstore_bytes_written_total", "Partition bytes written by this process.", st.bytes);
  counter(out, "evstore_flushes_total", "Flushes of per-tick batches.", st.flushes);
  counter(out, "evstore_fsyncs_total", "fdatasync calls.", st.fsyncs);
  flush_duration_histogram(out, st);
  gauge(out, "evstore_events", "Events in the store ($all).", s.event_count());
  gauge(out, "evstore_indexed_events", "Events linked into read and system streams.", st.indexed);
  gauge(out, "evstore_indexer_failed", "1 if the indexer has failed (see /health), else 0.",
        st.indexer_error ? 1 : 0);
  gauge(out, "evstore_failed_links", "Read and system streams that failed alone (reads of them fail).",
        st.failed_links);
  gauge(out, "evstore_index_cache_bytes", "Bytes of decoded stream-index blocks held in memory.",
        st.index_cache_bytes);
  counter(out, "evstore_index_cache_hits_total", "Stream-index lookups that found their block in memory.",
          st.index_cache_hits);
  counter(out, "evstore_index_cache_misses_total", "Stream-index lookups that read their block from disk.",
          st.index_cache_misses);
}

void server_gauges(std::string& out, const server_metrics& m) {
  gauge(out, "evstore_subscribers", "Live WebSocket and SSE subscribers.", m.subscribers.load());
  gauge(out, "evstore_connections", "Open HTTP connections.", m.connections.load());
  gauge(out, "evstore_send_queue_bytes", "Bytes queued for WebSocket and SSE clients.",
        m.send_queue_bytes.load());
  gauge(out, "evstore_send_queue_peak_bytes", "The most bytes one WebSocket or SSE client had queued.",
        m.send_queue_peak_bytes.load());
  gauge(out, "evstore_consumer_commits_in_flight",
        "WebSocket consumer acks being committed (one per session at most).",
        m.consumer_commits_in_flight.load());
  gauge(out, "evstore_consumer_commits_in_flight_peak", "The most WebSocket consumer acks committed at once.",
        m.consumer_commits_in_flight_peak.load());
}

void server_counters(std::string& out, const server_metrics& m) {
  counter(out, "evstore_http_rejected_connections_total", "Connections refused at the connection limit.",
          m.rejected_connections.load());
  counter(out, "evstore_http_accept_errors_total",
          "Failed accepts (out of descriptors, ...), retried after a backoff.", m.accept_errors.load());
  counter(out, "evstore_log_lines_dropped_total", "Request log lines lost because stderr did not take them.",
          m.log_lines_dropped ? m.log_lines_dropped() : 0);
  out +=
      "# HELP evstore_http_responses_total HTTP responses by status code.\n# TYPE "
      "evstore_http_responses_total counter\n";
  for (std::size_t code = 100; code < m.responses_by_status.size(); ++code) {
    if (const auto n = m.responses_by_status[code].load()) {
      out +=
          "evstore_http_responses_total{code=\"" + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
    }
  }
}

}  // namespace

api_response api::metrics() const {
  std::string out;
  store_metrics(out, store_, store_.statistics());
  server_gauges(out, metrics_);
  server_counters(out, metrics_);
  api_response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace evstore::http
