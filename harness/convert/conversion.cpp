#include "harness/convert/conversion.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "harness/convert/tensor_math.hpp"
#include "harness/core/error.hpp"
#include "harness/core/parse_index.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

// The reserved capture {last}: the index of the last layer under the
// captured model prefix {p} (a post-norm model's last layer differs from the
// others). A key matches a pattern naming it only under that layer; a
// pattern rendered with it names that layer.
using LastLayer = std::function<std::optional<int64_t>(const std::string& prefix)>;

std::string prefix_of(const KeyPattern::Captures& caps) { return caps.count("p") ? caps.at("p") : ""; }

bool uses_last(const KeyPattern& p) {
  return std::find(p.names().begin(), p.names().end(), "last") != p.names().end();
}

std::optional<KeyPattern::Captures> match_key(const KeyPattern& p, const std::string& key, const LastLayer& last) {
  auto caps = p.match(key);
  if (!caps || !caps->count("last")) return caps;
  const auto l = last ? last(prefix_of(*caps)) : std::nullopt;
  if (!l || std::to_string(*l) != caps->at("last")) return std::nullopt;
  return caps;
}

std::string render_key(const KeyPattern& p, KeyPattern::Captures caps, const LastLayer& last) {
  if (uses_last(p) && !caps.count("last")) {
    const auto l = last ? last(prefix_of(caps)) : std::nullopt;
    if (!l) throw Error("key pattern '" + p.text() + "' names the last layer, and the checkpoint has no layers under '" +
                        prefix_of(caps) + "'");
    caps["last"] = std::to_string(*l);
  }
  return p.render(caps);
}

// "layers.x" (set, truthy), "mask=padding" / "layers.pre_norm=false"
// (equal), "!layers.x" (not so).
bool spec_condition(const std::string& text, const json& spec) {
  const bool negated = !text.empty() && text[0] == '!';
  const std::string condition = negated ? text.substr(1) : text;
  const auto eq = condition.find('=');
  const std::string path = condition.substr(0, eq);
  const auto dot = path.find('.');
  const json* v = nullptr;
  if (dot == std::string::npos) {
    if (spec.contains(path)) v = &spec[path];
  } else {
    const std::string section = path.substr(0, dot), name = path.substr(dot + 1);
    if (spec.contains(section) && spec[section].contains(name)) v = &spec[section][name];
    // XTransformer routes enc_/dec_ arguments to its two models.
    if (!v && spec.contains("xtransformer"))
      for (auto prefix : {"enc_", "dec_"})
        if (spec["xtransformer"].contains(prefix + name)) v = &spec["xtransformer"][prefix + name];
  }
  bool holds = false;
  if (v && eq != std::string::npos) {
    const std::string want = condition.substr(eq + 1);
    holds = v->is_string() ? v->get<std::string>() == want : v->dump() == want;
  } else if (v) {
    // Set: true, a non-zero number, anything else but null.
    holds = v->is_boolean() ? v->get<bool>() : v->is_number() ? v->get<double>() != 0 : !v->is_null();
  }
  return negated ? !holds : holds;
}

// The symbolic state of the checkpoint while the chain is planned: every
// tensor by its current name, as a program over the input tensors.
struct State {
  std::map<std::string, OutputTensor> tensors;
  // While a change is crossed: the models (prefixes) it holds for; its ops
  // touch only their keys. Null: every key.
  const std::set<std::string>* prefixes = nullptr;

  // The highest layer index under a prefix ({last}).
  std::optional<int64_t> last_layer(const std::string& prefix) const {
    const std::string head = prefix + "attn_layers.layers.";
    std::optional<int64_t> last;
    for (auto it = tensors.lower_bound(head); it != tensors.end() && it->first.rfind(head, 0) == 0; ++it) {
      const std::string rest = it->first.substr(head.size());
      const auto dot = rest.find('.');
      if (dot == std::string::npos) continue;
      const auto index = parse_index(std::string_view(rest).substr(0, dot));
      if (!index) continue;
      const int64_t i = *index;
      last = std::max(last.value_or(i), i);
    }
    return last;
  }
  LastLayer last_of() const {
    return [this](const std::string& prefix) { return last_layer(prefix); };
  }

  // The tensors whose current name matches; `scalar` keeps single-element ones only.
  std::vector<std::pair<std::string, KeyPattern::Captures>> matching(const KeyPattern& p, bool scalar = false) const {
    std::vector<std::pair<std::string, KeyPattern::Captures>> out;
    const LastLayer last = last_of();
    for (auto& [name, t] : tensors) {
      if (prefixes && !prefixes->count(model_prefix(name))) continue;
      if (auto c = match_key(p, name, last))
        if (!scalar || checked_numel(t.info.shape).value_or(0) == 1) out.push_back({name, *c});
    }
    return out;
  }
  std::string render(const KeyPattern& p, const KeyPattern::Captures& caps) const { return render_key(p, caps, last_of()); }
};

struct Planner {
  ConversionPlan& plan;
  State state;
  const ModelFacts& facts;
  const std::vector<std::string>& width_at;  // the history's `width`
  const PlanOptions& options;
  // Arguments whose behaviour a planned adapter restores (effective_spec).
  nlohmann::json adapted_args = nlohmann::json::object();
  // Changes whose computation a tensor adapter restores (layer_norm): their
  // `lossy` is carried.
  std::set<std::string> restored;

  [[noreturn]] void refuse(const std::string& why) { throw Error(why); }

  // The model's width (dim) for the model the captures name: the first
  // `width` alternative it has. Read from its attention layers, so a
  // continuous, ViT or bare-layers model (no token embedding) and an emb_dim
  // other than dim give the width the norms are built with.
  int64_t width(const KeyPattern::Captures& captures, const std::string& change) {
    const std::string prefix = prefix_of(captures);
    for (auto& alternative : width_at) {
      const auto colon = alternative.rfind(':');
      const int axis = std::stoi(alternative.substr(colon + 1));
      for (auto& [name, caps] : state.matching(KeyPattern(alternative.substr(0, colon)))) {
        const auto& shape = state.tensors.at(name).info.shape;
        if (prefix_of(caps) == prefix && axis < static_cast<int>(shape.size())) return shape[axis];
      }
    }
    refuse(fmt::format("change {} needs the model's width (dim), and {} has none of the tensors it is read from", change,
                       prefix.empty() ? "the model" : "the model under '" + prefix + "'"));
  }

