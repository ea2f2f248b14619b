#pragma once
// Small text helpers shared by the HTML and Markdown reports: escaping for
// HTML text and attributes, for GitHub-flavoured Markdown table cells, safe
// file names, and the ordering of release versions.
#include <string>
#include <string_view>

namespace xcompat::report {

// Escapes & < > " ' for use in HTML text and in quoted attribute values.
// C0 control characters other than tab/newline/CR become U+FFFD.
void append_html(std::string& out, std::string_view s);
std::string html(std::string_view s);

// One Markdown table cell: pipes, backslashes, emphasis, links and HTML are
// neutralised; newlines become spaces.
std::string md(std::string_view s);

// A file-name-safe rendering of a name: [A-Za-z0-9._-] kept, everything else
// '_', no leading dot, at most 60 characters, never empty.
std::string slug(std::string_view s);

// Release versions in release order: numeric components compare as numbers
// ("2.3.27" < "2.11.24"), anything else as text; a name that is not a
// version (e.g. "cpp-native") sorts after every version.
bool version_less(std::string_view a, std::string_view b);
bool looks_like_version(std::string_view s);

}  // namespace xcompat::report
