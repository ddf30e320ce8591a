// Bearer-token authentication and authorization: the token file, the check
// of a request's Authorization header, and what the token found may touch
// (a scope, and stream name prefixes that bound it).
#pragma once

#include "responses.hpp"
#include <evstore/error.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::http {

// read: GET/HEAD routes and subscriptions. write: those and every change.
// append: appends only (a producer that must not read).
enum class token_scope { read, write, append };

struct token {
  std::string secret;
  token_scope scope = token_scope::read;
  // Stream name prefixes the token is bound to ("orders-": the streams of
  // category orders); empty: every stream, the store's own included.
  std::vector<std::string> prefixes;
  // Who holds it ("alice: write ..." in the token file): what a stream's
  // access list names (stream_acl). Empty: in no access list.
  std::string name;
};

// What the request's token allows. Without tokens on the server: everything.
class permissions {
 public:
  permissions() = default;  // no tokens: everything
  explicit permissions(const token& t)
      : scope_(t.scope), prefixes_(t.prefixes), name_(t.name), open_(false) {}

  bool may_read() const { return open_ || scope_ != token_scope::append; }
  bool may_append() const { return open_ || scope_ != token_scope::read; }
  // A token without prefixes: $all, $et-, read streams' definitions, every
  // consumer; write scope adds creating and dropping read streams.
  bool whole_store() const { return open_ || prefixes_.empty(); }
  bool may_administer() const { return whole_store() && (open_ || scope_ == token_scope::write); }
  // The stream's events, by name: a stream within the prefixes, or $ce-<c>
  // when every stream of category c is (its "c-" starts with a prefix).
  // Other $ streams ($all, $et-<type>) mix any stream's events: whole store
  // only. A read stream's events come from the streams its filter takes:
  // api::may_read asks may_read_all_of(its stream prefix) instead.
  bool may_read(std::string_view stream) const;
  bool may_append(std::string_view stream) const;
  // Deleting the stream or setting its metadata: a write token (an append
  // token only appends) whose prefixes hold the stream.
  bool may_change(std::string_view stream) const {
    return (open_ || scope_ == token_scope::write) && within(stream);
  }
  // Every stream whose name starts with `prefix` is within the token's
  // prefixes (an empty `prefix`, any stream: only for a whole-store token).
  bool may_read_all_of(std::string_view prefix) const { return may_read() && within(prefix); }
  // A stream's access list (stream_acl) lets the token through: the list is
  // unset, or names the token, or the token administers the store (a
  // whole-store write token, or no tokens: it reads $all anyway).
  bool listed_in(const std::optional<std::vector<std::string>>& names) const;

 private:
  bool within(std::string_view name) const;

  token_scope scope_ = token_scope::write;
  std::vector<std::string> prefixes_;
  std::string name_;
  bool open_ = true;
};

// "[<name>:] <read|write|append> <token> [<prefix>...]" per line; '#'
// starts a comment. Errors name the line, never the token.
[[nodiscard]] result<std::vector<token>> load_token_file(const std::string& path);

// 0 if allowed (always, without tokens); else the status to answer: 401
// (no or an unknown bearer token) or 403 (a read token for a write, an
// append token for a read). Sets `granted` to what the token allows.
unsigned authorize(const std::vector<token>& tokens, std::string_view authorization, bool needs_write,
                   permissions& granted);

// The answer to a refusal of authorize(): 401 with WWW-Authenticate: Bearer,
// or 403 with `forbidden` as its message.
api_response refusal(unsigned denied, std::string_view forbidden);

}  // namespace evstore::http