  // A shape dimension: a number, "dim" (the model's width), or "<key
  // pattern>:<axis>" read from a tensor.
  int64_t dimension(const std::string& expr, const KeyPattern::Captures& captures, const std::string& change) {
    if (expr == "dim") return width(captures, change);
    if (expr == "heads" || expr == "dim_head") {  // the spec's attention heads and their width (no key's shape gives them)
      const auto& known = expr == "heads" ? facts.heads : facts.dim_head;
      auto hit = known.find(captures.count("p") ? captures.at("p") : "");
      if (hit == known.end() || hit->second <= 0)
        refuse("change " + change + " needs the attention's " + expr + ", which is not known (give the spec: --spec or --specs-file)");
      return hit->second;
    }
    if (auto colon = expr.rfind(':'); colon != std::string::npos) {
      const std::string key = KeyPattern(expr.substr(0, colon)).render(captures);
      const int axis = std::stoi(expr.substr(colon + 1));
      auto it = state.tensors.find(key);
      if (it == state.tensors.end() || axis >= static_cast<int>(it->second.info.shape.size()))
        refuse(fmt::format("change {} needs the shape of {}, which the checkpoint does not have", change, key));
      return it->second.info.shape[axis];
    }
    return std::stoll(expr);
  }

  std::vector<int64_t> shape_of(const std::vector<std::string>& exprs, const KeyPattern::Captures& captures,
                                const std::string& change) {
    std::vector<int64_t> s;
    for (auto& e : exprs) s.push_back(dimension(e, captures, change));
    return s;
  }

  double scale_value(const HistoryOp& op, const KeyPattern::Captures& captures, const std::string& change) {
    if (op.value_expr.empty()) return op.value;
    const double dim = static_cast<double>(width(captures, change));
    if (op.value_expr == "dim ** 0.5") return std::sqrt(dim);
    if (op.value_expr == "dim ** -0.5") return 1.0 / std::sqrt(dim);
    refuse("change " + change + ": unknown value expression '" + op.value_expr + "'");
  }

  void rename(const KeyPattern& from, const KeyPattern& to, bool& touched) {
    std::vector<std::pair<std::string, std::string>> moves;
    for (auto& [name, caps] : state.matching(from)) moves.push_back({name, state.render(to, caps)});
    for (auto& [old_name, new_name] : moves) {
      if (old_name == new_name) continue;
      OutputTensor t = std::move(state.tensors.at(old_name));
      state.tensors.erase(old_name);
      if (state.tensors.count(new_name))
        refuse("renaming " + old_name + " to " + new_name + " would overwrite a tensor the checkpoint already has");
      t.info.name = new_name;
      state.tensors.emplace(new_name, std::move(t));
      touched = true;
    }
  }

  void add_step(const KeyPattern& from, TensorStep step, bool scalar, const std::string& change, bool& touched) {
    for (auto& [name, _] : state.matching(from, scalar)) {
      note_half_precision(change, state.tensors.at(name));
      state.tensors.at(name).steps.push_back(step);
      touched = true;
    }
  }

  // Arithmetic on a half-precision tensor rounds its result to 8 (bfloat16)
  // or 11 (float16) bits: exact for most values, not for all. The outputs
  // may then differ by rounding, which the plan says.
  void note_half_precision(const std::string& change, const OutputTensor& t) {
    if (t.info.dtype != DType::BF16 && t.info.dtype != DType::F16) return;
    const std::string entry =
        fmt::format("{} (arithmetic in {})", change, t.info.dtype == DType::BF16 ? "bfloat16" : "float16");
    if (std::find(plan.rounding.begin(), plan.rounding.end(), entry) == plan.rounding.end()) plan.rounding.push_back(entry);
  }

  // The adapter of the change (upgrading, when the caller accepts adapters)
  // that takes a tensor its drop would lose, and the module it goes to.
  std::optional<std::pair<const HistoryAdapter*, std::string>> adapter_for(const HistoryChange& c, const std::string& name,
                                                                            bool up) const {
    if (!options.adapters || !up) return std::nullopt;
    const LastLayer last = state.last_of();
    for (auto& a : c.adapters)
      if (a.carries_tensor())
        if (auto caps = match_key(a.from, name, last); caps && applies(a, *caps))
          return std::pair(&a, render_key(a.module, *caps, last));
    return std::nullopt;
  }

  // Whether the adapter restores A's function for this model (its when_arg
  // holds: decided by the spec; without one, not assumed).
  bool applies(const HistoryAdapter& a, const KeyPattern::Captures& caps) const {
    return a.when_arg.empty() || when_arg_holds(a.when_arg, spec_for_prefix(effective_spec(), prefix_of(caps))).value_or(false);
  }

  // The behaviour adapters of the change (upgrading, when the caller accepts
  // adapters): one per module its `from` marks in the model as it is here.
  // Empty when the change has none, or they find no module.
  std::vector<AdaptedTensor> behaviour_adapters(const HistoryChange& c, bool up) const {
    std::vector<AdaptedTensor> out;
    if (!options.adapters || !up) return out;
    for (auto& a : c.adapters) {
      if (a.carries_tensor()) continue;
      for (auto& [_, caps] : state.matching(a.from))
        if (applies(a, caps)) out.push_back(AdaptedTensor{"", "", state.render(a.module, caps), a.kind, c.id, 0, {}});
    }
    return out;
  }

  void drop(const HistoryOp& op, const KeyPattern& pattern, double fill, const HistoryChange& c, bool up,
            bool& touched) {
    const std::string& change = c.id;
    for (auto& [name, _] : state.matching(pattern)) {
      OutputTensor& t = state.tensors.at(name);
      if (auto a = adapter_for(c, name, up); a && !op.unused) {
        // Kept for the adapter, under the module that takes it; later
        // renames of the module carry it like its other tensors.
        const std::string key = a->second + "." + adapter_parameter(a->first->kind, name);
        if (a->first->restores_behaviour()) restored.insert(change);
        if (state.tensors.count(key)) refuse("adapting " + name + " would overwrite " + key);
        OutputTensor kept = std::move(t);
        state.tensors.erase(name);
        kept.adapter = AdaptedTensor{kept.sources.size() == 1 && kept.steps.empty() ? kept.sources.front() : "",
                                     "", "", a->first->kind, change, fill, kept.info.shape};
        kept.info.name = key;
        state.tensors.emplace(key, std::move(kept));
        touched = true;
        continue;
      }
      if (op.unused) {
        if (t.sources.size() == 1) plan.dropped.push_back({t.sources.front(), change, fill, true});
      } else {
        // Lossless only if the tensor holds exactly what B implies: known
        // once its data is read (run_conversion). Only a plain input can be checked.
        if (t.sources.size() == 1 && t.steps.empty())
          plan.dropped.push_back({t.sources.front(), change, fill});
        else if (!t.sources.empty() || t.fill != fill)
          plan.lost_behaviour.push_back(change + ": " + name + " is dropped");
      }
      state.tensors.erase(name);
      touched = true;
    }
  }

