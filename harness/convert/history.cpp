#include "harness/convert/history.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>

#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/toml_file.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

const std::map<std::string, OpKind>& op_kinds() {
  static const std::map<std::string, OpKind> kinds = {
      {"rename", OpKind::Rename},   {"add_constant", OpKind::AddConstant}, {"scale", OpKind::Scale},
      {"permute_rows", OpKind::PermuteRows}, {"reshape", OpKind::Reshape},  {"repeat", OpKind::Repeat}, {"split", OpKind::Split},
      {"concatenate", OpKind::Concatenate},  {"drop", OpKind::Drop},        {"add", OpKind::Add},
      {"trim", OpKind::Trim},       {"fold", OpKind::Fold}};
  return kinds;
}

// The fields an entry or op may have: anything else is a typo, refused.
void only_fields(const json& j, const std::set<std::string>& allowed, const std::string& where) {
  for (auto& [k, _] : j.items())
    if (!allowed.count(k)) throw Error(where + ": unknown field '" + k + "'");
}

std::vector<KeyPattern> patterns(const json& j, const char* field, const std::string& where) {
  std::vector<KeyPattern> out;
  if (!j.contains(field)) return out;
  const json& v = j[field];
  try {
    if (v.is_string()) out.emplace_back(v.get<std::string>());
    else if (v.is_array())
      for (auto& p : v) out.emplace_back(p.get<std::string>());
    else throw Error("a pattern or a list of patterns");
  } catch (const std::exception& e) {
    throw Error(where + ": " + field + ": " + e.what());
  }
  return out;
}

Version version_field(const json& j, const char* field, const std::string& where) {
  if (!j.contains(field) || !j[field].is_string()) throw Error(where + ": missing release string '" + field + "'");
  auto v = Version::parse(j[field].get<std::string>());
  if (!v) throw Error(where + ": '" + field + "' is not an X.Y.Z release: " + j[field].get<std::string>());
  return *v;
}

HistoryOp parse_op(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("op") || !j["op"].is_string()) throw Error(where + ": an op needs `op = \"...\"`");
  const std::string name = j["op"];
  auto it = op_kinds().find(name);
  if (it == op_kinds().end()) {
    std::string known;
    for (auto& [k, _] : op_kinds()) known += (known.empty() ? "" : ", ") + k;
    throw Error(where + ": unknown op '" + name + "' (the vocabulary: " + known + ")");
  }
  only_fields(j, {"op", "from", "to", "value", "permutation", "rot_of", "shape", "old_shape", "unused", "anchor",
                  "scalar", "axis", "count", "into", "through", "when_arg"},
              where + " op " + name);
  HistoryOp op;
  op.kind = it->second;
  op.from = patterns(j, "from", where);
  op.to = patterns(j, op.kind == OpKind::Fold ? "into" : "to", where);
  if (op.kind != OpKind::Fold && (j.contains("into") || j.contains("through") || j.contains("when_arg")))
    throw Error(where + ": op " + name + ": `into`, `through` and `when_arg` belong to a fold");
  op.when_arg = j.value("when_arg", "");
  if (op.kind == OpKind::Fold && j.contains("to")) throw Error(where + ": op fold writes `into`, not `to`");
  if (auto through = patterns(j, "through", where); !through.empty()) op.through = through.front();
  if (j.contains("value")) {
    if (j["value"].is_number()) op.value = j["value"].get<double>();
    else if (j["value"].is_string()) op.value_expr = j["value"].get<std::string>();
    else throw Error(where + ": op " + name + ": value must be a number or an expression");
  }
  op.axis = j.value("axis", 0);
  if (op.kind != OpKind::Trim && op.axis != 0 && op.axis != 1 && !(op.kind == OpKind::PermuteRows && op.axis == 2))
    throw Error(where + ": op " + name + ": axis is 0 (rows) or 1 (columns), or 2 (the last of [heads, n, dim_head])");
  if (op.axis < 0) throw Error(where + ": op " + name + ": axis is a dimension, 0 or more");
  op.count = j.value("count", int64_t{0});
  op.permutation = j.value("permutation", "");
  if (j.contains("rot_of")) op.rot_of.emplace(j["rot_of"].get<std::string>());
  for (auto& d : j.value("shape", json::array())) op.shape.push_back(d.is_string() ? d.get<std::string>() : d.dump());
  for (auto& d : j.value("old_shape", json::array()))
    op.old_shape.push_back(d.is_string() ? d.get<std::string>() : d.dump());
  op.unused = j.value("unused", false);
  op.scalar = j.value("scalar", false);
  if (j.contains("anchor")) op.anchor.emplace(j["anchor"].get<std::string>());

  auto need = [&](bool ok, const char* what) {
    if (!ok) throw Error(where + ": op " + name + " needs " + what);
  };
  switch (op.kind) {
    case OpKind::Rename: need(op.from.size() == 1 && op.to.size() == 1, "one `from` and one `to`"); break;
    case OpKind::AddConstant: need(op.from.size() == 1 && j.contains("value"), "`from` and a numeric `value`"); break;
    case OpKind::Scale:
      need(op.from.size() == 1 && j.contains("value"), "`from` and a `value`");
      break;
    case OpKind::PermuteRows:
      need(!op.from.empty() && op.permutation == "rotary-halves-to-pairs" && op.rot_of.has_value(),
           "`from`, `permutation = \"rotary-halves-to-pairs\"` and `rot_of`");
      break;
    case OpKind::Reshape: need(op.from.size() == 1 && !op.shape.empty(), "`from` and a `shape`"); break;
    case OpKind::Repeat:
      need(op.from.size() == 1 && !op.shape.empty() && !op.old_shape.empty(),
           "`from`, the `old_shape` it tiles and the `shape` it fills");
      break;
    case OpKind::Split: need(op.from.size() == 1 && op.to.size() >= 2, "one `from` and several `to`"); break;
    case OpKind::Concatenate: need(op.from.size() >= 2 && op.to.size() == 1, "several `from` and one `to`"); break;
    case OpKind::Drop: need(op.from.size() == 1, "`from`"); break;
    case OpKind::Trim: need(op.from.size() == 1 && op.count > 0, "`from`, an `axis` and a `count` of 1 or more"); break;
    case OpKind::Fold:
      need(op.from.size() == 1 && op.to.size() == 1 && op.through.has_value() && !j.contains("value"),
           "one `from` (the vector absorbed), one `into` (the bias that absorbs it) and `through` (the matrix between)");
      break;
    case OpKind::Add:
      // Without an anchor and a shape the tensor cannot be made: the op is
      // only ever undone (a downgrade drops it), like a drop without anchor.
      need(op.to.size() == 1 && op.from.size() <= 1 && op.from.empty() == op.shape.empty(),
           "`to`, and an anchor `from` (the key it is added beside) with a `shape`, or neither");
      break;
  }
  need(op.value_expr.empty() || op.value_expr == "dim ** 0.5" || op.value_expr == "dim ** -0.5",
       "a number or one of the expressions \"dim ** 0.5\", \"dim ** -0.5\" as `value`");
  return op;
}

