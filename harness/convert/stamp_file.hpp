#pragma once
// `xcompat stamp`: records which release (and torch, and spec) saved a
// checkpoint, in a copy of it (safetensors `__metadata__["xcompat"]`, a
// .pt's <archive>/xcompat.json) or beside it (<file>.xcompat.json, when the
// file must stay byte-identical). Every command that opens a checkpoint reads
// the stamp (checkpoint_file.hpp); docs/STAMP.md has the format and the lines
// a user adds to their own save call instead.
//
// A stamp that contradicts the tensors is refused: the release must be one
// whose layout the file has (the fingerprint's ranges), and a spec must fit
// the tensors' shapes.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/convert/fingerprint.hpp"

namespace xcompat {

struct StampRequest {
  std::filesystem::path in, out;  // `out` unused with `sidecar`
  bool sidecar = false;
  Version release;
  std::string torch;              // "2.1.2", or empty when unknown
  nlohmann::json spec;            // the catalogue form, or null
  bool force = false;             // stamp even when the layout is not the release's
};

struct StampResult {
  nlohmann::json record;
  std::filesystem::path written;
  Fingerprint fingerprint;
};

// Throws Error naming the file for an unknown release, a layout or spec that
// contradicts the tensors, an output that would replace the input; nothing
// is written then.
StampResult stamp_file(const ReleaseHistory& history, const StampRequest& request);

}  // namespace xcompat
