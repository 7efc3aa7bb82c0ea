// Decision diffs: schema compatibility, per-row comparison, the summary.
#include "tools/diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "engine/output.h"

namespace edict::tools {
using namespace engine;  // the engine this tool drives
namespace {

std::string describe_field(const ir::Field& f) {
  return fmt::format("{}{}", ir::ty_name(f.type), f.optional ? "?" : "");
}

std::string_view decision_of(const Policy& p, const Results& r, uint32_t row) {
  uint8_t d = r.decision[row];
  if (d == EDICT_DECISION_SKIPPED || d == EDICT_DECISION_ERROR) return "error";
  return p.outcome_name(d);
}

void append_names(std::string& out, const std::vector<std::string>& names, const std::vector<uint32_t>& ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, names[ids[i]]);
  }
  out += ']';
}

}  // namespace

std::vector<std::string> schema_differences(const Policy& old_policy, const Policy& new_policy) {
  std::vector<std::string> out;
  const ir::Module& a = old_policy.module();
  const ir::Module& b = new_policy.module();
  for (const ir::EventSchema& ea : a.events) {
    int j = b.event_index(ea.name);
    if (j < 0) {
      out.push_back(fmt::format("event kind `{}` is declared only in the old policy", ea.name));
      continue;
    }
    const ir::EventSchema& eb = b.events[static_cast<size_t>(j)];
    // A windowed aggregate's value (`$aggN`) is a field the window stage
    // writes, not one read from the input: a version that adds or drops an
    // aggregate still reads the same events.
    for (const ir::Field& fa : ea.fields) {
      if (fa.aggregate >= 0) continue;
      int k = eb.field_index(fa.name);
      if (k < 0) {
        out.push_back(fmt::format("field `{}.{}` ({}) is declared only in the old policy", ea.name, fa.name,
                                  describe_field(fa)));
        continue;
      }
      const ir::Field& fb = eb.fields[static_cast<size_t>(k)];
      if (fa.type != fb.type || fa.optional != fb.optional)
        out.push_back(fmt::format("field `{}.{}` is {} in the old policy but {} in the new one", ea.name,
                                  fa.name, describe_field(fa), describe_field(fb)));
    }
    for (const ir::Field& fb : eb.fields)
      if (fb.aggregate < 0 && ea.field_index(fb.name) < 0)
        out.push_back(fmt::format("field `{}.{}` ({}) is declared only in the new policy", ea.name, fb.name,
                                  describe_field(fb)));
    std::string ta = ea.time_field >= 0 ? ea.fields[static_cast<size_t>(ea.time_field)].name : "";
    std::string tb = eb.time_field >= 0 ? eb.fields[static_cast<size_t>(eb.time_field)].name : "";
    if (ta != tb)
      out.push_back(
          fmt::format("event kind `{}` takes its time from `{}` in the old policy but `{}` in the new one",
                      ea.name, ta, tb));
  }
  for (const ir::EventSchema& eb : b.events)
    if (a.event_index(eb.name) < 0)
      out.push_back(fmt::format("event kind `{}` is declared only in the new policy", eb.name));
  return out;
}

bool batches_shareable(const Policy& a, const Policy& b) {
  const abi::Schema& sa = a.schema();
  const abi::Schema& sb = b.schema();
  if (a.module().strings != b.module().strings || sa.kinds.size() != sb.kinds.size() ||
      sa.columns.size() != sb.columns.size())
    return false;
  for (size_t c = 0; c < sa.columns.size(); ++c)
    if (sa.columns[c].name != sb.columns[c].name || sa.columns[c].type != sb.columns[c].type ||
        sa.columns[c].optional != sb.columns[c].optional)
      return false;
  for (size_t k = 0; k < sa.kinds.size(); ++k) {
    const abi::KindSpec& ka = sa.kinds[k];
    const abi::KindSpec& kb = sb.kinds[k];
    if (ka.name != kb.name || ka.time_field != kb.time_field || ka.fields.size() != kb.fields.size())
      return false;
    for (size_t f = 0; f < ka.fields.size(); ++f) {
      const abi::FieldSpec& fa = ka.fields[f];
      const abi::FieldSpec& fb = kb.fields[f];
      if (fa.name != fb.name || fa.type != fb.type || fa.optional != fb.optional || fa.column != fb.column ||
          fa.read != fb.read)
        return false;
    }
  }
  return true;
}