HistoryAdapter parse_adapter(const json& j, const std::string& where_change) {
  const std::string where = where_change + " adapter";
  if (!j.is_object()) throw Error(where + ": each adapter is a table { kind, from, module }");
  only_fields(j, {"kind", "from", "module", "when_arg"}, where);
  const std::string kind = j.value("kind", "");
  if (std::find_if(kAdapterKinds.begin(), kAdapterKinds.end(), [&](const char* k) { return kind == k; }) ==
      kAdapterKinds.end())
    throw Error(where + ": kind must be output_bias, layer_norm, rotate_values, identity or uniform_padded_queries (the vocabulary), "
                "not '" + kind + "'");
  if (!j.contains("from") || !j["from"].is_string() || !j.contains("module") || !j["module"].is_string())
    throw Error(where + ": needs `from` (the tensor a drop would lose) and `module` (B's module that takes it)");
  try {
    return HistoryAdapter{kind, KeyPattern(j["from"].get<std::string>()), KeyPattern(j["module"].get<std::string>()),
                          j.value("when_arg", "")};
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

IncompleteCase parse_incomplete(const json& j, const std::string& where_change) {
  const std::string where = where_change + " incomplete";
  if (!j.is_object()) throw Error(where + ": each case is a table { why = ..., and its conditions }");
  only_fields(j, {"when", "when_arg", "half", "direction", "target_since", "target_until", "why"}, where);
  IncompleteCase ic;
  ic.why = j.value("why", "");
  if (ic.why.empty()) throw Error(where + ": every case needs its one-line `why`");
  if (j.contains("when")) {
    try {
      ic.when.emplace(j["when"].get<std::string>());
    } catch (const std::exception& e) {
      throw Error(where + ": when: " + e.what());
    }
  }
  ic.when_arg = j.value("when_arg", "");
  ic.half = j.value("half", false);
  ic.direction = j.value("direction", "");
  if (!ic.direction.empty() && ic.direction != "up" && ic.direction != "down")
    throw Error(where + ": direction is \"up\" or \"down\", not '" + ic.direction + "'");
  if (j.contains("target_since")) ic.target_since = version_field(j, "target_since", where);
  if (j.contains("target_until")) ic.target_until = version_field(j, "target_until", where);
  return ic;
}

HistoryChange parse_change(const json& j, const std::string& where_file) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string())
    throw Error(where_file + ": a [[change]] without an `id`");
  HistoryChange c;
  c.id = j["id"];
  const std::string where = where_file + " change '" + c.id + "'";
  only_fields(j, {"id", "kind", "reason", "at", "after", "when", "when_shape", "down_when_shape", "when_arg", "torch", "ops", "args",
                  "args_since", "args_until", "down_args", "down_args_since", "lossy", "down_lossy", "note", "exercised",
                  "incomplete", "adapters"},
              where);
  c.kind = j.value("kind", "");
  if (c.kind != "layout" && c.kind != "numeric" && c.kind != "behaviour" && c.kind != "rounding")
    throw Error(where + ": kind must be layout, numeric, behaviour or rounding, not '" + c.kind + "'");
  c.reason = j.value("reason", "");
  if (c.reason.empty()) throw Error(where + ": every change needs its one-line `reason`");
  c.at = version_field(j, "at", where);
  if (j.contains("after")) {
    c.after = version_field(j, "after", where);
    if (!(*c.after < c.at)) throw Error(where + ": `after` must come before `at`");
  }
  if (j.contains("when")) {
    try {
      c.when.emplace(j["when"].get<std::string>());
    } catch (const std::exception& e) {
      throw Error(where + ": when: " + e.what());
    }
  }
  c.when_shape = j.value("when_shape", "");
  c.down_when_shape = j.value("down_when_shape", "");
  for (auto* s : {&c.when_shape, &c.down_when_shape})
    if (!s->empty() && (s->rfind(':') == std::string::npos || s->find_first_of("=<", s->rfind(':')) == std::string::npos))
      throw Error(where + ": a shape condition reads \"<key pattern>:<axis>=<n>\" or \"<key pattern>:<axis><<n>\"");
  c.when_arg = j.value("when_arg", "");
  c.note = j.value("note", "");
  c.torch = j.value("torch", "");
  if (!c.torch.empty() && c.torch.rfind(">=", 0) != 0) throw Error(where + ": torch must read \">=X.Y\"");
  for (auto& op : j.value("ops", json::array())) c.ops.push_back(parse_op(op, where));
  c.args = j.value("args", json::object());
  c.down_args = j.value("down_args", json::object());
  for (auto* a : {&c.args, &c.down_args})
    for (auto& [section, values] : a->items())
      if ((section != "wrapper" && section != "layers" && section != "xtransformer") || !values.is_object())
        throw Error(where + ": args are given per section: wrapper, layers or xtransformer, each a table");
  if (j.contains("args_since")) c.args_since = version_field(j, "args_since", where);
  if (j.contains("args_until")) c.args_until = version_field(j, "args_until", where);
  if (j.contains("down_args_since")) c.down_args_since = version_field(j, "down_args_since", where);
  c.lossy = j.value("lossy", "");
  c.down_lossy = j.value("down_lossy", "");
  c.exercised = j.value("exercised", "");
  for (auto& ic : j.value("incomplete", json::array())) c.incomplete.push_back(parse_incomplete(ic, where));
  for (auto& a : j.value("adapters", json::array())) c.adapters.push_back(parse_adapter(a, where));
  c.written = j;
  return c;
}

}  // namespace

