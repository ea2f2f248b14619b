#include "reports/conversion_sections.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "harness/core/version.hpp"
#include "reports/html_writer.hpp"

namespace xcompat::report {

using json = nlohmann::json;

namespace {

template <class... Args>
void put(std::string& o, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(o), f, std::forward<Args>(args)...);
}

// The history is the project's own file: its text is Markdown already
// (backticks for code). A table cell only needs its pipes escaped, inside
// code spans too (GFM splits cells first).
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    if (c == '\n') {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}
std::string code(const std::string& s) { return "`" + cell(s) + "`"; }

// An op in a few words, its patterns as code.
std::string describe_op(const HistoryOp& op) {
  auto pats = [](const std::vector<KeyPattern>& v) {
    std::string s;
    for (auto& p : v) s += (s.empty() ? "" : ", ") + code(p.text());
    return s;
  };
  const std::string value = op.value_expr.empty() ? fmt::format("{:g}", op.value) : op.value_expr;
  switch (op.kind) {
    case OpKind::Rename: return "rename " + pats(op.from) + " → " + pats(op.to);
    case OpKind::AddConstant: return fmt::format("add {} to {}", value, pats(op.from));
    case OpKind::Scale: return fmt::format("scale {} by {}", pats(op.from), value);
    case OpKind::PermuteRows:
      return fmt::format("permute the {} of {} ({})", op.axis == 0 ? "rows" : "columns", pats(op.from), op.permutation);
    case OpKind::Reshape: return "reshape " + pats(op.from);
    case OpKind::Split: return "split " + pats(op.from) + " into " + pats(op.to);
    case OpKind::Concatenate: return "concatenate " + pats(op.from) + " into " + pats(op.to);
    case OpKind::Drop:
      return "drop " + pats(op.from) + (op.unused ? " (never used)" : fmt::format(" (lossless if all {})", value));
    case OpKind::Add: return fmt::format("add {} = {}", pats(op.to), value);
    case OpKind::Trim:
      return fmt::format("trim the last {} of {} along axis {} (never read; padded with {} going down)", op.count,
                         pats(op.from), op.axis, value);
    case OpKind::Fold:
      return fmt::format("fold {} through {} into {}{}", pats(op.from), code(op.through->text()), pats(op.to),
                         op.when_arg.empty() ? "" : " (with " + code(op.when_arg) + ")");
  }
  return "?";
}

std::string carried_by(const HistoryChange& c) {
  std::vector<std::string> parts;
  if (!c.args.empty())
    parts.push_back(fmt::format("B built with {}{}{}", code(c.args.dump()),
                                c.args_since ? " (from " + c.args_since->str() + ")" : "",
                                c.args_until ? " (until " + c.args_until->str() + ")" : ""));
  for (auto& op : c.ops) parts.push_back(describe_op(op));
  for (auto& a : c.adapters)
    parts.push_back(fmt::format("with an adapter: {} of {} takes {}", a.kind, code(a.module.text()), code(a.from.text())));
  if (!c.down_args.empty()) parts.push_back("downgrade: A built with " + code(c.down_args.dump()));
  std::string s;
  for (auto& p : parts) s += (s.empty() ? "" : "; ") + p;
  return s.empty() ? "—" : s;
}

std::string when(const HistoryChange& c) {
  std::vector<std::string> w;
  if (c.when) w.push_back("key " + code(c.when->text()));
  if (!c.when_shape.empty()) w.push_back(code(c.when_shape));
  if (!c.down_when_shape.empty()) w.push_back("downgrading " + code(c.down_when_shape));
  if (!c.when_arg.empty()) w.push_back(code(c.when_arg));
  if (!c.torch.empty()) w.push_back("torch " + c.torch);
  std::string s;
  for (auto& x : w) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "always" : s;
}

std::string era_of(const std::string& v) { return v.substr(0, v.find('.')) + ".x"; }

}  // namespace