  // into += through @ from, for each `from` whose `into` and `through` the
  // checkpoint has (under the same captures); `from` is then absorbed. One
  // without them stays, for the drop that follows to lose it.
  void fold(const HistoryOp& op, const std::string& change, bool& touched) {
    for (auto& [name, caps] : state.matching(op.from[0])) {
      const std::string into = state.render(op.to[0], caps), through = state.render(*op.through, caps);
      auto i = state.tensors.find(into), w = state.tensors.find(through);
      if (i == state.tensors.end() || w == state.tensors.end()) continue;
      const auto exact = when_arg_holds(op.when_arg, spec_for_prefix(effective_spec(), prefix_of(caps)));
      if (exact && !*exact) continue;
      if (!exact) {
        const std::string entry = fmt::format("{} ({} fold)", op.when_arg, change);
        if (std::find(plan.undecided.begin(), plan.undecided.end(), entry) == plan.undecided.end()) {
          plan.undecided.push_back(entry);
          plan.notes.push_back(fmt::format("{}: the fold into {} is exact only for a model built with {}; give the "
                                           "spec to decide", change, into, op.when_arg));
        }
      }
      const OutputTensor& v = state.tensors.at(name);
      const auto& ws = w->second.info.shape;
      if (ws.size() != 2 || v.info.shape.size() != 1 || i->second.info.shape.size() != 1 ||
          ws[0] != i->second.info.shape[0] || ws[1] != v.info.shape[0])
        refuse(fmt::format("change {} folds {} [{}] through {} [{}] into {} [{}]: the shapes do not fit", change, name,
                           fmt::join(v.info.shape, ", "), through, fmt::join(ws, ", "), into,
                           fmt::join(i->second.info.shape, ", ")));
      TensorStep s;
      s.kind = TensorStep::AddProduct;
      s.matrix = std::make_shared<const OutputTensor>(w->second);
      s.vector = std::make_shared<const OutputTensor>(v);
      note_half_precision(change, i->second);
      i->second.steps.push_back(std::move(s));
      plan.folded.push_back(fmt::format("{} -> {} ({})", v.sources.size() == 1 ? v.sources.front() : name, into, change));
      state.tensors.erase(name);
      touched = true;
    }
  }

  // A tensor of the op's value beside each key matching `anchor`, in the anchor's dtype.
  void add(const HistoryOp& op, const KeyPattern& anchor, const KeyPattern& to, const std::string& change,
           bool& touched) {
    std::vector<OutputTensor> added;
    for (auto& [name, caps] : state.matching(anchor)) {
      OutputTensor t;
      t.info.name = state.render(to, caps);
      if (state.tensors.count(t.info.name)) continue;  // already there: nothing to add
      t.info.dtype = state.tensors.at(name).info.dtype;
      t.info.shape = shape_of(op.shape, caps, change);
      t.fill = scale_value(op, caps, change);
      added.push_back(std::move(t));
    }
    for (auto& t : added) {
      touched = true;
      state.tensors.emplace(t.info.name, std::move(t));
    }
  }

  // Splits along dim 0 into equal parts.
  void split(const KeyPattern& from, const std::vector<KeyPattern>& to, bool& touched) {
    for (auto& [name, caps] : state.matching(from)) {
      OutputTensor src = state.tensors.at(name);
      const int64_t parts = static_cast<int64_t>(to.size());
      if (src.info.shape.empty() || src.info.shape[0] % parts != 0)
        refuse(fmt::format("{} cannot be split in {} equal parts along its first dimension", name, parts));
      const int64_t rows = src.info.shape[0] / parts;
      state.tensors.erase(name);
      for (int64_t k = 0; k < parts; ++k) {
        OutputTensor t = src;
        t.info.name = to[k].render(caps);
        t.info.shape[0] = rows;
        TensorStep s;
        s.kind = TensorStep::Rows;
        s.row_begin = k * rows;
        s.row_end = (k + 1) * rows;
        t.steps.push_back(s);
        state.tensors.emplace(t.info.name, std::move(t));
      }
      touched = true;
    }
  }

  void concatenate(const std::vector<KeyPattern>& from, const KeyPattern& to, bool& touched) {
    for (auto& [first, caps] : state.matching(from[0])) {
      std::vector<std::string> parts;
      for (auto& p : from) parts.push_back(p.render(caps));
      OutputTensor out;
      out.info = state.tensors.at(first).info;
      out.info.name = to.render(caps);
      out.info.shape[0] = 0;
      for (auto& p : parts) {
        auto it = state.tensors.find(p);
        if (it == state.tensors.end()) refuse("concatenating into " + out.info.name + " needs " + p);
        if (!it->second.steps.empty() || it->second.sources.size() != 1)
          refuse("concatenating " + p + ": only plain input tensors can be concatenated");
        out.sources.push_back(it->second.sources.front());
        out.info.shape[0] += it->second.info.shape[0];
      }
      for (auto& p : parts) state.tensors.erase(p);
      state.tensors.emplace(out.info.name, std::move(out));
      touched = true;
    }
  }

