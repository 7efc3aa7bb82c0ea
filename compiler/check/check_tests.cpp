// Examples and tests: example events (with `other with { ... }` bases), test
// steps (`given` an example or an inline event, `with` overrides) and their
// expectations (a decision and the rules that must fire).
#include <fmt/format.h>

#include <algorithm>

#include "compiler/check/checker_internal.h"

namespace edict::check::detail {

namespace {

std::string field_list(const std::vector<std::string>& names, size_t max_shown = 6) {
  std::string out;
  const size_t shown = std::min<size_t>(names.size(), max_shown);
  for (size_t i = 0; i < shown; ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += "`" + names[i] + "`";
  }
  if (names.size() > shown) out += fmt::format(" and {} more", names.size() - shown);
  return out;
}

}  // namespace

void Checker::event_record(const ast::Expr& rec, int record, bool complete, Span missing_at, FileId file,
                           const ast::Decl* owner, EventValue& event) {
  if (rec.kind != ast::ExprKind::RecordLit) {
    if (rec.kind == ast::ExprKind::Error) return;
    auto& diag = sink_.error("E0200", rec.span, "expected the event's fields");
    diag.help = "write them in braces: `{ time: 2024-03-01T00:00:00Z, chip: \"H100-SXM5-80GB\" }`";
    return;
  }
  const RecordSchema& schema = out_.records[record];
  out_.expr_types[rec.id] = Type{TypeKind::Record, TypeKind::Error, record, false};
  if (event.fields.size() != schema.fields.size()) event.fields.assign(schema.fields.size(), Value{});
  event.record = record;
  std::vector<Span> given(schema.fields.size());
  Scope s;
  s.file = file;
  s.owner = owner;
  RecordLiteralText text{
      fmt::format("event `{}`", schema.name), true, [&](const ast::FieldInit& f, const ast::Expr& value) {
        auto& diag = sink_.error("E0401", value.span,
                                 fmt::format("the value of `{}` must be known at compile time", f.name));
        diag.help = "an example gives each field as a literal, like `64` or `\"CN\"`";
      }};
  record_literal_fields(rec, schema, s, text, event.fields, given);
  if (!complete) return;
  std::vector<std::string> missing;
  for (size_t i = 0; i < schema.fields.size(); ++i) {
    const Type& t = schema.fields[i].type;
    if (!given[i].valid() && !t.optional && !t.is_error() && event.fields[i].kind == TypeKind::Error)
      missing.push_back(schema.fields[i].name);
  }
  if (missing.empty()) return;
  auto& diag = sink_.error("E0400", missing_at,
                           fmt::format("this `{}` event is missing {} {}", schema.name,
                                       missing.size() == 1 ? "field" : "fields", field_list(missing)));
  diag.help = "give every field that is not optional (`T?`); declare a field `T?` if events may lack it";
}

// ---- examples -------------------------------------------------------------------------

void Checker::check_examples() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Example) continue;
      example_state_[d.get()].index = static_cast<int>(out_.examples.size());
      out_.examples.push_back(static_cast<const ast::ExampleDecl*>(d.get()));
      out_.example_events.emplace_back();
    }
  }
  for (const auto* d : out_.examples) ensure_example(*d);
}

