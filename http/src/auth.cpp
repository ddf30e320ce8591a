// Bearer tokens. See auth.hpp.
#include "auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

namespace evstore::http {
namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<token_scope> scope_named(std::string_view s) {
  if (s == "read") return token_scope::read;
  if (s == "write") return token_scope::write;
  if (s == "append") return token_scope::append;
  return std::nullopt;
}

bool valid_token_name(std::string_view name) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), allowed);
}

// The token the Authorization header presents, compared in constant time
// with every token: null when none matches (or no header, another scheme).
const token* find_token(const std::vector<token>& tokens, std::string_view authorization) {
  constexpr std::string_view prefix = "Bearer ";
  if (!authorization.starts_with(prefix)) return nullptr;
  const std::string presented(authorization.substr(prefix.size()));
  // Compare with every token, whatever matches, so timing says nothing.
  const token* found = nullptr;
  for (const token& t : tokens) {
    if (constant_time_equal(presented, t.secret) && found == nullptr) found = &t;
  }
  return found;
}

}  // namespace

bool permissions::within(std::string_view name) const {
  if (prefixes_.empty()) return true;
  return std::any_of(prefixes_.begin(), prefixes_.end(),
                     [&](const std::string& p) { return name.starts_with(p); });
}

bool permissions::may_read(std::string_view stream) const {
  if (!may_read()) return false;
  if (whole_store()) return true;
  constexpr std::string_view category = "$ce-";
  if (stream.starts_with(category)) {
    // Every stream of the category starts with "<c>-": all of them are
    // within the token's prefixes when "<c>-" itself starts with one.
    std::string c(stream.substr(category.size()));
    c += '-';
    return within(c);
  }
  return !stream.starts_with('$') && within(stream);
}

bool permissions::listed_in(const std::optional<std::vector<std::string>>& names) const {
  if (!names || may_administer()) return true;
  return !name_.empty() && std::find(names->begin(), names->end(), name_) != names->end();
}

bool permissions::may_append(std::string_view stream) const { return may_append() && within(stream); }

[[nodiscard]] result<std::vector<token>> load_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error(errc::invalid_argument, "cannot read token file " + path);
  std::vector<token> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string scope, secret, name;
    if (!(words >> scope)) continue;
    const auto where = path + ":" + std::to_string(n) + ": ";
    if (scope.ends_with(':')) {
      name = scope.substr(0, scope.size() - 1);
      if (!valid_token_name(name)) {
        return error(errc::invalid_argument,
                     where + "a token's name is 1..64 letters, digits, '.', '_' or '-', then ':'");
      }
      if (std::any_of(out.begin(), out.end(), [&](const token& t) { return t.name == name; })) {
        std::string why = where;
        why += "the name '";
        why += name;
        why += "' is given to two tokens";
        return error(errc::invalid_argument, std::move(why));
      }
      scope.clear();
      words >> scope;
    }
    const auto named = scope_named(scope);
    if (!(words >> secret) || !named || secret.size() < 16) {
      return error(errc::invalid_argument,
                   where +
                       "expected \"[<name>:] <read|write|append> <token> [<stream prefix>...]\" "
                       "(tokens of 16+ characters)");
    }
    token t{secret, *named, {}, std::move(name)};
    for (std::string prefix; words >> prefix;) {
      // A prefix that starts with '$' would bind a token to the store's own
      // streams, which a bound token never reads (they mix other streams).
      if (prefix.starts_with('$')) {
        return error(errc::invalid_argument,
                     where +
                         "a stream prefix cannot start with '$' (system streams are read by tokens "
                         "without prefixes)");
      }
      t.prefixes.push_back(std::move(prefix));
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) return error(errc::invalid_argument, path + ": no tokens");
  return out;
}

unsigned authorize(const std::vector<token>& tokens, std::string_view authorization, bool needs_write,
                   permissions& granted) {
  granted = permissions();
  if (tokens.empty()) return 0;
  const token* found = find_token(tokens, authorization);
  if (found == nullptr) return 401;
  granted = permissions(*found);
  if (needs_write ? !granted.may_append() : !granted.may_read()) return 403;
  return 0;
}

api_response refusal(unsigned denied, std::string_view forbidden) {
  if (denied != 401) return error_response(403, "forbidden", forbidden);
  auto r = error_response(401, "unauthorized", "a valid bearer token is required");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace evstore::http
