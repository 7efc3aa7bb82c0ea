// Histories for witnesses that need windowed aggregates' values (see
// History in encode.h): the window stage's fold (engine/window/window.cpp),
// written as formulas over a few earlier symbolic events of the same kind.
#include <limits>

#include <fmt/format.h>

#include "analysis/encode.h"

namespace edict::analysis {

struct History::Inputs {
  z3::expr enters;  // the filter holds (no fault)
  z3::expr faults;  // the window stage rejects the event
  std::optional<z3::expr> key, operand;
};

struct History::Earlier {
  std::unique_ptr<SymEvent> event;
  std::vector<std::unique_ptr<ModuleEncoder>> encoders;  // one per module, as modules_
};

History::History(z3::context& ctx, StringUniverse& strings, SymEvent& final_event)
    : ctx_(&ctx), strings_(&strings), final_(&final_event) {}

History::~History() = default;

void History::add_module(const ir::Module& module) {
  const int kind = module.event_index(final_->kind());
  if (kind < 0) return;
  const ir::EventSchema& schema = module.events[static_cast<size_t>(kind)];
  if (schema.time_field < 0) return;
  auto enc = std::make_unique<ModuleEncoder>(*ctx_, module, *strings_, *final_);
  if (!enc->ok()) return;
  for (const ir::Field& f : schema.fields) {
    if (f.aggregate < 0) continue;
    const ir::Aggregate& agg = module.aggregates[static_cast<size_t>(f.aggregate)];
    const ir::AggregateInput* input = nullptr;
    for (const ir::AggregateInput& in : agg.inputs)
      if (in.event == kind) input = &in;
    const SymField* field = final_->field("$" + agg.text, f.type, f.optional);
    if (input && field) aggregates_.push_back(Aggregate{&module, &agg, input, field});
  }
  modules_.push_back(&module);
  final_encoders_.push_back(std::move(enc));
  earlier_.clear();  // encoded for the modules added so far
}

void History::ensure(size_t n) {
  while (earlier_.size() < n) {
    auto e = std::make_unique<Earlier>();
    e->event =
        std::make_unique<SymEvent>(*ctx_, final_->kind(), fmt::format("earlier{}.", earlier_.size() + 1));
    for (const ir::Module* m : modules_)
      e->encoders.push_back(std::make_unique<ModuleEncoder>(*ctx_, *m, *strings_, *e->event));
    earlier_.push_back(std::move(e));
  }
}

History::Inputs History::inputs_of(ModuleEncoder& enc, const Aggregate& a) {
  z3::context& c = *ctx_;
  Inputs out{c.bool_val(true), c.bool_val(false), std::nullopt, std::nullopt};
  z3::expr key_faults = c.bool_val(false), operand_faults = c.bool_val(false);
  if (a.input->key != ir::kNoFunc) {
    FunctionFormula k = enc.function(a.input->key);
    out.key = k.value;
    key_faults = k.faults;
  }
  if (a.input->filter != ir::kNoFunc) {
    FunctionFormula f = enc.function(a.input->filter);
    out.enters = f.returns_true;
    key_faults = key_faults || f.faults;
  }
  if (a.input->operand != ir::kNoFunc) {
    FunctionFormula o = enc.function(a.input->operand);
    out.operand = o.value;
    operand_faults = o.faults;
  }
  // The key and the filter are evaluated for every event, the operand only
  // for one that enters.
  out.faults = key_faults || (out.enters && operand_faults);
  return out;
}

// The value the window stage writes into the final event's field: the fold
// over the earlier events (in time order) that enter its window, then the
// final event itself when it enters.
z3::expr History::fold(const Aggregate& a, size_t n) {
  z3::context& c = *ctx_;
  const size_t module =
      static_cast<size_t>(std::find(modules_.begin(), modules_.end(), a.module) - modules_.begin());
  ModuleEncoder& last_enc = *final_encoders_[module];
  const Inputs last = inputs_of(last_enc, a);
  const z3::expr t = last_enc.time();
  std::vector<z3::expr> constraints{!last.faults};
  struct Entry {
    z3::expr enters;
    std::optional<z3::expr> operand;
  };
  std::vector<Entry> entries;
  for (size_t i = 0; i < n; ++i) {
    ModuleEncoder& enc = *earlier_[i]->encoders[module];
    const Inputs in = inputs_of(enc, a);
    constraints.push_back(!in.faults);
    z3::expr enters = in.enters;
    if (last.key) enters = enters && *in.key == *last.key;
    if (!a.agg->calendar_year) enters = enters && enc.time() > t - c.int_val(a.agg->window);
    entries.push_back(Entry{enters, in.operand});
  }
  entries.push_back(Entry{last.enters, last.operand});

  const z3::expr& value = a.field->value;
  const bool real = a.agg->operand == ir::Ty::Number;
  const z3::expr int_min = c.int_val(std::numeric_limits<int64_t>::min());
  const z3::expr int_max = c.int_val(std::numeric_limits<int64_t>::max());
  const z3::expr real_max = real_of(c, std::numeric_limits<double>::max());
  auto as_real = [&](const z3::expr& e) { return e.is_real() ? e : z3::to_real(e); };
  z3::expr count = c.int_val(0);
  for (const Entry& e : entries) count = count + z3::ite(e.enters, c.int_val(1), c.int_val(0));
  z3::expr any = count > 0;
  switch (a.agg->fn) {
    case ir::AggFn::Count: constraints.push_back(value == count); break;
    case ir::AggFn::CountDistinct: {
      z3::expr distinct = c.int_val(0);
      for (size_t i = 0; i < entries.size(); ++i) {
        z3::expr first = entries[i].enters;
        for (size_t j = 0; j < i; ++j)
          first = first && !(entries[j].enters && *entries[j].operand == *entries[i].operand);
        distinct = distinct + z3::ite(first, c.int_val(1), c.int_val(0));
      }
      constraints.push_back(value == distinct);
      break;
    }
    case ir::AggFn::Sum:
    case ir::AggFn::Avg: {
      // Partial sums in fold order: an int64 sum that overflows, or a
      // double that is not finite, is a fault of the window stage.
      z3::expr sum = real || a.agg->fn == ir::AggFn::Avg ? c.real_val(0) : c.int_val(0);
      for (const Entry& e : entries) {
        z3::expr operand = sum.is_real() ? as_real(*e.operand) : *e.operand;
        sum = z3::ite(e.enters, sum + operand, sum);
        constraints.push_back(sum.is_real() ? sum <= real_max && sum >= -real_max
                                            : sum <= int_max && sum >= int_min);
      }
      if (a.agg->fn == ir::AggFn::Sum) {
        constraints.push_back(value == sum);
      } else {
        constraints.push_back(a.field->present == any);
        constraints.push_back(z3::implies(any, value * z3::to_real(count) == sum));
      }
      break;
    }
    case ir::AggFn::Min:
    case ir::AggFn::Max: {
      const bool max = a.agg->fn == ir::AggFn::Max;
      std::optional<z3::expr> best;
      z3::expr seen = c.bool_val(false);
      for (const Entry& e : entries) {
        const z3::expr& v = *e.operand;
        if (!best) {
          best = v;
        } else {
          z3::expr better = max ? v > *best : v < *best;
          best = z3::ite(e.enters && (!seen || better), v, *best);
        }
        seen = seen || e.enters;
      }
      constraints.push_back(a.field->present == any);
      constraints.push_back(z3::implies(any, value == *best));
      break;
    }
  }
  z3::expr_vector v(c);
  for (const z3::expr& x : constraints) v.push_back(x);
  return z3::mk_and(v);
}

z3::expr History::formula(size_t n) {
  z3::context& c = *ctx_;
  ensure(n);
  z3::expr out = c.bool_val(true);
  if (final_encoders_.empty()) return out;
  // In time order, none later than the final event: no event is late, and
  // the window folds them in this order.
  const z3::expr t = final_encoders_[0]->time();
  for (size_t i = 0; i < n; ++i) {
    const z3::expr ti = earlier_[i]->encoders[0]->time();
    out = out && earlier_[i]->event->domain() && ti <= t;
    if (i > 0) out = out && earlier_[i - 1]->encoders[0]->time() <= ti;
  }
  std::vector<z3::expr> enters_some(n, c.bool_val(false));
  for (const Aggregate& a : aggregates_) {
    out = out && fold(a, n);
    const size_t module =
        static_cast<size_t>(std::find(modules_.begin(), modules_.end(), a.module) - modules_.begin());
    const Inputs last = inputs_of(*final_encoders_[module], a);
    for (size_t i = 0; i < n; ++i) {
      ModuleEncoder& enc = *earlier_[i]->encoders[module];
      const Inputs in = inputs_of(enc, a);
      z3::expr enters = in.enters;
      if (last.key) enters = enters && *in.key == *last.key;
      if (a.agg->calendar_year)
        out = out && enc.time() == t;
      else
        enters = enters && enc.time() > t - c.int_val(a.agg->window);
      enters_some[i] = enters_some[i] || enters;
    }
  }
  // Each earlier event counts for something.
  for (const z3::expr& e : enters_some) out = out && e;
  return out;
}

std::vector<std::string> History::events(const z3::model& model, size_t n) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < n && i < earlier_.size(); ++i)
    out.push_back(witness_json(model, *earlier_[i]->event, *strings_));
  return out;
}

z3::expr History::no_data_found(size_t n) const {
  z3::expr none = ctx_->bool_val(true);
  for (size_t i = 0; i < n && i < earlier_.size(); ++i)
    for (const auto& enc : earlier_[i]->encoders) none = none && enc->no_data_found();
  return none;
}

z3::expr History::small_numbers(size_t n) const {
  z3::context& c = *ctx_;
  const int64_t bound = int64_t{1} << 24;
  z3::expr out = c.bool_val(true);
  auto small = [&](const SymEvent& e, bool numbers) {
    for (const SymField& f : e.fields()) {
      if (f.name.empty() || f.name[0] == '$') continue;
      if (f.type == ir::Ty::Int) out = out && f.value >= c.int_val(-bound) && f.value <= c.int_val(bound);
      if (f.type == ir::Ty::Number && numbers)
        out = out && f.value >= c.real_val(-bound) && f.value <= c.real_val(bound);
    }
  };
  // The final event's numbers are left free: a rule may need a large one
  // (training operations over 1e26).
  small(*final_, false);
  for (size_t i = 0; i < n && i < earlier_.size(); ++i) small(*earlier_[i]->event, true);
  return out;
}

}  // namespace edict::analysis
