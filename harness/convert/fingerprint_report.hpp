#pragma once
// Every x-transformers model among a checkpoint's tensors, fingerprinted:
// what `xcompat fingerprint` prints and what the Python module's
// `xcompat.fingerprint()` returns (one function, one set of messages).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/fingerprint.hpp"

namespace xcompat {

struct FingerprintReport {
  std::size_t tensor_count = 0;
  std::vector<Fingerprint> models;  // under `key`, by prefix
  std::vector<std::string> others;  // tensors of no model
  bool known = false;               // every model matched a known layout

  // One model: its fingerprint at the top level; always the list `models`, and `others`.
  nlohmann::json to_json() const;
};

// `what` names the input in messages (a file's path, "state dict"). Throws
// Error when no model is among the tensors, or none under `key`.
FingerprintReport fingerprint_report(const std::vector<TensorInfo>& tensors, const nlohmann::json& xcompat_record,
                                     const std::string& what, const std::string& key);

}  // namespace xcompat
