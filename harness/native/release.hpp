#pragma once
// Releases as the port sees them: a version, the range the port covers, and
// ReleaseSwitch, one behaviour or layout that changes at one release.
//
// A switch's boundary comes from the release history: the first release with
// the new way, and, while not bisected, the last known old one. A checkpoint
// from a release strictly between the two is UNSUPPORTED whenever the switch
// matters for the spec, unless the change is rounding only (both ways compute
// the same function), in which case the new way is used.
//
// No torch here: the switches and the key maps are plain data.
#include <compare>
#include <stdexcept>
#include <string>

#include "harness/convert/history.hpp"

namespace xcompat::native {

// The port cannot compute what the release computes (a feature it lacks, a
// spec argument it does not know, a release outside its range, a switch
// whose boundary is unknown). what() names the feature; the worker replies
// UNSUPPORTED "cpp-native does not support <what()>".
class NativeUnsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReleaseVersion {
  int major = 0, minor = 0, patch = 0;

  auto operator<=>(const ReleaseVersion&) const = default;
  std::string str() const;
  // "1.31.4" -> {1, 31, 4}. Anything else (pre-releases, local versions,
  // "unknown") throws NativeUnsupported: the port only follows plain
  // published versions.
  static ReleaseVersion parse(const std::string& text);
  Version version() const { return {major, minor, patch}; }
};

// The oldest and newest releases whose sources the port was written from
// (matrix/pins.toml). Outside this range a checkpoint is UNSUPPORTED.
inline constexpr ReleaseVersion kOldestRelease{0, 28, 4};
inline constexpr ReleaseVersion kNewestRelease{2, 31, 10};

// One behaviour or layout of x-transformers that changes at one release: a
// change of the release history (matrix/history.toml), named by its id. The
// boundary lives there, once, shared with `xcompat convert`; a switch whose
// entry is missing throws Error when consulted.
struct ReleaseSwitch {
  const char* change_id;  // e.g. "rotary-interleaved"

  const HistoryChange& change() const;
  std::string name() const;   // the change's one-line reason
  std::string range() const;  // "at 1.20.0" or "between 1.14.0 and 1.19.1"
};

enum class Era { Old, New, Unknown };

// Which side of a change a release is on.
Era era_of(const HistoryChange& c, const ReleaseVersion& release);
inline Era era_of(const ReleaseSwitch& s, const ReleaseVersion& release) { return era_of(s.change(), release); }

// True when `release` behaves the new way. An Unknown era throws
// NativeUnsupported naming the change, unless it is rounding only (then the
// new way is taken).
bool is_new(const HistoryChange& c, const ReleaseVersion& release);
inline bool is_new(const ReleaseSwitch& s, const ReleaseVersion& release) { return is_new(s.change(), release); }

// Throws NativeUnsupported unless kOldestRelease <= release <= kNewestRelease.
void check_release_in_range(const ReleaseVersion& release);

// What the port knows about the checkpoint's producer: the x-transformers
// release (meta.json "release") and the torch it ran on (meta.json
// "versions.torch"), which decides the norm layout of 1.27.1 - 1.30.x.
struct ReleaseContext {
  ReleaseVersion release;
  int torch_major = -1, torch_minor = -1;  // -1: unknown

  bool is_new(const ReleaseSwitch& s) const { return native::is_new(s, release); }
  // Parses "2.13.0+cpu" and the like; leaves -1 when it cannot.
  void set_torch_version(const std::string& text);
};

}  // namespace xcompat::native