void Checker::ensure_example(const ast::ExampleDecl& d) {
  ExampleState& st = example_state_[&d];
  if (st.state == State::Done) return;
  if (st.state == State::InProgress) {
    auto& diag = sink_.error("E0406", d.base.span, fmt::format("example `{}` is based on itself", d.name));
    diag.help = "an example is based on another one that gives every field";
    return;
  }
  if (lazy_depth_ >= 200) {
    sink_.error("E0406", d.base.span,
                fmt::format("example `{}` is based on too many nested examples", d.name));
    return;
  }
  st.state = State::InProgress;
  const FileId file = file_of(&d);
  Scope scope;
  scope.file = file;
  scope.owner = &d;

  int record = -1;
  if (!out_.events.empty()) {
    const ast::Decl* k =
        resolve_global(d.event_kind.name, d.event_kind.span, file, "event kind", event_kind_names(), "E0102");
    if (k && k->kind != ast::DeclKind::Event) {
      auto& diag =
          sink_.error("E0111", d.event_kind.span,
                      fmt::format("`{}` is {}, not an event kind", d.event_kind.name, a_decl_kind(k->kind)));
      diag.labels.push_back({k->name_span, "declared here"});
    } else if (k) {
      auto it = event_record_.find(k);
      if (it != event_record_.end()) record = it->second;
    }
  }

  EventValue event;
  bool base_ok = true;
  if (!d.base.name.empty()) {
    base_ok = false;
    const ast::Decl* b = resolve_global(d.base.name, d.base.span, file, "example",
                                        names_of({ast::DeclKind::Example}, file), "E0106");
    if (b && b->kind != ast::DeclKind::Example) {
      auto& diag = sink_.error("E0111", d.base.span,
                               fmt::format("`{}` is {}, not an example", d.base.name, a_decl_kind(b->kind)));
      diag.labels.push_back({b->name_span, "declared here"});
    } else if (b) {
      mark_used(b, scope);
      const auto& base = static_cast<const ast::ExampleDecl&>(*b);
      ++lazy_depth_;
      ensure_example(base);
      --lazy_depth_;
      const ExampleState& bs = example_state_[b];
      if (bs.state == State::Done && bs.ok && bs.index >= 0) {
        const EventValue& be = out_.example_events[bs.index];
        if (record >= 0 && be.record >= 0 && be.record != record) {
          auto& diag =
              sink_.error("E0402", d.base.span,
                          fmt::format("`{}` is a `{}` example, but `{}` is a `{}`", base.name,
                                      out_.records[be.record].name, d.name, out_.records[record].name));
          diag.labels.push_back({base.event_kind.span, "its kind"});
        } else {
          event = be;
          base_ok = true;
        }
      }
    }
  }
  bool ok = record >= 0;
  if (record >= 0 && d.value) {
    size_t before = sink_.error_count();
    // Without a base every field must be given; with a broken base the missing
    // fields would only repeat that error.
    event_record(*d.value, record, d.base.name.empty(), d.name_span, file, &d, event);
    ok = base_ok && sink_.error_count() == before;
  }
  ExampleState& done = example_state_[&d];
  if (done.index >= 0) out_.example_events[done.index] = std::move(event);
  done.ok = ok;
  done.state = State::Done;
}

// ---- tests ------------------------------------------------------------------------------