  void apply(const HistoryChange& c, const HistoryOp& op, bool up, bool& touched) {
    const std::string& id = c.id;
    switch (op.kind) {
      case OpKind::Rename:
        up ? rename(op.from[0], op.to[0], touched) : rename(op.to[0], op.from[0], touched);
        break;
      case OpKind::AddConstant: {
        TensorStep s;
        s.kind = TensorStep::AddConstant;
        s.value = up ? op.value : -op.value;
        add_step(op.from[0], s, op.scalar, id, touched);
        break;
      }
      case OpKind::Scale:
        for (auto& [name, caps] : state.matching(op.from[0], op.scalar)) {
          TensorStep s;
          s.kind = TensorStep::Scale;
          const double v = scale_value(op, caps, id);
          s.value = up ? v : 1.0 / v;
          note_half_precision(id, state.tensors.at(name));
          state.tensors.at(name).steps.push_back(s);
          touched = true;
        }
        break;
      case OpKind::PermuteRows:
        for (auto& p : op.from)
          for (auto& [name, caps] : state.matching(p)) {
            auto hit = facts.heads.find(caps.count("p") ? caps.at("p") : "");
            if (hit == facts.heads.end() || hit->second <= 0)
              refuse(fmt::format("change {} reorders {} head by head, and the number of heads is not known "
                                 "(give the spec: --spec or --specs-file)", id, name));
            const std::string rot_key = op.rot_of->render(caps);
            auto rit = state.tensors.find(rot_key);
            if (rit == state.tensors.end() || rit->second.info.shape.empty())
              refuse(fmt::format("change {} needs the rotary width from {}", id, rot_key));
            TensorStep s;
            s.kind = TensorStep::PermuteRows;
            s.heads = hit->second;
            s.rot = 2 * rit->second.info.shape[0];
            s.axis = op.axis;
            s.inverse = !up;
            OutputTensor& t = state.tensors.at(name);
            const auto& shape = t.info.shape;
            // axis 0 and 1 of a projection; axis 2, the last of memory keys [heads, n, dim_head]
            const bool has_axis = op.axis == 0 ? !shape.empty() : shape.size() == static_cast<std::size_t>(op.axis) + 1;
            // Grouped-query keys and values hold kv_heads heads of the same width.
            auto width = facts.dim_head.find(caps.count("p") ? caps.at("p") : "");
            if (has_axis && width != facts.dim_head.end() && width->second > 0 && shape[op.axis] % width->second == 0)
              s.heads = shape[op.axis] / width->second;
            if (op.axis == 2) s.heads = 1;  // the axis is one head's width
            if (!has_axis || shape[op.axis] % s.heads != 0 || shape[op.axis] / s.heads < s.rot)
              refuse(fmt::format("{} with shape [{}] does not hold {} heads of at least {} rotary {}", name,
                                 fmt::join(shape, ", "), s.heads, s.rot, op.axis == 0 ? "rows" : "columns"));
            t.steps.push_back(s);
            touched = true;
          }
        break;
      case OpKind::Reshape:
        if (!up) {
          if (!state.matching(op.from[0]).empty())
            refuse("change " + id + " reshapes tensors; undoing it is not described");
          break;
        }
        for (auto& [name, caps] : state.matching(op.from[0])) {
          TensorStep s;
          s.kind = TensorStep::Reshape;
          s.shape = shape_of(op.shape, caps, id);
          state.tensors.at(name).steps.push_back(s);
          state.tensors.at(name).info.shape = s.shape;
          touched = true;
        }
        break;
      case OpKind::Repeat:
        for (auto& [name, caps] : state.matching(op.from[0])) {
          OutputTensor& t = state.tensors.at(name);
          const std::vector<int64_t> have = shape_of(up ? op.old_shape : op.shape, caps, id),
                                     want = shape_of(up ? op.shape : op.old_shape, caps, id);
          const int64_t n_have = checked_numel(have).value_or(0), n_want = checked_numel(want).value_or(0);
          if (t.info.shape != have || n_have <= 0 || n_want <= 0 || (up ? n_want % n_have : n_have % n_want) != 0)
            refuse(fmt::format("change {} tiles [{}] into [{}]; {} is [{}]", id, fmt::join(up ? have : want, ", "),
                               fmt::join(up ? want : have, ", "), name, fmt::join(t.info.shape, ", ")));
          TensorStep s;
          s.kind = up ? TensorStep::Tile : TensorStep::FirstCopy;
          s.shape = want;
          t.steps.push_back(s);
          t.info.shape = want;
          touched = true;
        }
        break;
      case OpKind::Split:
        up ? split(op.from[0], op.to, touched) : concatenate(op.to, op.from[0], touched);
        break;
      case OpKind::Concatenate:
        up ? concatenate(op.from, op.to[0], touched) : split(op.to[0], op.from, touched);
        break;
      case OpKind::Trim:
        for (auto& [name, caps] : state.matching(op.from[0])) {
          OutputTensor& t = state.tensors.at(name);
          if (op.axis >= static_cast<int>(t.info.shape.size()) || (up && t.info.shape[op.axis] <= op.count))
            refuse(fmt::format("change {} trims {} entries of {}'s dimension {}, which it does not have", id, op.count,
                               name, op.axis));
          TensorStep s;
          s.kind = up ? TensorStep::Trim : TensorStep::Pad;
          s.axis = op.axis;
          s.count = op.count;
          s.value = op.value;
          // What is trimmed was never read: reported as dropped, unused (lossless).
          if (up && t.sources.size() == 1) plan.dropped.push_back({t.sources.front(), id, op.value, true});
          t.steps.push_back(s);
          t.info.shape[op.axis] += up ? -op.count : op.count;
          touched = true;
        }
        break;
      case OpKind::Drop:
        if (up) {
          drop(op, op.from[0], op.value, c, up, touched);
        } else if (op.anchor && !op.shape.empty()) {
          add(op, *op.anchor, op.from[0], id, touched);
        } else {
          // Undoing a drop needs the tensor back: known only when the op
          // says where and how big. Otherwise the older release has a
          // parameter nothing can fill.
          plan.lost_behaviour.push_back(id + ": the older release has " + op.from[0].text() +
                                        ", which the newer checkpoint does not hold");
          touched = true;
        }
        break;
      case OpKind::Fold:
        // Undone by nothing: the older release's `from` is the zero the
        // drop's inverse adds, and `into` already holds the sum.
        if (up) fold(op, id, touched);
        break;
      case OpKind::Add:
        if (up && !op.from.empty()) {
          add(op, op.from[0], op.to[0], id, touched);
        } else if (up) {
          plan.lost_behaviour.push_back(id + ": the newer release has " + op.to[0].text() +
                                        ", and nothing says how to make it");
          touched = true;
        } else {
          drop(op, op.to[0], op.value, c, up, touched);
        }
        break;
    }
  }

