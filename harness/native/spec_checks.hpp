#pragma once
// The checks parse_spec runs on the options a spec gives (spec_options.cpp):
// argument values the releases assert against, combinations of features
// that were not measured together, and releases a feature is not measured
// for. Each throws NativeUnsupported with the reason.
#include <string>

#include "harness/native/attention_layers.hpp"
#include "harness/native/transformer_wrapper.hpp"

namespace xcompat::native {

// Arguments the spec gives or that the Python classes' defaults imply, checked together.
void check_layers(const AttentionLayersOptions& o, const std::string& where);
void check_wrapper(const TransformerWrapperOptions& o, const AttentionLayersOptions& layers, const std::string& where);
// Features whose computation changed at a release the port does not follow
// across: the flash path with a padding mask (measured from 1.16.14), memory
// key / values with a relative bias (from the history's mem-kv-unbiased), the
// GLU's soft clamps (their change in (2.30.5, 2.31.10] is not bisected).
void check_release_ranges(const AttentionLayersOptions& o, bool padding_mask, const ReleaseContext& ctx);
// A wrapper argument that must be a positive integer (a size, a width).
int64_t positive_wrapper_int(const nlohmann::json& v, const std::string& name);

}  // namespace xcompat::native
