#include "harness/sweep/plan.hpp"

#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/identity.hpp"

namespace xcompat {

Shard Shard::parse(const std::string& text) {
  Shard s;
  char slash = 0;
  if (std::sscanf(text.c_str(), "%d%c%d", &s.index, &slash, &s.count) != 3 || slash != '/' || s.count < 1 ||
      s.index < 1 || s.index > s.count)
    throw Error("--shard wants K/N with 1 <= K <= N, not '" + text + "'");
  return s;
}

bool Shard::owns(const CellKey& key) const {
  if (count == 1) return true;
  // Hash of the cell's name, not its position: a shard keeps its cells when
  // the plan grows, so CI jobs stay comparable run to run.
  const std::string h = sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}", key.spec, key.producer, key.consumer, key.device,
                                               key.dtype, key.checkpoint));
  return std::stoull(h.substr(0, 12), nullptr, 16) % static_cast<unsigned long long>(count) ==
         static_cast<unsigned long long>(index - 1);
}

void build_plan(Plan& plan, const Shard& shard) {
  plan.cells.clear();
  plan.variants.clear();
  for (auto& spec : plan.specs)
    for (auto& dtype : spec.dtypes(plan.dtypes)) {
      const Spec& variant = plan.variants.emplace_back(spec.variant(dtype));
      for (auto& checkpoint : plan.checkpoints)
        for (auto& producer : plan.producers)
          for (auto& consumer : plan.consumers) {
            // Cached decoding and the deployment artifacts are the producer's
            // own model (made from its .pt); cached decoding is a decoder's.
            if (checks_own_model(consumer.kind) && checkpoint != "pt") continue;
            if ((consumer.kind == "decode" || consumer.kind == "cpp-decode") &&
                spec.definition.value("model", "") != "decoder")
              continue;
            if (!consumer.takes(spec.name, dtype)) continue;
            CellKey key{spec.name, producer.version, consumer.name, "cpu", dtype, checkpoint};
            if (shard.owns(key)) plan.cells.push_back({key, &variant, &producer, &consumer});
          }
    }
}

std::string cell_cache_key(const CellKey& key, const Spec& variant, const std::string& fixture_content,
                           const Consumer& consumer, const Tolerance& tol, const std::string& conversion) {
  // The cell's own name is part of the key: two cells may share their
  // fixture content (an UNSUPPORTED reason, say) and must not share a result.
  return sha256_hex(fmt::format("cell-v3\nspec={}\nspec-definition={}\nproducer={}\nfixture={}\n"
                                "consumer={}@{}\ntolerance={}\njudge={}\ndevice={}\ndtype={}\ncheckpoint={}\n"
                                "conversion={}\n",
                                key.spec, variant.content_hash(), key.producer, fixture_content, consumer.name,
                                consumer.version, tol.to_json().dump(), judge_identity(), key.device, key.dtype,
                                key.checkpoint, conversion));
}

}  // namespace xcompat