  // The change's conditions on the checkpoint (keys, a shape) and the spec.
  // An argument condition without a spec cannot be decided: it is noted.
  // "<key pattern>:<axis>=<n>" or "...:<axis><<n>": some matching tensor's
  // dimension is n, or below n.
  bool shape_holds(const std::string& cond) const {
    const auto colon = cond.rfind(':'), op = cond.find_first_of("=<", colon);
    const KeyPattern key(cond.substr(0, colon));
    const int axis = std::stoi(cond.substr(colon + 1, op - colon - 1));
    const int64_t n = std::stoll(cond.substr(op + 1));
    for (auto& [name, _] : state.matching(key)) {
      const auto& shape = state.tensors.at(name).info.shape;
      if (axis < static_cast<int>(shape.size()) && (cond[op] == '=' ? shape[axis] == n : shape[axis] < n)) return true;
    }
    return false;
  }

  // The models (prefixes) the change holds for: an XTransformer's encoder
  // and decoder are judged each by its own keys and arguments.
  std::set<std::string> holds_for(const HistoryChange& c, bool up) {
    std::set<std::string> present, out;
    for (auto& [name, _] : state.tensors) present.insert(model_prefix(name));
    bool undecided = false;
    for (auto& prefix : present) {
      const std::set<std::string> only = {prefix};
      state.prefixes = &only;
      const bool keys_ok = !c.when || !state.matching(*c.when).empty();
      // The shape condition reads the checkpoint on the side being converted
      // from: the older one upgrading, the newer one downgrading.
      const std::string& shape = up || c.down_when_shape.empty() ? c.when_shape : c.down_when_shape;
      const bool shape_ok = shape.empty() || shape_holds(shape);
      state.prefixes = nullptr;
      if (!keys_ok || !shape_ok) continue;
      const auto holds = spec_condition_holds(c, spec_for_prefix(effective_spec(), prefix));
      if (!holds) undecided = true;
      else if (*holds) out.insert(prefix);
    }
    if (undecided) {
      plan.notes.push_back(fmt::format("{}: applies if the model was built with {} ({}); give the spec to decide",
                                       c.id, c.when_arg, c.reason));
      plan.undecided.push_back(fmt::format("{} ({})", c.when_arg, c.id));
    }
    return out;
  }

  // The spec as B will build it: the arguments chosen for earlier changes
  // count (rotating values by argument makes the interleaving permute them too).
  // So do those whose behaviour an adapter restores instead (an adapter
  // that rotates values makes the interleaving permute them as the argument
  // would).
  json effective_spec() const {
    if (!facts.spec.is_object() || facts.spec.empty() || (plan.args.empty() && adapted_args.empty())) return facts.spec;
    json s = facts.spec;
    for (const json* args : {static_cast<const json*>(&plan.args), static_cast<const json*>(&adapted_args)})
      for (auto& [section, values] : args->items())
        for (auto& [k, v] : values.items()) s[section][k] = v;
    return s;
  }

  void merge_args(const json& args) {
    for (auto& [section, values] : args.items())
      for (auto& [k, v] : values.items()) plan.args[section][k] = v;
  }

  bool is_xtransformer() const {
    if (facts.spec.is_object() && facts.spec.contains("model")) return facts.spec["model"] == "xtransformer";
    for (auto& [name, _] : state.tensors)
      if (name.rfind("encoder.", 0) == 0) return true;
    return false;
  }

  // B can take the arguments: it is recent enough, and (XTransformer) they
  // reach the model: XTransformer routes layer arguments to both of its
  // models, but none of the wrapper arguments a conversion needs.
  bool args_available(const HistoryChange& c, const json& args, bool up) {
    if (up && plan.to.release < c.args_since.value_or(c.at)) return false;
    if (!up && c.down_args_since && plan.to.release < *c.down_args_since) return false;
    if (up && c.args_until && plan.to.release >= *c.args_until) return false;
    if (is_xtransformer() && args.contains("wrapper")) return false;
    return true;
  }

  // The model was built with the arguments that make it compute the other
  // side's way (a 2.x model with tie_embedding_scale = 1.0, going back to
  // 2.16): the change does not lie between the two, whatever the releases.
  bool built_the_other_way(const HistoryChange& c, bool up, const std::set<std::string>& prefixes) const {
    const json& reproducing = up ? c.down_args : c.args;
    if (reproducing.empty() || !facts.spec.is_object() || facts.spec.empty()) return false;
    for (auto& prefix : prefixes)
      if (!spec_has_args(spec_for_prefix(facts.spec, prefix), reproducing)) return false;
    return true;
  }

  // Whether an op finds anything to act on, in the direction crossed: a
  // change whose every op finds nothing (a tied model has no to_logits, a
  // RMSNorm model no LayerNorm bias) does not lie between the two checkpoints.
  bool finds_keys(const HistoryOp& op, bool up) const {
    auto any = [&](const std::vector<KeyPattern>& patterns) {
      for (auto& p : patterns)
        if (!state.matching(p).empty()) return true;
      return false;
    };
    switch (op.kind) {
      case OpKind::Rename: case OpKind::Split: case OpKind::Concatenate: return any(up ? op.from : op.to);
      case OpKind::Drop: return up ? any(op.from) : (!op.anchor || !state.matching(*op.anchor).empty());
      case OpKind::Add: return up ? (op.from.empty() || any(op.from)) : any(op.to);
      case OpKind::Fold: return up && any(op.from);
      default: return any(op.from);
    }
  }

