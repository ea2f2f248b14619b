#pragma once
// The report's stylesheet and script (reports/assets/report.css, report.js,
// embedded at build time), with the verdict lists filled in from
// harness/core/verdict.hpp: a rendered site is self-contained (no CDN, no
// fonts, works from file://).
#include <string>

namespace xcompat::report {

std::string report_css();
std::string report_js();

}  // namespace xcompat::report
