#include "model.hpp"

#include <algorithm>
#include <set>

namespace evstore::sim {
namespace {

bool expected_matches(expected_version e, std::uint64_t count) {
  switch (e.which()) {
    case expected_version::kind::any: return true;
    case expected_version::kind::no_stream: return count == 0;
    case expected_version::kind::stream_exists: return count > 0;
    case expected_version::kind::exact: return count > 0 && count - 1 == e.version();
  }
  return false;
}

std::string_view stored_data(const sim_event& e) {
  return e.data.empty() ? std::string_view("null") : e.data;
}

// A retry repeats the events: their ids and what they say.
bool same_events(const std::vector<sim_event>& a, const std::vector<sim_event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].id || !b[i].id || *a[i].id != *b[i].id) return false;
    if (a[i].type != b[i].type || stored_data(a[i]) != stored_data(b[i]) || a[i].metadata != b[i].metadata)
      return false;
  }
  return true;
}

}  // namespace

bool reference_match(const filter& f, const sim_event& e) {
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), e.type) == f.types.end()) return false;
  if (!e.stream.starts_with(f.stream_prefix)) return false;
  for (const auto& c : f.fields) {
    const auto& fields = c.in_metadata ? e.metadata_fields : e.fields;
    const auto it = fields.find(c.pointer);
    if (it == fields.end() || it->second != c.value) return false;
  }
  return true;
}

std::optional<std::string> category_of(std::string_view stream) {
  const auto dash = stream.find('-');
  if (dash == std::string_view::npos || dash == 0 || stream.starts_with('$')) return std::nullopt;
  return std::string(stream.substr(0, dash));
}

std::vector<std::string> model::system_streams() const {
  std::set<std::string> names;
  for (const auto& e : all_) {
    if (auto c = category_of(e.event.stream)) names.insert("$ce-" + *c);
    names.insert("$et-" + e.event.type);
  }
  return {names.begin(), names.end()};
}

std::uint64_t model::count(std::string_view stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? 0 : it->second.size();
}

prediction model::predict(const append_request& r) const {
  prediction p;
  p.result.expected = r.expected;
  if (writer_failed) {
    p.what = outcome::store_failed;
    return p;
  }
  const std::uint64_t n = count(r.stream);
  if (n > 0) p.result.actual = n - 1;
  // A retry: the events of a recent commit of the same stream, within the window.
  if (n > 0 && r.events.front().id) {
    for (const commit& c : commits_) {
      if (c.request.stream != r.stream || !same_events(c.request.events, r.events)) continue;
      if (c.first_version + retry_window < n) continue;
      p.what = outcome::duplicate;
      p.result.first_version = c.first_version;
      p.result.version = c.first_version + r.events.size() - 1;
      p.result.first_position = c.first_position;
      p.result.position = c.first_position + r.events.size() - 1;  // one append is contiguous in $all
      p.result.created_stream = c.first_version == 0;
      p.result.duplicate = true;
      return p;
    }
  }
  // Not a retry, but an id of one of the stream's last retry_window events:
  // refused (duplicate_event_id), as it would store that id twice.
  if (n > 0) {
    const auto& versions = streams_.at(std::string(r.stream));
    const std::uint64_t from = n > retry_window ? n - retry_window : 0;
    for (const sim_event& e : r.events) {
      if (!e.id) continue;
      for (std::uint64_t v = from; v < n; ++v) {
        if (all_[versions[v]].event.id == e.id) {
          p.what = outcome::id_taken;
          return p;
        }
      }
    }
  }
  if (!expected_matches(r.expected, n)) {
    p.what = outcome::conflict;
    return p;
  }
  p.what = outcome::written;
  p.result.first_version = n;
  p.result.version = n + r.events.size() - 1;
  p.result.first_position = all_.size();
  p.result.position = all_.size() + r.events.size() - 1;
  p.result.created_stream = n == 0;
  p.result.actual = p.result.version;
  return p;
}

void model::apply(const append_request& r) {
  auto& positions = streams_[r.stream];
  if (positions.empty()) order_.push_back(r.stream);
  const std::uint64_t first_version = positions.size();
  const std::uint64_t first_position = all_.size();
  for (const sim_event& e : r.events) {
    positions.push_back(all_.size());
    all_.push_back({e, positions.size() - 1, all_.size()});
  }
  append_ends_.push_back(all_.size());
  if (r.events.front().id) commits_.push_back({r, first_version, first_position});
}

void model::rollback(mark m) {
  while (all_.size() > m.all) {
    auto it = streams_.find(all_.back().event.stream);
    it->second.pop_back();
    if (it->second.empty()) streams_.erase(it);
    all_.pop_back();
  }
  while (!append_ends_.empty() && append_ends_.back() > m.all) append_ends_.pop_back();
  commits_.resize(m.commits);
  order_.resize(m.order);
}

bool model::append_boundary(std::uint64_t n) const {
  return n == 0 || std::binary_search(append_ends_.begin(), append_ends_.end(), n);
}

std::vector<std::uint64_t> model::positions(std::string_view stream) const {
  std::vector<std::uint64_t> out;
  if (stream == "$all") {
    for (const auto& e : all_) out.push_back(e.position);
  } else if (stream.starts_with("$ce-")) {
    for (const auto& e : all_) {
      if (category_of(e.event.stream) == stream.substr(4)) out.push_back(e.position);
    }
  } else if (stream.starts_with("$et-")) {
    for (const auto& e : all_) {
      if (e.event.type == stream.substr(4)) out.push_back(e.position);
    }
  } else if (auto rs = read_streams.find(stream); rs != read_streams.end()) {
    for (const auto& e : all_) {
      if (reference_match(rs->second, e.event)) out.push_back(e.position);
    }
  } else if (auto it = streams_.find(stream); it != streams_.end()) {
    out = it->second;
  }
  return out;
}

}  // namespace evstore::sim
