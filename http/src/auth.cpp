// Bearer tokens. See auth.hpp.
#include "auth.hpp"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

namespace evstore::http {
namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

[[nodiscard]] result<std::vector<token>> load_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error(errc::invalid_argument, "cannot read token file " + path);
  std::vector<token> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string scope, secret, extra;
    if (!(words >> scope)) continue;
    if (!(words >> secret) || (words >> extra) || (scope != "read" && scope != "write") ||
        secret.size() < 16) {
      return error(errc::invalid_argument,
                   path + ":" + std::to_string(n) +
                       ": expected \"read <token>\" or \"write <token>\" (tokens of 16+ characters)");
    }
    out.push_back({secret, scope == "write" ? token_scope::write : token_scope::read});
  }
  if (out.empty()) return error(errc::invalid_argument, path + ": no tokens");
  return out;
}

unsigned authorize(const std::vector<token>& tokens, std::string_view authorization, bool needs_write) {
  if (tokens.empty()) return 0;
  constexpr std::string_view prefix = "Bearer ";
  if (!authorization.starts_with(prefix)) return 401;
  const std::string presented(authorization.substr(prefix.size()));
  // Compare with every token, whatever matches, so timing says nothing.
  const token* found = nullptr;
  for (const token& t : tokens) {
    if (constant_time_equal(presented, t.secret) && found == nullptr) found = &t;
  }
  if (found == nullptr) return 401;
  if (needs_write && found->scope != token_scope::write) return 403;
  return 0;
}

api_response refusal(unsigned denied, std::string_view forbidden) {
  if (denied != 401) return error_response(403, "forbidden", forbidden);
  auto r = error_response(401, "unauthorized", "a valid bearer token is required");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace evstore::http
