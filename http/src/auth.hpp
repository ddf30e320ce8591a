// Bearer-token authentication: the token file, and the check of a request's
// Authorization header against the tokens and the scope the operation needs.
#pragma once

#include "responses.hpp"
#include <evstore/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace evstore::http {

enum class token_scope { read, write };

struct token {
  std::string secret;
  token_scope scope = token_scope::read;
};

// "<read|write> <token>" per line; '#' starts a comment. Errors name the line.
[[nodiscard]] result<std::vector<token>> load_token_file(const std::string& path);

// 0 if allowed (always, without tokens); else the status to answer: 401
// (no or an unknown bearer token) or 403 (a read token for a write).
unsigned authorize(const std::vector<token>& tokens, std::string_view authorization, bool needs_write);

// The answer to a refusal of authorize(): 401 with WWW-Authenticate: Bearer,
// or 403 with `forbidden` as its message.
api_response refusal(unsigned denied, std::string_view forbidden);

}  // namespace evstore::http