const char* op_kind_name(OpKind k) {
  for (auto& [name, kind] : op_kinds())
    if (kind == k) return name.c_str();
  return "?";
}

json HistoryOp::to_json() const {
  json j = {{"op", op_kind_name(kind)}};
  auto list = [](const std::vector<KeyPattern>& v) {
    json a = json::array();
    for (auto& p : v) a.push_back(p.text());
    return a;
  };
  if (!from.empty()) j["from"] = list(from);
  if (!to.empty()) j[kind == OpKind::Fold ? "into" : "to"] = list(to);
  if (through) j["through"] = through->text();
  if (!when_arg.empty()) j["when_arg"] = when_arg;
  if (kind == OpKind::Trim) j["count"] = count;
  if (kind == OpKind::AddConstant || kind == OpKind::Scale || kind == OpKind::Add || (kind == OpKind::Trim && value != 0))
    j["value"] = value_expr.empty() ? json(value) : json(value_expr);
  if (!permutation.empty()) j["permutation"] = permutation;
  if (axis != 0) j["axis"] = axis;
  if (!shape.empty()) j["shape"] = shape;
  if (!old_shape.empty()) j["old_shape"] = old_shape;
  if (unused) j["unused"] = true;
  return j;
}

std::string adapter_parameter(const std::string& kind, const std::string& tensor) {
  if (kind == "layer_norm") return "xcompat_layer_norm_" + tensor.substr(tensor.rfind('.') + 1);
  return kOutputBiasParameter;
}

