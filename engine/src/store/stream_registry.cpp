#include "store/stream_registry.hpp"

#include "require.hpp"
#include "store/test_hooks.hpp"

#include <stdexcept>

namespace evstore::detail {

stream_registry::stream_registry() = default;

stream_registry::~stream_registry() {
  const std::uint32_t n = count_.load();
  for (std::uint32_t id = 0; id < n; ++id) delete by_id(id);
  for (auto& c : chunks_) delete[] c.load();
}

stream_state* stream_registry::find(std::string_view name) const {
  std::shared_lock lock(names_mutex_);
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : it->second;
}

stream_state* stream_registry::by_id(std::uint32_t id) const {
  if (id >= count_.load(std::memory_order_acquire)) return nullptr;
  slot* chunk = chunks_[id >> chunk_bits].load(std::memory_order_acquire);
  return chunk[id & (chunk_size - 1)].load(std::memory_order_acquire);
}

stream_state* stream_registry::add(std::string name, std::string partition_path, std::string index_path) {
  auto state = std::make_unique<stream_state>();
  state->name = std::move(name);
  state->partition_path = std::move(partition_path);
  state->index_path = std::move(index_path);
  return add(std::move(state));
}

stream_state* stream_registry::add(std::unique_ptr<stream_state> state) {
  EVSTORE_REQUIRE(find(state->name) == nullptr);
  const std::uint32_t id = count_.load(std::memory_order_relaxed);
  if ((id >> chunk_bits) >= max_chunks) throw std::length_error("evstore: too many streams");
  state->id = id;
  stream_state* raw = state.release();

  auto& chunk_slot = chunks_[id >> chunk_bits];
  slot* chunk = chunk_slot.load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = new slot[chunk_size]();
    chunk_slot.store(chunk, std::memory_order_release);
  }
  chunk[id & (chunk_size - 1)].store(raw, std::memory_order_release);
  {
    std::unique_lock lock(names_mutex_);
    names_.emplace(raw->name, raw);
  }
  EVSTORE_TEST_POINT("stream_registry.add.named");
  // Publish the id last: by_id() readers never see a half-built slot.
  count_.store(id + 1, std::memory_order_release);
  return raw;
}

void stream_registry::forget(std::uint32_t count) {
  std::unique_lock lock(names_mutex_);
  for (std::uint32_t id = count_.load(); id-- > count;) {
    stream_state* s = by_id(id);
    names_.erase(s->name);
    forgotten_.emplace_back(s);
    count_.store(id, std::memory_order_release);
  }
}

void stream_registry::truncate(std::uint32_t count) {
  std::unique_lock lock(names_mutex_);
  for (std::uint32_t id = count_.load(); id-- > count;) {
    stream_state* s = by_id(id);
    names_.erase(s->name);
    chunks_[id >> chunk_bits].load()[id & (chunk_size - 1)].store(nullptr, std::memory_order_release);
    delete s;
    count_.store(id, std::memory_order_release);
  }
}

}  // namespace evstore::detail
