#include "harness/native/release.hpp"

#include <charconv>

namespace xcompat::native {

std::string ReleaseVersion::str() const { return version().str(); }

ReleaseVersion ReleaseVersion::parse(const std::string& text) {
  const auto v = Version::parse(text);
  if (!v) throw NativeUnsupported("x-transformers release '" + text + "' (not a plain X.Y.Z version)");
  return {v->major, v->minor, v->patch};
}

const HistoryChange& ReleaseSwitch::change() const { return release_history().change(change_id); }
std::string ReleaseSwitch::name() const { return change().reason; }
std::string ReleaseSwitch::range() const { return change().boundary(); }

Era era_of(const HistoryChange& c, const ReleaseVersion& release) {
  switch (c.side(release.version())) {
    case 1: return Era::New;
    case -1: return Era::Old;
    default: return Era::Unknown;
  }
}

bool is_new(const HistoryChange& c, const ReleaseVersion& release) {
  switch (era_of(c, release)) {
    case Era::New: return true;
    case Era::Old: return false;
    case Era::Unknown:
      if (c.rounding_only()) return true;
      throw NativeUnsupported("release " + release.str() + ": it is not known whether it has '" + c.reason +
                              "' (changed somewhere " + c.boundary() + ")");
  }
  return true;
}

void ReleaseContext::set_torch_version(const std::string& text) {
  int major = 0, minor = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  auto r1 = std::from_chars(p, end, major);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.') return;
  auto r2 = std::from_chars(r1.ptr + 1, end, minor);
  if (r2.ec != std::errc()) return;
  torch_major = major;
  torch_minor = minor;
}

void check_release_in_range(const ReleaseVersion& release) {
  if (release < kOldestRelease || release > kNewestRelease)
    throw NativeUnsupported("release " + release.str() + " (the port follows releases " + kOldestRelease.str() +
                            " to " + kNewestRelease.str() + ")");
}

}  // namespace xcompat::native
