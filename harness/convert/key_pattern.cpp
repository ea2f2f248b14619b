#include "harness/convert/key_pattern.hpp"

#include "harness/core/error.hpp"

namespace xcompat {

namespace {
std::string escape(const std::string& s) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : s) {
    if (special.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

KeyPattern::KeyPattern(std::string text) : text_(std::move(text)) {
  std::string re = "^";
  std::size_t i = 0;
  while (i < text_.size()) {
    const std::size_t open = text_.find('{', i);
    const std::string literal = text_.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (!literal.empty()) {
      if (literal.find('}') != std::string::npos) throw Error("key pattern '" + text_ + "': a '}' without '{'");
      parts_.push_back({literal, ""});
      re += escape(literal);
    }
    if (open == std::string::npos) break;
    const std::size_t close = text_.find('}', open);
    if (close == std::string::npos) throw Error("key pattern '" + text_ + "': '{' without '}'");
    std::string body = text_.substr(open + 1, close - open - 1);
    std::string name = body, options;
    if (auto colon = body.find(':'); colon != std::string::npos) {
      name = body.substr(0, colon);
      options = body.substr(colon + 1);
    }
    const bool rest = !name.empty() && name[0] == '*';
    if (rest) name = name.substr(1);
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") != std::string::npos)
      throw Error("key pattern '" + text_ + "': placeholder '{" + body + "}' needs a lower-case name");
    parts_.push_back({"", name});
    names_.push_back(name);
    if (name == "p" && options.empty() && !rest) {
      re += "((?:encoder\\.|decoder\\.net\\.)?)";
    } else if (!options.empty()) {
      std::string alt;
      std::size_t start = 0;
      while (start <= options.size()) {
        const std::size_t bar = options.find('|', start);
        const std::string opt = options.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
        if (opt.empty()) throw Error("key pattern '" + text_ + "': an empty option in '{" + body + "}'");
        alt += (alt.empty() ? "" : "|") + escape(opt);
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
      re += "(" + alt + ")";
    } else {
      re += rest ? "(.*)" : "([^.]+)";
    }
    i = close + 1;
  }
  regex_ = std::regex(re + "$");
}

std::optional<KeyPattern::Captures> KeyPattern::match(const std::string& key) const {
  std::smatch m;
  if (!std::regex_match(key, m, regex_)) return std::nullopt;
  Captures c;
  for (std::size_t i = 0; i < names_.size(); ++i) c[names_[i]] = m[i + 1].str();
  return c;
}

std::string KeyPattern::render(const Captures& captures) const {
  std::string out;
  for (auto& part : parts_) {
    if (part.name.empty()) {
      out += part.literal;
      continue;
    }
    auto it = captures.find(part.name);
    if (it == captures.end())
      throw Error("key pattern '" + text_ + "' uses {" + part.name + "}, which the matched pattern does not capture");
    out += it->second;
  }
  return out;
}

}  // namespace xcompat
