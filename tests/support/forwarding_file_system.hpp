// A file system that hands every call to another one: the base of the tests'
// fault wrappers, which override only the calls they intercept.
#pragma once

#include <evstore/file_system.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace evstore::test {

class forwarding_file_system : public file_system {
 public:
  explicit forwarding_file_system(std::shared_ptr<file_system> base) : base_(std::move(base)) {}

  boost::system::result<std::unique_ptr<file>> open(const std::string& p, open_mode mode) override {
    return base_->open(p, mode);
  }
  error_code create_directories(const std::string& p) override { return base_->create_directories(p); }
  error_code sync_directory(const std::string& p) override { return base_->sync_directory(p); }
  bool exists(const std::string& p) override { return base_->exists(p); }
  error_code rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  error_code remove(const std::string& p) override { return base_->remove(p); }
  boost::system::result<std::vector<std::string>> list(const std::string& d) override {
    return base_->list(d);
  }
  boost::system::result<std::unique_ptr<file_lock>> lock(const std::string& p) override {
    return base_->lock(p);
  }

 protected:
  std::shared_ptr<file_system> base_;
};

}  // namespace evstore::test
