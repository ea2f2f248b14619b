#pragma once
// `xcompat check FILE --to B`: the upgrade answer for a user's own
// checkpoint, measured like a matrix cell.
//
//   1. Where the model is: the file may be a container (a training dict, a
//      Lightning .ckpt, an EMA copy beside the model) holding one or several
//      x-transformers models under any prefix (harness/convert/locate.hpp).
//      `--key` picks one; several without it is a question back, naming them.
//      The chosen model's tensors are staged as a flat state dict (keyed by
//      the file's content hash and the prefix), which every path loads.
//   2. What it is: the fingerprint (harness/convert/fingerprint.hpp), or the
//      spec the user gives (which must fit the tensors), or the stamp's.
//   3. Who saved it (A): --from, else the stamp. Else it is not known, and
//      the answer is conditional: the fingerprint's range is split by every
//      change of the release history inside it that concerns this model
//      (layout, numeric and behaviour changes), and each stretch is measured
//      with a release from it (installed, or with --install its newest).
//      A release is never compared with itself unless the user named both:
//      where B itself lies in a stretch, another release of the stretch
//      makes the reference, and when none is there the stretch is said safe
//      by the history (no change between), not measured.
//   4. A's reference: A builds the spec, loads the staged file strictly and
//      runs it on inputs drawn from the spec's seed; written like a catalogue
//      fixture (<state>/checks/<file hash>/...), so every consumer evaluates
//      it the way it evaluates the matrix's cells.
//   5. The paths, per stretch: B loads the file as it is (direct), and, when
//      that does not pass, the file converted to B (the sweep's converted
//      path); the C++ port loads it as A's checkpoint (cpp-native).
//   6. The answer: 0 only when every stretch passes in B as it is; 3 when
//      some stretch does not (the converted path says whether `xcompat
//      convert` carries it); 2 when it cannot tell (and why). Each measured
//      path is recorded in the database's `checks` table under the file's
//      sha256.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/fingerprint.hpp"
#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"

namespace xcompat {

struct CheckRequest {
  std::filesystem::path file;
  std::string to;                   // a release X.Y.Z
  std::optional<std::string> from;  // else the stamp, else every stretch of the fingerprint's range
  std::string key;                  // the model's place in a container ("" : found)
  nlohmann::json spec;              // the user's (catalogue form), or null
  bool install = false;             // install the releases it needs that are not
  bool native = true;               // also the cpp-native path
};

// One stretch of the releases that may have saved the file: the history
// says they all compute alike with this model.
struct CheckStretch {
  std::string first, last;   // published releases, inclusive
  std::string from;          // the release that made the reference ("" when none could)
  std::string from_note;     // why that release, or why none
  bool same_as_to = false;   // B lies in this stretch and no other release of it could measure: safe by the history
  std::string excluded;      // not measured because the file cannot come from here: a release of it cannot load it
  std::filesystem::path reference_dir;
  std::optional<CellResult> release;  // B: direct, and its converted path when direct does not pass
  std::optional<CellResult> native;   // cpp-native
  std::string cannot_tell;
  std::string convert_command;

  int exit_code() const;  // 0 safe as it is (or excluded), 3 breaks, 2 cannot tell
  std::string range() const { return first == last ? first : first + " - " + last; }
  nlohmann::json to_json() const;
};

struct CheckOutcome {
  std::string file_sha256;
  nlohmann::json models = nlohmann::json::array();  // every model found in the file (locate_models)
  std::string model_prefix;                         // the one checked
  Fingerprint fingerprint;
  std::string from_source;  // "--from", "stamp", "fingerprint" (then conditional)
  nlohmann::json spec;      // the spec every path built
  std::string spec_source;  // "--spec-args", "stamp", "fingerprint"
  std::filesystem::path staged;  // the flat state dict every path loads
  std::vector<CheckStretch> stretches;
  std::string cannot_tell;  // non-empty: no answer at all (exit 2)

  bool conditional() const { return from_source == "fingerprint"; }
  int exit_code() const;
  nlohmann::json to_json() const;
};

// Throws Error (CheckpointError) for a file the readers refuse, an unknown
// release; everything measured is returned, including why it cannot tell.
CheckOutcome check_file(const Pins& pins, const ReleaseHistory& history, const CheckRequest& request);

// The stretches of `ranges` (published releases) with one behaviour for a
// model of `tensors` built as `spec`: split at every change of the history
// inside them that concerns it (rounding-only changes only for half
// precision). Exposed for tests.
std::vector<std::pair<Version, Version>> behaviour_stretches(const ReleaseHistory& history,
                                                             const std::vector<ReleaseRange>& ranges,
                                                             const std::vector<TensorInfo>& tensors,
                                                             const nlohmann::json& spec);

}  // namespace xcompat
