#include "harness/convert/causes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace xcompat {

using json = nlohmann::json;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')).substr(0, 200); }

std::string sample(const std::vector<std::string>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size() && i < 3; ++i) out += (out.empty() ? "" : ", ") + keys[i];
  if (keys.size() > 3) out += fmt::format(" and {} more", keys.size() - 3);
  return out;
}

}  // namespace

json Cause::to_json() const { return {{"kind", kind}, {"change", change}, {"detail", detail}}; }

json causes_json(const std::vector<Cause>& causes) {
  json j = json::array();
  for (auto& c : causes) j.push_back(c.to_json());
  return j;
}

std::string causes_line(const json& causes) {
  std::string out;
  if (!causes.is_array()) return out;
  for (auto& c : causes) {
    out += out.empty() ? "" : ", ";
    out += c.value("kind", "?");
    if (!c.value("change", "").empty()) out += " (" + c.value("change", "") + ")";
  }
  return out;
}

std::vector<Cause> explain_cell(const ReleaseHistory& history, const CellResult& direct, const ConversionPlan& plan) {
  std::vector<Cause> causes;
  if (direct.verdict == Verdict::Error) return {{"error", "", first_line(direct.error)}};
  if (plan.outcome == ConversionOutcome::Refused) return {{"refused", "", plan.refused}};

  // What each crossed change does, by the ops it carries.
  for (auto& id : plan.changes) {
    const HistoryChange& c = history.change(id);
    std::set<std::string> kinds;
    for (auto& op : c.ops) {
      switch (op.kind) {
        case OpKind::Rename: kinds.insert("renamed"); break;
        case OpKind::Drop: kinds.insert(plan.downgrade ? "added" : "removed"); break;
        case OpKind::Add: kinds.insert(plan.downgrade ? "removed" : "added"); break;
        case OpKind::PermuteRows: case OpKind::Reshape: case OpKind::Repeat: case OpKind::Split: case OpKind::Concatenate: case OpKind::Trim:
          kinds.insert(c.kind == "layout" ? "reshaped" : "computation");
          break;
        case OpKind::AddConstant: case OpKind::Scale: kinds.insert("computation"); break;
        case OpKind::Fold: break;  // absorbs what the change's drop removes: the drop names it
      }
    }
    // A change that depends on a tensor's dimension (when_shape) is one where
    // the releases build that tensor in other shapes: B's model differs in it.
    if (!c.when_shape.empty() || !c.down_when_shape.empty()) kinds.insert("reshaped");
    // A layout change without ops: its tensors change shape in a way no op
    // carries (its loss is named), yet it is what the load report shows.
    if (c.kind == "layout" && c.ops.empty()) kinds.insert("reshaped");
    if (c.rounding_only()) kinds.insert("rounding");
    if (c.kind == "behaviour") kinds.insert("computation");
    if (std::find(plan.by_args.begin(), plan.by_args.end(), id) != plan.by_args.end()) kinds.insert("argument");
    for (auto& k : kinds) causes.push_back({k, id, c.reason});
  }

  if (direct.verdict == Verdict::LoadFail) {
    // Every key the load report names must be accounted for by the plan:
    // a missing key is one the conversion produces, an unexpected key one it
    // renames or drops.
    // A change carried by B's arguments keeps its keys as they are: B,
    // built with them, expects exactly those.
    std::set<std::string> produced;
    for (auto& o : plan.outputs) produced.insert(o.info.name);
    auto by_args = [&](const std::string& key) {
      for (auto& id : plan.by_args)
        for (auto& op : history.change(id).ops)
          for (auto* list : {&op.from, &op.to})
            for (auto& p : *list)
              if (p.match(key)) return true;
      return false;
    };
    std::vector<std::string> missing, unexpected;
    for (auto& k : direct.load_report.missing)
      if (!produced.count(k) && !by_args(k)) missing.push_back(k);
    for (auto& k : direct.load_report.unexpected)
      if (produced.count(k) && !by_args(k)) unexpected.push_back(k);
    if (!missing.empty()) causes.push_back({"unexplained", "", "B expects " + sample(missing) + ", which no change provides"});
    if (!unexpected.empty())
      causes.push_back({"unexplained", "", "B does not take " + sample(unexpected) + ", which no change removes"});
    bool any_layout = false;
    for (auto& c : causes) any_layout |= c.kind == "renamed" || c.kind == "removed" || c.kind == "added" || c.kind == "reshaped";
    if (!any_layout && missing.empty() && unexpected.empty())
      causes.push_back({"unexplained", "", "the keys differ, and no change of layout lies between the releases"});
  } else if (direct.verdict == Verdict::Drift) {
    bool any = false;
    for (auto& c : causes) any |= c.kind == "computation" || c.kind == "rounding" || c.kind == "argument" || c.kind == "reshaped";
    if (!any) causes.push_back({"unexplained", "", "same keys, other outputs, and no change of computation lies between the releases"});
  }
  return causes;
}

}  // namespace xcompat
