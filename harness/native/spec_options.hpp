#pragma once
// From a spec (fixtures/specs.toml as JSON) to the port's options structs.
//
// Every keyword argument of `wrapper`, `layers` and `xtransformer` must be
// one the port handles, for the producing release: anything else throws
// NativeUnsupported naming the argument, so no spec argument is silently
// ignored. Arguments that only matter for training (dropouts, init scales,
// ignore_index, pad_value) are accepted: the forward pass in eval mode does
// not read them. docs/NATIVE_PORT.md lists the handled arguments.
#include <nlohmann/json.hpp>

#include "harness/native/continuous_wrapper.hpp"
#include "harness/native/vit_wrapper.hpp"
#include "harness/native/xtransformer.hpp"

namespace xcompat::native {

// Decoder / Encoder: a TransformerWrapper around them. Continuous, Vit:
// ContinuousTransformerWrapper / ViTransformerWrapper around `layers`;
// Layers: a bare Decoder / Encoder (the spec's layers_class, in
// layers.causal).
enum class ModelKind { Decoder, Encoder, XTransformer, Continuous, Vit, Layers };

struct ModelSpec {
  ModelKind kind = ModelKind::Decoder;
  bool padding_mask = false;               // spec "mask" = "padding"
  struct ExtraInputs {                     // the spec's `inputs` table (decoder / encoder)
    bool context = false, context_mask = false, condition = false;
  } inputs;
  TransformerWrapperOptions wrapper;       // decoder / encoder
  ContinuousWrapperOptions continuous;     // continuous
  VitWrapperOptions vit;                   // vit
  AttentionLayersOptions layers;           // all but xtransformer
  XTransformerOptions xtransformer;        // xtransformer
};

// Throws NativeUnsupported (unknown model kind, dtype, argument, or an
// argument the release does not have or the port cannot follow).
ModelSpec parse_spec(const nlohmann::json& spec, const ReleaseContext& ctx);

// The keyword arguments the port handles, for docs and tests.
std::vector<std::string> supported_wrapper_arguments();
std::vector<std::string> supported_layers_arguments();
std::vector<std::string> supported_xtransformer_arguments();  // besides enc_/dec_ + a wrapper or layers argument
// {"wrapper": [...], "layers": [...], "xtransformer": [...], "continuous":
// [...], "vit": [...]}: the handled arguments by section (`continuous` and
// `vit` are those kinds' `wrapper` tables; `xcompat-native-worker --list-arguments`).
nlohmann::json argument_table();

}  // namespace xcompat::native
