#include "index/group_cursor.hpp"

#include "io/file_error.hpp"

namespace evstore::detail {

result<bool> run_cursor::advance() {
  if (started_ && group_ + 1 < block_.groups.size()) {
    ++group_;
    return true;
  }
  if (next_block_ == run_->block_count()) return false;
  if (started_) {
    const run_format::run_group& last = block_.groups.back();
    last_hash_ = last.key.hash;
    last_name_ = std::string(last.key.name);
    last_version_ = last.key.first_version;
  }
  if (auto r = run_->read_block(next_block_, block_); !r) return r.error();
  if (started_ && !(stream_key_view{last_hash_, last_name_, last_version_} < block_.groups.front().key))
    return corruption_at("block keys out of order", run_->path(), 0);
  ++next_block_;
  group_ = 0;
  started_ = true;
  return true;
}

group_ref run_cursor::current() const {
  const run_format::run_group& g = block_.groups[group_];
  return {g.key, block_.positions_of(g)};
}

result<bool> memtable_cursor::advance() { return ++next_ <= sorted_.size(); }

group_ref memtable_cursor::current() const {
  const stream_memtable::value_type& v = *sorted_[next_ - 1];
  return {{v.first.hash, v.first.name, v.second.first_version},
          {v.second.positions.data(), v.second.positions.size()}};
}

result<void> continuity_check::next(const group_ref& g, const std::string& source) {
  const bool same = started_ && g.key.hash == hash_ && g.key.name == name_;
  if (same && g.key.first_version != end_version_)
    return error(errc::corrupt_data, "stream index: versions of stream " + name_ + " end at " +
                                         std::to_string(end_version_) + " in " + source_ +
                                         " but continue at " + std::to_string(g.key.first_version) + " in " +
                                         source);
  if (same && g.positions.front() <= last_position_)
    return error(errc::corrupt_data, "stream index: positions of stream " + name_ + " go back between " +
                                         source_ + " and " + source);
  if (!same) {
    hash_ = g.key.hash;
    name_ = std::string(g.key.name);
    ++streams_;
  }
  if (source_ != source) source_ = source;
  started_ = true;
  end_version_ = g.key.first_version + g.positions.size();
  last_position_ = g.positions.back();
  events_ += g.positions.size();
  return {};
}

}  // namespace evstore::detail