std::string history_rules_markdown(const ReleaseHistory& h) {
  std::string o = fmt::format("Generated from `matrix/history.toml` ({} entries) by `xcompat report --format markdown "
                              "--section history` (scripts/gen_docs).\n\n",
                              h.changes.size());
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"layout", "Layout: names and shapes"},
      {"numeric", "Numeric: the same names, values transformed"},
      {"behaviour", "Behaviour: computations no weight reproduces"},
      {"rounding", "Rounding: the same function, other rounding"}};
  for (auto& [kind, title] : kinds) {
    put(o, "### {}\n\n| boundary | entry | why | when | carried by | lost (up / down) |\n|---|---|---|---|---|---|\n", title);
    for (auto& c : h.changes) {
      if (c.kind != kind) continue;
      std::string lost = c.lossy.empty() && c.down_lossy.empty()
                             ? "—"
                             : cell(c.lossy.empty() ? "—" : c.lossy) + " / " + cell(c.down_lossy.empty() ? "—" : c.down_lossy);
      // Where the recipe is not exact: lossy in those cases, either way unless a direction is given.
      for (auto& ic : c.incomplete) {
        std::string where = ic.direction.empty() ? "" : ic.direction + "grading";
        auto add = [&](const std::string& part) { where += (where.empty() ? "" : ", ") + part; };
        if (ic.when) add("with " + code(ic.when->text()));
        if (!ic.when_arg.empty()) add("built with " + code(ic.when_arg));
        if (ic.half) add("half precision");
        if (ic.target_since) add("into " + ic.target_since->str() + (ic.target_until ? " – " + ic.target_until->str() : "+"));
        lost += "<br>incomplete (" + where + "): " + cell(ic.why);
      }
      put(o, "| {} | {} | {}{} | {} | {} | {} |\n", c.boundary(), code(c.id), cell(c.reason),
          c.note.empty() ? "" : " *(" + cell(c.note) + ")*", when(c), carried_by(c), lost);
    }
    o += "\n";
  }
  return o;
}

std::vector<EntryCoverage> history_coverage(const ReleaseHistory& h, const std::vector<StoredResult>& matrix) {
  std::map<std::string, EntryCoverage> by_id;
  for (auto& c : h.changes) by_id[c.id].change = &c;
  std::map<std::string, std::set<std::string>> specs;
  for (auto& r : matrix) {
    const json& conv = r.cell.conversion;
    if (!conv.is_object()) continue;
    for (auto& id : conv.value("changes", json::array())) {
      auto it = by_id.find(id.get<std::string>());
      if (it == by_id.end()) continue;  // an entry since removed from the history
      ++it->second.crossed;
      if (r.cell.verdict == Verdict::Converted || r.cell.verdict == Verdict::Adapted) {
        ++it->second.converted;
        specs[it->first].insert(r.cell.key.spec);
      }
      if (conv.value("outcome", "") == "lossy") ++it->second.lossy;
    }
  }
  std::vector<EntryCoverage> out;
  for (auto& c : h.changes) {
    EntryCoverage e = by_id.at(c.id);
    e.specs.assign(specs[c.id].begin(), specs[c.id].end());
    out.push_back(e);
  }
  return out;
}

std::string coverage_markdown(const ReportData& d, const ReleaseHistory& h) {
  const auto cov = history_coverage(h, d.current);
  int flagged = 0;
  for (auto& e : cov) flagged += e.flagged();
  std::string o = fmt::format(
      "Measured: the matrix as of run #{}, {} cells; generated by `xcompat report --format markdown --section "
      "coverage` (or `xcompat history --coverage`; scripts/gen_docs). "
      "{} of {} entries are exercised by at least one CONVERTED or ADAPTED cell; the {} flagged ⚑ are by none (their specs are "
      "not in the catalogue, or nothing carries them).\n\n"
      "| entry | boundary | cells crossing | CONVERTED or ADAPTED | lossy | their specs |\n|---|---|--:|--:|--:|---|\n",
      d.runs.empty() ? 0 : d.runs.back().id, d.current.size(), cov.size() - flagged, cov.size(), flagged);
  for (auto& e : cov) {
    std::string specs;
    for (auto& s : e.specs) specs += (specs.empty() ? "" : ", ") + md(s);
    put(o, "| {}{} | {} | {} | {} | {} | {} |\n", e.flagged() ? "⚑ " : "", code(e.change->id), e.change->boundary(),
        e.crossed, e.converted, e.lossy, specs.empty() ? "—" : specs);
  }
  return o;
}

