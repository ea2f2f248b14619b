#include "matrix/run_change.hpp"

#include <map>

namespace xcompat {

const char* change_kind_name(ChangeKind k) {
  switch (k) {
    case ChangeKind::Regressed: return "regressed";
    case ChangeKind::Fixed: return "fixed";
    case ChangeKind::Changed: return "changed";
    case ChangeKind::Flaky: return "flaky";
    case ChangeKind::New: return "new";
  }
  return "";
}

std::optional<ChangeKind> classify(std::optional<Verdict> before, Verdict after, bool flaky) {
  if (!before) return ChangeKind::New;
  if (*before == after) return flaky ? std::optional{ChangeKind::Flaky} : std::nullopt;
  if (verdict_passes(*before) && !verdict_passes(after)) return ChangeKind::Regressed;
  if (!verdict_passes(*before) && verdict_passes(after)) return ChangeKind::Fixed;
  return ChangeKind::Changed;
}

MatrixDiff diff_matrices(const std::vector<StoredResult>& before, const std::vector<StoredResult>& after,
                         int64_t before_run) {
  std::map<CellKey, Verdict> was;
  for (auto& r : before) was[r.cell.key] = r.cell.verdict;
  MatrixDiff d;
  for (auto& r : after) {
    const CellResult& now = r.cell;
    auto it = was.find(now.key);
    const std::optional<Verdict> prior = it == was.end() ? std::nullopt : std::optional{it->second};
    CellChange ch{now.key, ChangeKind::Changed, prior, now.verdict, now.flaky};
    if (now.flaky && r.run_id > before_run) d.flaky.push_back({ch.key, ChangeKind::Flaky, prior, now.verdict, true});
    const auto kind = classify(prior, now.verdict, false);
    if (!kind) continue;
    ch.kind = *kind;
    if (ch.kind == ChangeKind::Regressed) d.regressed.push_back(ch);
    else if (ch.kind == ChangeKind::Fixed) d.fixed.push_back(ch);
    else d.changed.push_back(ch);
  }
  return d;
}

MatrixDiff diff_runs(Store& store, int64_t before_run, int64_t after_run) {
  return diff_matrices(store.verdicts_as_of(before_run), store.verdicts_as_of(after_run), before_run);
}

}  // namespace xcompat
