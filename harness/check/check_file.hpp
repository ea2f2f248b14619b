#pragma once
// `xcompat check FILE --to B`: the upgrade answer for a user's own
// checkpoint, measured like a matrix cell.
//
//   1. What it is: the fingerprint (harness/convert/fingerprint.hpp), or the
//      spec the user gives (which must fit the tensors), or the stamp's.
//   2. Who saved it (A): --from, else the stamp, else the newest pinned
//      release inside the fingerprint's range (said as such).
//   3. A's reference: A builds the spec, loads the file strictly and runs it
//      on inputs drawn from the spec's seed; written like a catalogue
//      fixture (<state>/checks/<file hash>/...), so every consumer evaluates
//      it the way it evaluates the matrix's cells.
//   4. The paths: B loads the file as it is (direct), and, when that does
//      not pass, the file converted to B (the sweep's converted path); the
//      C++ port loads it as A's checkpoint (cpp-native).
//   5. The answer: 0 when the file passes in B as it is, 3 when it does not
//      (the converted path says whether `xcompat convert` carries it), 2
//      when it cannot tell (A cannot load the file as the spec builds it, a
//      release is not installed, a worker fault); each path is recorded in
//      the database's `checks` table under the file's sha256.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/convert/fingerprint.hpp"
#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"

namespace xcompat {

struct CheckRequest {
  std::filesystem::path file;
  std::string to;                   // a release X.Y.Z
  std::optional<std::string> from;  // else the stamp, else the fingerprint's range
  nlohmann::json spec;              // the user's (catalogue form), or null
  bool install = false;             // install A and B when they are not
  bool native = true;               // also the cpp-native path
};

struct CheckOutcome {
  std::string file_sha256;
  Fingerprint fingerprint;
  std::string from, from_source;  // from_source: "--from", "stamp", "fingerprint"
  std::string from_note;          // why this A, when the fingerprint chose it
  nlohmann::json spec;            // the spec every path built
  std::string spec_source;        // "--spec-args", "stamp", "fingerprint"
  std::filesystem::path reference_dir;
  std::optional<CellResult> release;  // B: direct, and its converted path when direct does not pass
  std::optional<CellResult> native;   // cpp-native
  std::string cannot_tell;            // non-empty: why there is no answer (exit 2)
  std::string convert_command;        // when the converted path carries it

  int exit_code() const;  // 0 safe as it is, 3 breaks, 2 cannot tell
  nlohmann::json to_json() const;
};

// Throws Error (CheckpointError) for a file the readers refuse, an unknown
// release; everything measured is returned, including why it cannot tell.
CheckOutcome check_file(const Pins& pins, const ReleaseHistory& history, const CheckRequest& request);

}  // namespace xcompat