  void cross(const HistoryChange& c, bool up) {
    const std::set<std::string> prefixes = holds_for(c, up);
    if (prefixes.empty()) return;
    {
      state.prefixes = &prefixes;
      const bool relevant = c.ops.empty() || std::any_of(c.ops.begin(), c.ops.end(), [&](auto& op) { return finds_keys(op, up); });
      state.prefixes = nullptr;
      if (!relevant) return;
    }
    if (built_the_other_way(c, up, prefixes)) {
      plan.notes.push_back(fmt::format("{}: the model was built with {}, which already computes as {} does", c.id,
                                       (up ? c.down_args : c.args).dump(), plan.to.release.str()));
      return;
    }
    state.prefixes = &prefixes;
    struct Reset {
      State& s;
      ~Reset() { s.prefixes = nullptr; }
    } reset{state};
    bool touched = false;
    const json& args = up ? c.args : c.down_args;
    const std::string& lossy = up ? c.lossy : c.down_lossy;
    // Arguments, where B has them, reproduce A and the weights stay as they
    // are; otherwise the ops carry what weights can.
    const bool use_args = !args.empty() && args_available(c, args, up);
    if (use_args) {
      merge_args(args);
      plan.by_args.push_back(c.id);
      touched = true;
    } else {
      std::vector<const HistoryOp*> ops;
      for (auto& op : c.ops) ops.push_back(&op);
      if (!up) std::reverse(ops.begin(), ops.end());
      for (auto* op : ops) apply(c, *op, up, touched);
    }
    std::vector<AdaptedTensor> adapted;
    if (!use_args) adapted = behaviour_adapters(c, up);
    if (use_args || restored.count(c.id)) {
    } else if (!adapted.empty()) {
      // B computes otherwise, and an adapter of B's model restores A's way:
      // what the change's arguments would have done, later changes see done.
      plan.adapters.insert(plan.adapters.end(), adapted.begin(), adapted.end());
      for (auto& [section, values] : args.items())
        for (auto& [k, v] : values.items()) adapted_args[section][k] = v;
      touched = true;
    } else if (!args.empty() && c.ops.empty()) {
      plan.lost_behaviour.push_back(fmt::format("{}: {} (the arguments that restore it, {}, exist {}{})", c.id,
                                                lossy.empty() ? c.reason : lossy, args.dump(),
                                                "from " + c.args_since.value_or(c.at).str(),
                                                c.args_until ? " until " + c.args_until->str() : ""));
      touched = true;
    } else if (!lossy.empty()) {
      plan.lost_behaviour.push_back(c.id + ": " + lossy);
      touched = true;
    } else if (c.ops.empty() && c.kind != "rounding" && c.note.empty()) {
      plan.lost_behaviour.push_back(c.id + ": " + c.reason);
      touched = true;
    }
    if (c.rounding_only()) {
      plan.rounding.push_back(c.id);
      touched = true;
    }
    check_incomplete(c, up, prefixes, touched);
    if (!c.note.empty()) {
      plan.notes.push_back(c.id + ": " + c.note);
      touched = true;
    }
    if (touched) plan.changes.push_back(c.id);
  }

  // The recipe's known gaps (`incomplete`): lossy wherever a case holds, or
  // may hold (an argument condition without the spec), so that "lossless"
  // is said only of a conversion proven exact for this model.
  void check_incomplete(const HistoryChange& c, bool up, const std::set<std::string>& prefixes, bool& touched) {
    for (auto& ic : c.incomplete) {
      if (!ic.direction.empty() && (ic.direction == "up") != up) continue;
      const Version& target = plan.to.release;
      if (ic.target_since && target < *ic.target_since) continue;
      if (ic.target_until && !(target < *ic.target_until)) continue;
      if (ic.when && state.matching(*ic.when).empty()) continue;
      if (ic.half && std::none_of(state.tensors.begin(), state.tensors.end(), [](auto& t) {
            return t.second.info.dtype == DType::BF16 || t.second.info.dtype == DType::F16;
          }))
        continue;
      std::string undecided;
      if (!ic.when_arg.empty()) {
        bool holds = false, unknown = false;
        for (auto& prefix : prefixes) {
          const auto h = when_arg_holds(ic.when_arg, spec_for_prefix(effective_spec(), prefix));
          if (!h) unknown = true;
          else holds = holds || *h;
        }
        if (!holds && !unknown) continue;
        if (!holds) undecided = fmt::format(" (if the model was built with {}; give the spec to decide)", ic.when_arg);
      }
      plan.lost_behaviour.push_back(fmt::format("{}: {}{}", c.id, ic.why, undecided));
      touched = true;
    }
  }
};

}  // namespace

const char* conversion_outcome_name(ConversionOutcome o) {
  switch (o) {
    case ConversionOutcome::Unchanged: return "unchanged";
    case ConversionOutcome::Lossless: return "lossless";
    case ConversionOutcome::LosslessWithArgs: return "lossless with arguments";
    case ConversionOutcome::Adapted: return "lossless with an adapter";
    case ConversionOutcome::Lossy: return "lossy";
    case ConversionOutcome::Refused: return "refused";
  }
  return "?";
}

Chain change_chain(const ReleaseHistory& history, const ReleasePoint& from, const ReleasePoint& to) {
  Chain chain;
  for (auto& c : history.changes) {
    const int sa = c.side(from.release), sb = c.side(to.release);
    if ((sa == 0 || sb == 0) && !c.rounding_only() && chain.refused.empty())
      chain.refused = fmt::format("change '{}' ({}) happened {}: {} lies inside that range, so which side it is on "
                                  "is not known",
                                  c.id, c.reason, c.boundary(), (sa == 0 ? from : to).release.str());
    const bool a = change_applies(c, from), b = change_applies(c, to);
    if (b && !a) chain.up.push_back(&c);
    if (a && !b) chain.down.push_back(&c);
  }
  std::reverse(chain.down.begin(), chain.down.end());
  return chain;
}

std::optional<std::pair<int, int>> parse_torch_version(const std::string& text) {
  int major = 0, minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) != 2) return std::nullopt;
  return std::pair(major, minor);
}

ReleasePoint release_point(const Version& release, const std::string& torch_version) {
  ReleasePoint p{release};
  if (auto t = parse_torch_version(torch_version)) std::tie(p.torch_major, p.torch_minor) = *t;
  return p;
}

bool change_applies(const HistoryChange& c, const ReleasePoint& p) {
  if (c.side(p.release) <= 0) return false;
  if (c.torch.empty()) return true;
  const auto at_least = parse_torch_version(c.torch.substr(2));  // ">=2.1"
  if (!at_least) return true;
  return std::pair(p.torch_major, p.torch_minor) >= *at_least;
}

json spec_with_args(json spec, const json& args) {
  for (auto& [section, values] : args.items())
    for (auto& [k, v] : values.items()) {
      if (spec.value("model", "") == "xtransformer") {
        spec["xtransformer"]["enc_" + k] = v;
        spec["xtransformer"]["dec_" + k] = v;
      } else {
        spec[section][k] = v;
      }
    }
  return spec;
}

bool spec_has_args(const json& view, const json& args) {
  if (args.empty() || !view.is_object()) return false;
  for (auto& [section, values] : args.items())
    for (auto& [k, v] : values.items())
      if (!view.contains(section) || !view[section].contains(k) || view[section][k] != v) return false;
  return true;
}

