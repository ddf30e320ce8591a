// The store's side of durable consumers (consumer.cpp): opening one, and
// reading checkpoints without opening (state lookups, listing).
#pragma once

#include <evstore/consumer.hpp>
#include <evstore/error.hpp>

#include <memory>
#include <string_view>
#include <vector>

namespace evstore::detail {

class store_impl;
class consumer_impl;

[[nodiscard]] result<std::shared_ptr<consumer_impl>> open_consumer(const std::shared_ptr<store_impl>& store,
                                                                   std::string_view stream,
                                                                   std::string_view name);
[[nodiscard]] result<consumer_info> read_consumer_info(const store_impl& store, std::string_view stream,
                                                       std::string_view name);
[[nodiscard]] result<std::vector<consumer_info>> list_consumer_infos(const store_impl& store);

}  // namespace evstore::detail
