// Specs outside the catalogue (tests/data/native_extra_specs.toml), each a
// new combination of supported features, made by every pinned release
// through `xcompat fixtures --specs-file`.
#include "native_test_support.hpp"

using namespace native_test;

TEST_CASE("specs outside the catalogue built from supported features match every release that builds them", "[native]") {
  const std::string specs_file = std::string(XCOMPAT_TEST_DATA) + "/native_extra_specs.toml";
  const auto refs = make_fixtures({}, {}, specs_file);  // every pinned release
  std::map<std::string, int> checked;
  for (const auto& f : refs) {
    if (!f.ready()) continue;
    const PortCell c = evaluate_with_port(f.dir);
    INFO(describe(f, c));
    CHECK(passes(c.verdict));
    ++checked[f.spec];
  }
  // every spec is exercised, the older ones by releases of several eras
  CHECK(checked.size() == 9);
  CHECK(checked["native-decoder-padded-alibi-postnorm"] >= 15);
  CHECK(checked["native-decoder-scalenorm-postnorm"] >= 15);
  CHECK(checked["native-xtransformer-mixed"] >= 15);
  CHECK(checked["native-encoder-rotary-memory"] >= 15);
  CHECK(checked["native-decoder-learned-value-residual"] >= 5);
  CHECK(checked["native-decoder-sandwich"] == 17);  // every pin: sandwich_norm is as old as the pins
  CHECK(checked["native-decoder-grouped-query"] >= 12);  // every pin from 1.19.1
  CHECK(checked["native-decoder-softclamp"] >= 7);       // every pin from 1.42.17
  CHECK(checked["native-decoder-only-attn"] >= 1);       // 2.31.10
}
