#pragma once
// Anchored patterns over state-dict keys, as the release history writes them
// (matrix/history.toml):
//
//   literal text       matches itself ("attn_layers.layers.")
//   {p}                the XTransformer model prefix: "", "encoder." or "decoder.net."
//   {name}             one dot-free segment ("3", "ff", "gamma")
//   {*name}            any text, dots included, possibly empty ("0.0.weight")
//   {name:a|b|c}       one of the listed literals
//
// A pattern matches a whole key. The same syntax renders a key from the
// captures of a match ("{p}attn_layers.layers.{i}.1.ff.{*rest}"), so a rename
// is a pair of patterns and its inverse is the pair swapped.
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace xcompat {

class KeyPattern {
 public:
  using Captures = std::map<std::string, std::string>;

  // Throws Error on a malformed pattern (unclosed brace, empty name, ...).
  explicit KeyPattern(std::string text);

  const std::string& text() const { return text_; }
  // The captures when `key` matches the whole pattern.
  std::optional<Captures> match(const std::string& key) const;
  // The key this pattern names for `captures`; throws Error when a name it
  // uses is not captured.
  std::string render(const Captures& captures) const;
  // The names this pattern captures (or uses, when rendering).
  const std::vector<std::string>& names() const { return names_; }

 private:
  struct Part {
    std::string literal;  // when name is empty
    std::string name;     // a placeholder
  };
  std::string text_;
  std::vector<Part> parts_;
  std::vector<std::string> names_;
  std::regex regex_;
};

}  // namespace xcompat
