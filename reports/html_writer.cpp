#include "reports/html_writer.hpp"

#include <cctype>
#include <vector>

namespace xcompat::report {

void append_html(std::string& out, std::string_view s) {
  for (char c : s) {
    const unsigned char ch = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if ((ch < 0x20 && c != '\n' && c != '\t' && c != '\r') || ch == 0x7f) out += "\xEF\xBF\xBD";
        else out += c;
    }
  }
}

std::string html(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  append_html(out, s);
  return out;
}

std::string md(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '|': out += "\\|"; break;
      case '\n': case '\r': case '\t': out += ' '; break;
      case '\\': case '`': case '*': case '_': case '[': case ']': case '#': case '~': case '!':
        out += '\\';
        out += c;
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string slug(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 60) break;
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  if (!out.empty() && out[0] == '.') out[0] = '_';
  if (out.empty()) out.push_back('_');  // (assigning "_" trips a GCC 12 -Wrestrict false positive)
  return out;
}

namespace {
std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    parts.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

bool looks_like_version(std::string_view s) { return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0])); }

bool version_less(std::string_view a, std::string_view b) {
  const bool va = looks_like_version(a), vb = looks_like_version(b);
  if (va != vb) return va;  // versions first
  if (!va) return a < b;
  auto pa = split_dots(a), pb = split_dots(b);
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    if (all_digits(pa[i]) && all_digits(pb[i])) {
      const auto na = std::stoll(std::string(pa[i])), nb = std::stoll(std::string(pb[i]));
      if (na != nb) return na < nb;
    } else if (pa[i] != pb[i]) {
      return pa[i] < pb[i];
    }
  }
  if (pa.size() != pb.size()) return pa.size() < pb.size();
  return a < b;
}

}  // namespace xcompat::report