void Checker::check_tests() {
  std::vector<std::string> decisions = out_.outcomes;
  decisions.push_back("error");
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Test) continue;
      const auto& test = static_cast<const ast::TestDecl&>(*d);
      TestInfo info;
      info.decl = &test;
      Scope scope;
      scope.file = m->file;
      scope.owner = &test;
      if (test.steps.empty()) {
        auto& diag = sink_.warning("W0105", test.name_span, "this test checks nothing");
        diag.help = "add a step: `given example_name expect deny by rule_name`";
      }
      for (const ast::TestStep& step : test.steps) {
        TestStepInfo si;
        si.step = &step;
        int record = -1;
        if (!step.inline_kind.name.empty()) {
          const ast::Decl* k = out_.events.empty()
                                   ? nullptr
                                   : resolve_global(step.inline_kind.name, step.inline_kind.span, m->file,
                                                    "event kind", event_kind_names(), "E0102");
          if (k && k->kind != ast::DeclKind::Event) {
            auto& diag = sink_.error(
                "E0111", step.inline_kind.span,
                fmt::format("`{}` is {}, not an event kind", step.inline_kind.name, a_decl_kind(k->kind)));
            diag.labels.push_back({k->name_span, "declared here"});
            if (k->kind == ast::DeclKind::Example)
              diag.help =
                  fmt::format("to change an example's fields write `given {} with {{ ... }}`", k->name);
          } else if (k) {
            auto it = event_record_.find(k);
            if (it != event_record_.end()) record = it->second;
          }
          if (record >= 0 && step.overrides)
            event_record(*step.overrides, record, true, step.inline_kind.span, m->file, &test, si.event);
        } else if (!step.example.name.empty()) {
          const ast::Decl* x = lookup(step.example.name, m->file);
          if (x && x->kind == ast::DeclKind::Event) {
            auto& diag = sink_.error("E0403", step.example.span,
                                     fmt::format("`{}` is an event kind, not an example", step.example.name));
            diag.help = fmt::format("give the event's fields: `given {} {{ ... }}`, or name an example",
                                    step.example.name);
            x = nullptr;
          } else {
            x = resolve_global(step.example.name, step.example.span, m->file, "example",
                               names_of({ast::DeclKind::Example}, m->file), "E0106");
            if (x && x->kind != ast::DeclKind::Example) {
              auto& diag = sink_.error(
                  "E0111", step.example.span,
                  fmt::format("`{}` is {}, not an example", step.example.name, a_decl_kind(x->kind)));
              diag.labels.push_back({x->name_span, "declared here"});
              x = nullptr;
            }
          }
          if (x) {
            mark_used(x, scope);
            const ExampleState& st = example_state_[x];
            if (st.index >= 0) {
              si.event = out_.example_events[st.index];
              record = si.event.record;
            }
            if (record >= 0 && step.overrides)
              event_record(*step.overrides, record, false, step.example.span, m->file, &test, si.event);
          }
        }
        for (const ast::Expectation& exp : step.expects) {
          ExpectInfo ei;
          ei.span = exp.span;
          ei.only = exp.only;
          const std::string& dec = exp.decision.name;
          if (dec == "error") {
            ei.decision = -1;
          } else if ((ei.decision = outcome_index(dec)) < 0 && !dec.empty()) {
            auto& diag = sink_.error("E0104", exp.decision.span, fmt::format("unknown decision `{}`", dec));
            std::string near = this->near(dec, decisions);
            diag.help = near.empty()
                            ? fmt::format("the decisions, nearest first, are {}",
                                          field_list(nearest_first(dec, decisions), decisions.size()))
                            : fmt::format("did you mean `{}`?", near);
          }
          for (const ast::Ident& r : exp.rules) {
            const ast::Decl* rd = resolve_global(r.name, r.span, m->file, "rule",
                                                 names_of({ast::DeclKind::Rule}, m->file), "E0105");
            if (!rd) continue;
            if (rd->kind != ast::DeclKind::Rule) {
              auto& diag = sink_.error("E0111", r.span,
                                       fmt::format("`{}` is {}, not a rule", r.name, a_decl_kind(rd->kind)));
              diag.labels.push_back({rd->name_span, "declared here"});
              continue;
            }
            int ri = rule_index_.at(rd);
            const RuleInfo& rule = out_.rules[ri];
            if (record >= 0 && !rule.kinds.empty() &&
                std::find(rule.kinds.begin(), rule.kinds.end(), record) == rule.kinds.end()) {
              auto& diag = sink_.error(
                  "E0404", r.span,
                  fmt::format("rule `{}` does not apply to `{}` events", r.name, out_.records[record].name));
              diag.labels.push_back({rd->name_span, "the rule is declared here"});
              continue;
            }
            if (std::find(ei.rules.begin(), ei.rules.end(), ri) == ei.rules.end()) ei.rules.push_back(ri);
          }
          si.expects.push_back(std::move(ei));
        }
        if (step.expects.empty()) {
          auto& diag = sink_.warning("W0105", step.span, "this step expects nothing");
          diag.help = "say what the decision must be: `expect deny by rule_name`";
        }
        info.steps.push_back(std::move(si));
      }
      out_.tests.push_back(std::move(info));
    }
  }
}

}  // namespace edict::check::detail
