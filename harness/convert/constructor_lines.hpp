#pragma once
// The constructor arguments a conversion needs in release B, as the user
// writes them in Python: what `xcompat convert` prints and the Python
// module's report carries.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xcompat {

// {section: {name: value}} -> "TransformerWrapper(..., to_logits = nn.Linear(dim, num_tokens, bias = True))",
// one per section; an XTransformer's arguments as enc_ / dec_ pairs.
std::vector<std::string> constructor_lines(const nlohmann::json& args, const nlohmann::json& spec);

}  // namespace xcompat