DecisionDiff::DecisionDiff(const Policy& old_policy, const Policy& new_policy, size_t max_examples)
    : old_(&old_policy), new_(&new_policy), max_examples_(max_examples) {
  std::unordered_map<std::string, uint32_t> ids;
  auto id_of = [&](const std::string& name) {
    auto [it, inserted] = ids.emplace(name, static_cast<uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  };
  for (const ir::Rule& r : old_policy.module().rules) old_id_.push_back(id_of(r.name));
  for (const ir::Rule& r : new_policy.module().rules) new_id_.push_back(id_of(r.name));
}

void DecisionDiff::compare(const abi::Batch& old_batch, const Results& old_results,
                           const abi::Batch& new_batch, const Results& new_results, std::string* records) {
  auto fired = [](const Results& r, uint32_t row, const std::vector<uint32_t>& id,
                  std::vector<uint32_t>& out) {
    out.clear();
    const uint64_t* words = r.fired.data() + size_t{row} * r.fired_words;
    for (uint32_t w = 0; w < r.fired_words; ++w)
      for (uint64_t bits = words[w]; bits; bits &= bits - 1) {
        size_t rule = size_t{w} * 64 + static_cast<size_t>(__builtin_ctzll(bits));
        if (rule < id.size()) out.push_back(id[rule]);
      }
    std::sort(out.begin(), out.end());
  };
  const uint32_t rows = std::min(old_batch.size(), new_batch.size());
  events_ += rows;
  for (uint32_t row = 0; row < rows; ++row) {
    std::string_view da = decision_of(*old_, old_results, row), db = decision_of(*new_, new_results, row);
    // An event that failed to decode fires nothing in either version.
    bool skipped = old_results.decision[row] == EDICT_DECISION_SKIPPED;
    if (skipped) {
      a_.clear();
    } else {
      fired(old_results, row, old_id_, a_);
    }
    if (new_results.decision[row] == EDICT_DECISION_SKIPPED)
      b_.clear();
    else
      fired(new_results, row, new_id_, b_);
    if (da == db && a_ == b_) continue;
    ++changed_;
    added_.clear();
    removed_.clear();
    std::set_difference(b_.begin(), b_.end(), a_.begin(), a_.end(), std::back_inserter(added_));
    std::set_difference(a_.begin(), a_.end(), b_.begin(), b_.end(), std::back_inserter(removed_));
    Transition& t = transitions_[{std::string(da), std::string(db)}];
    ++t.events;
    for (uint32_t n : added_) ++t.added[names_[n]];
    for (uint32_t n : removed_) ++t.removed[names_[n]];
    std::string_view id = skipped ? std::string_view() : new_batch.id(row);
    if (t.examples.size() < max_examples_)
      t.examples.push_back(id.empty() ? fmt::format("line {}", new_batch.line(row)) : std::string(id));
    if (!records) continue;
    std::string& out = *records;
    out += fmt::format("{{\"line\":{}", new_batch.line(row));
    if (!id.empty()) {
      out += ",\"id\":";
      append_json_string(out, id);
    }
    if (new_results.decision[row] != EDICT_DECISION_SKIPPED) {
      out += ",\"kind\":";
      append_json_string(out, new_->module().events[new_batch.kind(row)].name);
    }
    out += ",\"old\":{\"decision\":";
    append_json_string(out, da);
    out += ",\"rules\":";
    append_names(out, names_, a_);
    out += "},\"new\":{\"decision\":";
    append_json_string(out, db);
    out += ",\"rules\":";
    append_names(out, names_, b_);
    out += "},\"added\":";
    append_names(out, names_, added_);
    out += ",\"removed\":";
    append_names(out, names_, removed_);
    out += "}\n";
  }
}

std::string DecisionDiff::render() const {
  std::string out =
      fmt::format("{} events, {} changed ({:.2f}%)\n", with_commas(events_), with_commas(changed_),
                  events_ ? 100.0 * static_cast<double>(changed_) / static_cast<double>(events_) : 0.0);
  if (transitions_.empty()) return out;
  auto rules = [](const std::map<std::string, uint64_t>& m) {
    std::string s;
    for (const auto& [name, n] : m)
      s += fmt::format("{}{} ({})", s.empty() ? "" : ", ", name, with_commas(n));
    return s.empty() ? std::string("-") : s;
  };
  struct Row {
    std::string transition, events, added, removed, examples;
  };
  std::vector<Row> table{{"transition", "events", "rules added", "rules removed", "examples"}};
  // Most frequent transitions first.
  std::vector<std::pair<std::pair<std::string, std::string>, const Transition*>> order;
  for (const auto& [k, t] : transitions_) order.push_back({k, &t});
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& x, const auto& y) { return x.second->events > y.second->events; });
  for (const auto& [k, t] : order) {
    std::string ex;
    for (size_t i = 0; i < t->examples.size(); ++i) ex += (i ? ", " : "") + t->examples[i];
    table.push_back(
        {k.first + " -> " + k.second, with_commas(t->events), rules(t->added), rules(t->removed), ex});
  }
  size_t w[4] = {0, 0, 0, 0};
  for (const Row& r : table) {
    w[0] = std::max(w[0], r.transition.size());
    w[1] = std::max(w[1], r.events.size());
    w[2] = std::max(w[2], r.added.size());
    w[3] = std::max(w[3], r.removed.size());
  }
  for (const Row& r : table)
    out += fmt::format("  {:<{}}  {:>{}}  {:<{}}  {:<{}}  {}\n", r.transition, w[0], r.events, w[1], r.added,
                       w[2], r.removed, w[3], r.examples);
  return out;
}

}  // namespace edict::tools