json HistoryAdapter::to_json() const {
  json j = {{"kind", kind}, {"from", from.text()}, {"module", module.text()}};
  if (!when_arg.empty()) j["when_arg"] = when_arg;
  return j;
}

std::string HistoryChange::boundary() const {
  if (exact()) return "at " + at.str();
  return "between " + after->str() + " and " + at.str();
}

int HistoryChange::side(const Version& release) const {
  if (release >= at) return 1;
  if (exact() || release <= *after) return -1;
  return 0;
}

json HistoryChange::to_json() const {
  json ops_j = json::array();
  for (auto& op : ops) ops_j.push_back(op.to_json());
  json j = {{"id", id}, {"kind", kind}, {"reason", reason}, {"boundary", boundary()}, {"at", at.str()}, {"ops", ops_j}};
  if (after) j["after"] = after->str();
  if (!args.empty()) j["args"] = args;
  if (!down_args.empty()) j["down_args"] = down_args;
  if (!lossy.empty()) j["lossy"] = lossy;
  if (!down_lossy.empty()) j["down_lossy"] = down_lossy;
  if (!adapters.empty()) {
    j["adapters"] = json::array();
    for (auto& a : adapters) j["adapters"].push_back(a.to_json());
  }
  return j;
}

const HistoryChange* ReleaseHistory::find(const std::string& id) const {
  for (auto& c : changes)
    if (c.id == id) return &c;
  return nullptr;
}

const HistoryChange& ReleaseHistory::change(const std::string& id) const {
  if (auto* c = find(id)) return *c;
  throw Error("the release history has no change '" + id + "' (matrix/history.toml)");
}

ReleaseHistory load_history(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error("no release history at " + path.string());
  const json j = parse_toml_file(path);
  const std::string where = path.string();
  only_fields(j, {"format", "covers", "width", "change"}, where);
  if (j.value("format", 0) != 1) throw Error(where + ": format must be 1");
  ReleaseHistory h;
  const json covers = j.value("covers", json::array());
  if (!covers.is_array() || covers.size() != 2) throw Error(where + ": covers = [\"oldest\", \"newest\"] is required");
  const json range = {{"oldest", covers[0]}, {"newest", covers[1]}};
  h.oldest = version_field(range, "oldest", where + " covers");
  h.newest = version_field(range, "newest", where + " covers");
  if (h.newest < h.oldest) throw Error(where + ": covers lists the oldest release first");
  for (auto& w : j.value("width", json::array())) {
    const std::string text = w.is_string() ? w.get<std::string>() : w.dump();
    const auto colon = text.rfind(':');
    try {
      if (colon == std::string::npos || text.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
          colon + 1 == text.size())
        throw Error("not \"<key pattern>:<axis>\"");
      KeyPattern(text.substr(0, colon));
    } catch (const std::exception& e) {
      throw Error(where + ": width '" + text + "': " + e.what());
    }
    h.width.push_back(text);
  }
  std::set<std::string> ids;
  for (auto& c : j.value("change", json::array())) {
    h.changes.push_back(parse_change(c, where));
    if (!ids.insert(h.changes.back().id).second) throw Error(where + ": change '" + h.changes.back().id + "' twice");
    for (auto& op : h.changes.back().ops) {
      const bool names_dim = !op.value_expr.empty() || std::count(op.shape.begin(), op.shape.end(), "dim") > 0;
      if (names_dim && h.width.empty())
        throw Error(where + " change '" + h.changes.back().id +
                    "': an op names dim, and the history has no `width` (where a model's width is read)");
    }
  }
  // Boundary order, so a chain of changes applies in release order.
  std::stable_sort(h.changes.begin(), h.changes.end(),
                   [](const HistoryChange& a, const HistoryChange& b) { return a.at < b.at; });
  h.source_hash = sha256_file(path);
  return h;
}

std::filesystem::path default_history_path() {
  if (const char* p = std::getenv("XCOMPAT_HISTORY"); p && *p) return p;
  return project_root() / "matrix" / "history.toml";
}

namespace {
const ReleaseHistory* g_override = nullptr;
}

const ReleaseHistory& release_history() {
  if (g_override) return *g_override;
  static std::once_flag once;
  static ReleaseHistory h;
  std::call_once(once, [] { h = load_history(default_history_path()); });
  return h;
}

ScopedReleaseHistory::ScopedReleaseHistory(ReleaseHistory h) : previous_(g_override), history_(std::move(h)) {
  g_override = &history_;
}

ScopedReleaseHistory::~ScopedReleaseHistory() { g_override = previous_; }

}  // namespace xcompat