std::string model_prefix(const std::string& key) {
  for (const char* p : {"encoder.", "decoder.net."})
    if (key.rfind(p, 0) == 0) return p;
  return "";
}

json spec_for_prefix(const json& spec, const std::string& prefix) {
  if (prefix.empty() || !spec.is_object() || spec.value("model", "") != "xtransformer") return spec;
  const std::string side = prefix == "encoder." ? "enc_" : "dec_";
  // `within`: the model is one half of an XTransformer (conditions such as
  // "!within=xtransformer" tell it from a model held alone).
  json model = {{"model", prefix == "encoder." ? "encoder" : "decoder"},
                {"within", "xtransformer"},
                {"wrapper", json::object()},
                {"layers", json::object()}};
  if (spec.contains("mask")) model["mask"] = spec["mask"];
  // Arguments B is given (plan args) sit in the plain sections; XTransformer routes layer ones to both models.
  for (const char* section : {"wrapper", "layers"})
    if (spec.contains(section) && spec[section].is_object())
      for (auto& [k, v] : spec[section].items()) model[section][k] = v;
  static const std::set<std::string> wrapper_args = {"num_tokens", "max_seq_len", "emb_dropout", "num_memory_tokens",
                                                     "use_abs_pos_emb", "scaled_sinu_pos_emb", "tie_embedding"};
  const json x = spec.value("xtransformer", json::object());
  for (auto& [k, v] : x.items()) {
    if (k == "dim") model["layers"]["dim"] = v;
    if (k.rfind(side, 0) != 0) continue;
    const std::string name = k.substr(side.size());
    model[wrapper_args.count(name) ? "wrapper" : "layers"][name] = v;
  }
  return model;
}

std::optional<bool> spec_condition_holds(const HistoryChange& c, const json& spec) {
  return when_arg_holds(c.when_arg, spec);
}

std::optional<bool> when_arg_holds(const std::string& when_arg, const json& spec) {
  if (when_arg.empty()) return true;
  if (!spec.is_object() || spec.empty()) return std::nullopt;
  // Conditions separated by commas must all hold; of alternatives separated
  // by bars, one.
  auto split = [](const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
      const auto at = text.find(sep, start);
      parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
      if (at == std::string::npos) return parts;
      start = at + 1;
    }
  };
  for (auto& all : split(when_arg, ',')) {
    bool any = false;
    for (auto& alternative : split(all, '|')) any = any || spec_condition(alternative, spec);
    if (!any) return false;
  }
  return true;
}

namespace {

// A rename applies to a key when its change's spec condition holds (or
// cannot be decided); `{last}` is resolved from the context.
struct KeyRenamer {
  const KeyContext& ctx;
  LastLayer last = [this](const std::string& prefix) -> std::optional<int64_t> {
    auto it = ctx.last_layer.find(prefix);
    if (it == ctx.last_layer.end()) return std::nullopt;
    return it->second;
  };

  bool applies(const HistoryChange& c, const std::string& key) const {
    return spec_condition_holds(c, spec_for_prefix(ctx.spec, model_prefix(key))).value_or(true);
  }

  // One rename, one way: `key` matched against `from`, rendered by `to`.
  void step(const HistoryChange& c, const KeyPattern& from, const KeyPattern& to, std::string& key) const {
    if (!applies(c, key)) return;
    if (auto caps = match_key(from, key, last)) key = render_key(to, *caps, last);
  }
};

}  // namespace

std::string rename_key(const Chain& chain, const std::string& key, const KeyContext& ctx) {
  const KeyRenamer r{ctx};
  std::string k = key;
  for (auto* c : chain.down)
    for (auto it = c->ops.rbegin(); it != c->ops.rend(); ++it)
      if (it->kind == OpKind::Rename) r.step(*c, it->to[0], it->from[0], k);
  for (auto* c : chain.up)
    for (auto& op : c->ops)
      if (op.kind == OpKind::Rename) r.step(*c, op.from[0], op.to[0], k);
  return k;
}

std::string rename_key_back(const Chain& chain, const std::string& key, const KeyContext& ctx) {
  const KeyRenamer r{ctx};
  std::string k = key;
  for (auto it = chain.up.rbegin(); it != chain.up.rend(); ++it)
    for (auto op = (*it)->ops.rbegin(); op != (*it)->ops.rend(); ++op)
      if (op->kind == OpKind::Rename) r.step(**it, op->to[0], op->from[0], k);
  for (auto it = chain.down.rbegin(); it != chain.down.rend(); ++it)
    for (auto& op : (*it)->ops)
      if (op.kind == OpKind::Rename) r.step(**it, op.from[0], op.to[0], k);
  return k;
}

ConversionPlan plan_conversion(const ReleaseHistory& history, const ReleasePoint& from, const ReleasePoint& to,
                               const std::vector<TensorInfo>& inputs, const ModelFacts& facts,
                               const PlanOptions& options) {
  ConversionPlan plan;
  plan.from = from;
  plan.to = to;
  plan.downgrade = to.release < from.release;
  const Chain chain = change_chain(history, from, to);
  if (!chain.refused.empty()) {
    plan.outcome = ConversionOutcome::Refused;
    plan.refused = chain.refused;
    return plan;
  }
  Planner p{plan, {}, facts, history.width, options};
  for (auto& t : inputs) p.state.tensors[t.name] = OutputTensor{t, {t.name}, {}, 0, std::nullopt};
  try {
    for (auto* c : chain.down) p.cross(*c, false);
    for (auto* c : chain.up) p.cross(*c, true);
  } catch (const Error& e) {
    plan.outcome = ConversionOutcome::Refused;
    plan.refused = e.what();
    plan.outputs.clear();
    return plan;
  }
  for (auto& [name, t] : p.state.tensors) {
    if (t.adapter) {
      t.adapter->key = name;
      t.adapter->module = name.substr(0, name.rfind('.'));  // the key less its parameter
      plan.adapters.push_back(*t.adapter);
    }
    plan.outputs.push_back(std::move(t));
  }
  const bool may_lose = std::any_of(plan.dropped.begin(), plan.dropped.end(), [](auto& d) { return !d.unused; });
  if (!plan.lost_behaviour.empty() || may_lose) plan.outcome = ConversionOutcome::Lossy;
  else if (!plan.adapters.empty()) plan.outcome = ConversionOutcome::Adapted;
  else if (!plan.args.empty()) plan.outcome = ConversionOutcome::LosslessWithArgs;
  else if (!plan.changes.empty()) plan.outcome = ConversionOutcome::Lossless;
  else plan.outcome = ConversionOutcome::Unchanged;
  return plan;
}

