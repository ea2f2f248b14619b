#include "reports/junit.hpp"

#include <fmt/format.h>

#include <fstream>

#include "harness/core/error.hpp"

namespace xcompat {

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (ch < 0x20 && ch != '\n' && ch != '\t' && ch != '\r') out += "?";
        else out += static_cast<char>(ch);
    }
  }
  return out;
}

void write_junit(const std::string& path, const std::vector<CellResult>& cells, const std::string& suite_name,
                 const JunitBaseline& baseline) {
  int failures = 0, skipped = 0;
  std::string body;
  for (auto& c : cells) {
    const std::string name = fmt::format("{} {} -> {} [{} {}]", c.key.spec, c.key.producer, c.key.consumer,
                                         c.key.device, c.key.dtype);
    body += fmt::format("  <testcase classname=\"{}\" name=\"{}\" time=\"{:.6f}\">\n", xml_escape(c.key.spec),
                        xml_escape(name), c.latency_ms / 1000.0);
    // A flaky cell (a re-run disagreed) says so whatever it recorded: its
    // verdict is not settled, and the next sweep evaluates it again (a
    // failure's message, the cell's line, also ends in [flaky]).
    if (c.flaky)
      body += "    <properties><property name=\"flaky\" value=\"true\"/></properties>\n";
    if (c.verdict == Verdict::Unsupported) {
      ++skipped;
      body += fmt::format("    <skipped message=\"{}\"/>\n", xml_escape(c.error.substr(0, 500)));
    } else if (!verdict_passes(c.verdict)) {
      const Expectation e = expectation_of(c, baseline);
      if (e.expected) {
        ++skipped;
        body += fmt::format("    <skipped message=\"{}\"/>\n", xml_escape((e.why + ": " + c.line()).substr(0, 1000)));
      } else {
        ++failures;
        body += fmt::format("    <failure type=\"{}\" message=\"{}\">{}</failure>\n", verdict_name(c.verdict),
                            xml_escape(e.why + ": " + c.line()),
                            xml_escape(c.error + "\n" + c.load_report.to_json().dump(1)));
      }
    }
    // The converted path, passing or not, with the command that makes it.
    if (c.direct_verdict)
      body += fmt::format("    <system-out>{}</system-out>\n",
                          xml_escape(c.path_letters() + " " + c.conversion_line() +
                                     (c.convert_command().empty() ? "" : "\n" + c.convert_command())));
    body += "  </testcase>\n";
  }
  std::ofstream out(path);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << fmt::format("<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n", xml_escape(suite_name),
                     cells.size(), failures, skipped)
      << body << "</testsuite>\n";
  if (!out) throw Error("cannot write JUnit XML to " + path);
}

}  // namespace xcompat
