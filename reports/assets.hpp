#pragma once
// The report's stylesheet and script, compiled in so a rendered site is
// self-contained: no CDN, no fonts, works from file://.
namespace xcompat::report {

extern const char* const kReportCss;
extern const char* const kReportJs;

}  // namespace xcompat::report