ModelFacts facts_from_spec(const json& spec) {
  ModelFacts f;
  f.spec = spec;
  if (!spec.is_object()) return f;
  // x-transformers' default is 8 heads.
  auto heads_in = [](const json& section, const std::string& key) -> int64_t {
    return section.contains(key) && section[key].is_number_integer() ? section[key].get<int64_t>() : 8;
  };
  // ... and DEFAULT_DIM_HEAD = 64 wide heads.
  auto dim_head_in = [](const json& section, const std::string& key) -> int64_t {
    return section.contains(key) && section[key].is_number_integer() ? section[key].get<int64_t>() : 64;
  };
  if (spec.value("model", "") == "xtransformer") {
    const json x = spec.value("xtransformer", json::object());
    f.heads["encoder."] = heads_in(x, "enc_heads");
    f.heads["decoder.net."] = heads_in(x, "dec_heads");
    f.dim_head["encoder."] = dim_head_in(x, "enc_attn_dim_head");
    f.dim_head["decoder.net."] = dim_head_in(x, "dec_attn_dim_head");
  } else {
    f.heads[""] = heads_in(spec.value("layers", json::object()), "heads");
    f.dim_head[""] = dim_head_in(spec.value("layers", json::object()), "attn_dim_head");
  }
  return f;
}

json ConversionPlan::to_json() const {
  json dropped_j = json::array();
  for (auto& d : dropped)
    dropped_j.push_back({{"name", d.name}, {"change", d.change_id}, {"fill", d.fill}, {"unused", d.unused}});
  json adapters_j = json::array();
  for (auto& a : adapters)
    adapters_j.push_back({{"tensor", a.name}, {"key", a.key}, {"module", a.module}, {"kind", a.kind},
                          {"change", a.change_id}, {"shape", a.shape}});
  return {{"from", from.release.str()}, {"to", to.release.str()}, {"adapters", adapters_j},
          {"outcome", conversion_outcome_name(outcome)}, {"downgrade", downgrade},
          {"changes", changes}, {"args", args}, {"by_args", by_args},
          {"lost", lost_behaviour}, {"dropped", dropped_j},
          {"folded", folded}, {"rounding", rounding}, {"notes", notes}, {"undecided", undecided}, {"refused", refused}};
}

std::string ConversionPlan::outcome_line() const {
  std::string s = conversion_outcome_name(outcome);
  if (outcome != ConversionOutcome::Refused && outcome != ConversionOutcome::Lossy && !undecided.empty())
    s += fmt::format(", unless the model was built with {}: give the spec to decide", fmt::join(undecided, ", "));
  return s;
}

std::string ConversionPlan::summary() const {
  std::string s = outcome_line();
  if (outcome == ConversionOutcome::Refused) return s + ": " + refused;
  if (!changes.empty()) s += fmt::format(" ({}: {})", changes.size() == 1 ? "1 change" : fmt::format("{} changes", changes.size()), fmt::join(changes, ", "));
  if (!args.empty()) s += "; pass " + args.dump();
  for (auto& a : adapters) s += "; adapted: " + (a.key.empty() ? a.kind + " of " + a.module : a.key);
  for (auto& l : lost_behaviour) s += "; lost: " + l;
  return s;
}

std::vector<std::pair<std::string, double>> measure_dropped(ConversionPlan& plan, const TensorSource& source) {
  std::vector<std::pair<std::string, double>> lossy;
  for (auto& d : plan.dropped) {
    if (d.unused) continue;
    const TensorData t = source(d.name);
    const double worst = max_abs_difference(t, d.fill);
    if (worst != 0 || std::isnan(worst)) lossy.push_back({d.name, worst});
  }
  // An adapter for a tensor that holds only what B implies changes nothing:
  // the tensor is dropped after all, and B's model stays as it is.
  // Only an output_bias: a layer_norm adapter restores a computation
  // whatever its tensors hold.
  std::erase_if(plan.adapters, [&](const AdaptedTensor& a) {
    if (a.kind != "output_bias" || a.name.empty() || max_abs_difference(source(a.name), a.fill) != 0) return false;
    std::erase_if(plan.outputs, [&](const OutputTensor& o) { return o.info.name == a.key; });
    return true;
  });
  const bool open = plan.outcome == ConversionOutcome::Lossy || plan.outcome == ConversionOutcome::Adapted;
  if (!lossy.empty()) plan.outcome = ConversionOutcome::Lossy;
  else if (plan.lost_behaviour.empty() && open)
    plan.outcome = !plan.adapters.empty() ? ConversionOutcome::Adapted
                   : plan.args.empty()    ? ConversionOutcome::Lossless
                                          : ConversionOutcome::LosslessWithArgs;
  return lossy;
}

namespace {

// An output tensor's program run over its sources (a fold's operands are
// programs too, run the same way).
TensorData materialise(const OutputTensor& out, const TensorSource& source) {
  if (out.sources.empty()) return filled(out.info.dtype, out.info.shape, out.fill);
  std::vector<TensorData> parts;
  for (auto& s : out.sources) parts.push_back(source(s));
  TensorData data = parts.size() == 1 ? std::move(parts.front()) : concatenate_rows(parts);
  for (auto& step : out.steps) {
    if (step.kind == TensorStep::AddProduct) add_product(data, materialise(*step.matrix, source), materialise(*step.vector, source));
    else apply_step(data, step);
  }
  return data;
}

}  // namespace

std::vector<std::pair<std::string, double>> run_conversion(ConversionPlan& plan, const TensorSource& source,
                                                           const TensorSink& sink) {
  auto lossy = measure_dropped(plan, source);
  for (auto& out : plan.outputs) {
    const TensorData data = materialise(out, source);
    if (data.shape != out.info.shape)
      throw Error(fmt::format("conversion produced {} with shape [{}], the plan says [{}]", out.info.name,
                              fmt::join(data.shape, ", "), fmt::join(out.info.shape, ", ")));
    sink(out.info, data);
  }
  return lossy;
}

}  // namespace xcompat