std::string conversion_markdown(const ReportData& d) {
  // Only release consumers convert; a cell counts where its direct path did not pass.
  struct Tally {
    int non_passing = 0, converted = 0, adapted = 0, lossy = 0, refused = 0, rounding = 0, error = 0, unexplained = 0,
        other = 0;
  };
  // dtype, direction, A era, B era; and dtype, direction
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Tally> by_pair;
  std::map<std::pair<std::string, std::string>, Tally> by_direction;
  for (auto& r : d.current) {
    const CellResult& c = r.cell;
    if (!c.direct_verdict) continue;
    const auto a = Version::parse(c.key.producer), b = Version::parse(c.key.consumer);
    if (!a || !b) continue;
    const std::string dir = *a < *b ? "upgrade" : "downgrade";
    bool unexplained = false, rounding = false, error = false;
    if (c.causes.is_array())
      for (auto& cause : c.causes) {
        unexplained |= cause.value("kind", "") == "unexplained";
        rounding |= cause.value("kind", "") == "rounding" && cause.value("detail", "").rfind("converted", 0) == 0;
        error |= cause.value("kind", "") == "error";
      }
    const std::string outcome = c.conversion.is_object() ? c.conversion.value("outcome", "") : "";
    const std::string& dt = c.key.dtype;
    for (Tally* t : {&by_pair[{dt, dir, era_of(c.key.producer), era_of(c.key.consumer)}], &by_direction[{dt, dir}]}) {
      ++t->non_passing;
      if (c.verdict == Verdict::Converted) ++t->converted;
      else if (c.verdict == Verdict::Adapted) ++t->adapted;
      else if (unexplained) ++t->unexplained;
      else if (outcome == "lossy") ++t->lossy;
      else if (outcome == "refused") ++t->refused;
      else if (rounding) ++t->rounding;
      else if (error) ++t->error;
      else ++t->other;
    }
  }
  auto pct = [](int n, int of) { return of ? fmt::format("{:.1f}%", 100.0 * n / of) : std::string("—"); };
  std::string o = fmt::format(
      "Measured: the matrix as of run #{}, {} cells; generated by `xcompat report --format markdown --section "
      "conversion` (scripts/gen_docs). A row counts the cells whose checkpoint does not pass as it is (LOAD_FAIL or "
      "DRIFT) in a release consumer; CONVERTED passes after `xcompat convert`, ADAPTED after `xcompat convert "
      "--adapter` with B's model adapted (the plain conversion lossy); the share counts both. The rest are lossy "
      "even with the history's adapters (what is lost is named), refused (why), rounding (every weight carried; the releases compute the same function with other "
      "rounding, beyond the dtype's tolerance), error (B fails on the converted checkpoint) or unexplained (a gap "
      "in the history).\n\n"
      "| dtype | direction | saved by | loaded by | not passing | CONVERTED | ADAPTED | share | lossy | refused | "
      "rounding | error | unexplained |\n|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
      d.runs.empty() ? 0 : d.runs.back().id, d.current.size());
  auto row = [&](const std::string& dt, const std::string& dir, const std::string& a, const std::string& b,
                 const Tally& t) {
    put(o, "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", dt, dir, a, b, t.non_passing,
        t.converted, t.adapted, pct(t.converted + t.adapted, t.non_passing), t.lossy, t.refused, t.rounding, t.error,
        t.unexplained + t.other);
  };
  std::set<std::string> dtypes;
  for (auto& [k, _] : by_direction) dtypes.insert(k.first);
  for (auto& dt : dtypes)
    for (const char* dir : {"upgrade", "downgrade"}) {
      for (auto& [k, t] : by_pair)
        if (std::get<0>(k) == dt && std::get<1>(k) == dir) row(dt, dir, std::get<2>(k), std::get<3>(k), t);
      if (by_direction.count({dt, dir})) row(dt, std::string("**") + dir + "s**", "all", "all", by_direction[{dt, dir}]);
    }
  return o;
}

}  // namespace xcompat::report
