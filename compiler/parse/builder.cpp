// The one walk over ANTLR's parse tree that builds Edict's AST: spans in
// bytes, literals decoded and range-checked, rule clauses gathered, message
// strings split into interpolations. Contexts damaged by error recovery are
// expected (missing children, conjured tokens): they become ExprKind::Error or
// empty names, never a crash, and never a second diagnostic.

#include <antlr4-runtime.h>
#include <cstdlib>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "compiler/parse/builder.h"
#include "support/time_util.h"

namespace edict::parse::detail {

namespace {

using P = edict_antlr::EdictParser;
using ast::Expr;
using ast::ExprKind;
using ast::ExprPtr;

bool real(const antlr4::Token* t) {
  return t && t->getStartIndex() != INVALID_INDEX && t->getTokenIndex() != INVALID_INDEX;
}
bool real(antlr4::tree::TerminalNode* n) {
  return n && real(n->getSymbol());
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the escape starting at body[i] (a backslash) into `out`; returns
// the number of bytes consumed. Reports E0008 for anything unknown.
size_t decode_escape(Session& s, std::string_view body, size_t i, uint32_t base, std::string& out) {
  auto bad = [&](size_t len, std::string message, std::string help) {
    s.error(kBadEscape, s.span(base + uint32_t(i), base + uint32_t(i + len)), std::move(message)).help =
        std::move(help);
    return len;
  };
  const char* kKnown = "valid escapes are \\\", \\\\, \\n, \\t, \\r, \\{, \\} and \\u{XXXX}";
  if (i + 1 >= body.size()) return bad(1, "string ends in a lone `\\`", kKnown);
  char c = body[i + 1];
  switch (c) {
    case '"': out += '"'; return 2;
    case '\\': out += '\\'; return 2;
    case 'n': out += '\n'; return 2;
    case 't': out += '\t'; return 2;
    case 'r': out += '\r'; return 2;
    case '{': out += '{'; return 2;
    case '}': out += '}'; return 2;
    case 'u': {
      size_t j = i + 2;
      if (j >= body.size() || body[j] != '{')
        return bad(2, "invalid escape `\\u`", "write `\\u{XXXX}` with 1 to 6 hex digits");
      uint32_t cp = 0;
      size_t digits = 0;
      for (++j; j < body.size() && std::isxdigit(static_cast<unsigned char>(body[j])) && digits < 7;
           ++j, ++digits)
        cp = cp * 16 + uint32_t(std::isdigit(static_cast<unsigned char>(body[j]))
                                    ? body[j] - '0'
                                    : (std::tolower(static_cast<unsigned char>(body[j])) - 'a' + 10));
      if (j >= body.size() || body[j] != '}' || digits == 0 || digits > 6)
        return bad(std::min(j, body.size()) - i,
                   "invalid escape `" + std::string(body.substr(i, std::min(j, body.size()) - i)) + "`",
                   "write `\\u{XXXX}` with 1 to 6 hex digits");
      size_t len = j + 1 - i;
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return bad(len, "escape `" + std::string(body.substr(i, len)) + "` is not a Unicode scalar value",
                   "surrogates (D800-DFFF) and code points above 10FFFF cannot appear in text");
      append_utf8(out, cp);
      return len;
    }
    default: {
      // Report the whole (possibly multi-byte) character after the backslash.
      size_t len = 2;
      while (i + len < body.size() && (static_cast<unsigned char>(body[i + len]) & 0xC0) == 0x80) ++len;
      return bad(len, "invalid escape `" + std::string(body.substr(i, len)) + "`", kKnown);
    }
  }
}

class Builder {
 public:
  Builder(Session& s, const OffsetMap& offsets, uint32_t base) : s_(s), offsets_(offsets), base_(base) {}

  void module(P::FileContext* file, ast::Module& out);
  ExprPtr embedded(P::EmbeddedExprContext* ctx, unsigned depth) {
    return expr(ctx ? ctx->expr() : nullptr, depth + 1, ctx ? span(ctx) : s_.span(base_, base_));
  }

 private:
  // ---- spans and text ----
  Span span(const antlr4::Token* t, Span fallback) const {
    if (!real(t)) return fallback;
    uint32_t b = offsets_.byte(t->getStartIndex());
    uint32_t e = t->getType() == kEofToken ? b : offsets_.byte(t->getStopIndex() + 1);
    return s_.span(base_ + b, base_ + std::max(b, e));
  }
  Span span(antlr4::ParserRuleContext* c) const {
    antlr4::Token* start = c->getStart();
    antlr4::Token* stop = c->getStop();
    Span first = span(start, s_.span(base_, base_));
    if (!real(stop) || stop->getTokenIndex() < start->getTokenIndex())
      return s_.span(first.begin, first.begin);
    return Span::cover(first, span(stop, first));
  }
  Span span(antlr4::tree::TerminalNode* n, Span fallback) const {
    return n ? span(n->getSymbol(), fallback) : fallback;
  }
  std::string_view code() const { return s_.sources.file(s_.file).code; }
  std::string_view text(Span sp) const { return code().substr(sp.begin, sp.end - sp.begin); }

  ast::Ident ident(P::NameContext* c) {
    ast::Ident id;
    if (!c || !real(c->IDENT())) {
      if (c) id.span = span(c);
      return id;
    }
    id.span = span(c->IDENT(), span(c));
    id.name = std::string(text(id.span));
    return id;
  }
  ast::Ident field_name(P::FieldNameContext* c) {
    ast::Ident id;
    if (!c) return id;
    id.span = span(c);
    if (c->exception == nullptr && real(c->getStart()) && id.span.end > id.span.begin)
      id.name = std::string(text(id.span));
    return id;
  }

  // A STRING token's decoded value; the span covers the quotes.
  std::string string_value(antlr4::tree::TerminalNode* n, Span* where) {
    Span sp = span(n, Span{});
    if (where) *where = sp;
    if (!real(n)) return "";
    std::string_view raw = text(sp);
    const uint32_t q = quote_width(sp);
    bool closed = !s_.unterminated_strings.count(sp.begin) && raw.size() >= 2 * q;
    std::string_view body = raw.substr(q, raw.size() - (closed ? 2 * q : q));
    return decode_string(s_, body, sp.begin + q);
  }
  uint32_t quote_width(Span sp) const {
    auto it = s_.foreign_quotes.find(sp.begin);
    return it == s_.foreign_quotes.end() ? 1 : it->second;
  }

  ExprPtr make(ExprKind k, Span sp) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->id = s_.next_id();
    e->span = sp;
    e->name_span = sp;
    return e;
  }
  ExprPtr error_expr(Span sp) { return make(ExprKind::Error, sp); }

  // ---- expressions ----
  ExprPtr expr(P::ExprContext* c, unsigned depth, Span fallback);
  ExprPtr primary(P::PrimaryContext* c, unsigned depth, Span fallback);
  ExprPtr binary(ast::Op op, P::ExprContext* lhs, P::ExprContext* rhs, Span sp, unsigned depth);
  ExprPtr record(P::RecordLitContext* c, unsigned depth);
  ExprPtr agg_operand(P::AggOperandContext* c, unsigned depth, Span fallback);
  ExprPtr calendar_window(P::CalendarWindowContext* c, Span fallback);
  ExprPtr int_literal(antlr4::tree::TerminalNode* n, Span sp, bool negated);
  ExprPtr number_literal(antlr4::tree::TerminalNode* n, Span sp);
  ExprPtr time_literal(ExprKind kind, antlr4::tree::TerminalNode* n, Span sp);
  ExprPtr message(antlr4::tree::TerminalNode* n, unsigned depth);

  // ---- types and declarations ----
  ast::TypeExpr type(P::TypeExprContext* c);
  std::vector<ast::FieldDecl> fields(P::FieldDeclsContext* c);
  std::unique_ptr<ast::Decl> decl(P::ItemContext* c);
  std::unique_ptr<ast::Decl> policy(P::PolicyDeclContext* c);
  template <typename Context>
  std::unique_ptr<ast::TableDecl> table_head(Context* c);
  std::unique_ptr<ast::Decl> table(P::TableDeclContext* c);
  std::unique_ptr<ast::Decl> data(P::DataDeclContext* c);
  void data_clause(ast::DataSpec& spec, P::DataClauseContext* clause);
  std::unique_ptr<ast::Decl> def(P::DefDeclContext* c);
  std::unique_ptr<ast::Decl> rule(P::RuleDeclContext* c);
  std::unique_ptr<ast::Decl> example(P::ExampleDeclContext* c);
  std::unique_ptr<ast::Decl> test(P::TestDeclContext* c);
  void duplicate(Span second, Span first, std::string_view what, std::string help);

  template <typename D>
  std::unique_ptr<D> start(antlr4::ParserRuleContext* c) {
    auto d = std::make_unique<D>();
    d->id = s_.next_id();
    d->span = span(c);
    return d;
  }

  Session& s_;
  const OffsetMap& offsets_;
  uint32_t base_;
};

// ---- expressions ---------------------------------------------------------------

ExprPtr Builder::expr(P::ExprContext* c, unsigned depth, Span fallback) {
  if (!c) return error_expr(fallback);
  Span sp = span(c);
  if (depth > s_.limits.max_nesting) {
    // A left-deep chain (`a + a + ...`) is parsed by ANTLR in a loop, so only
    // the tree's depth shows it; stopping here keeps every later recursive
    // pass over the AST within the same bound.
    s_.report_nesting(sp);
    return error_expr(sp);
  }
  if (s_.cancelled) return error_expr(sp);
  const unsigned d = depth + 1;

  if (auto* x = dynamic_cast<P::PrimaryExprContext*>(c)) return primary(x->primary(), depth, sp);
  if (auto* x = dynamic_cast<P::FieldExprContext*>(c)) {
    ast::Ident name = field_name(x->fieldName());
    if (name.name.empty()) return error_expr(sp);
    auto e = make(ExprKind::Field, sp);
    e->children.push_back(expr(x->expr(), d, sp));
    e->text = std::move(name.name);
    e->name_span = name.span;
    return e;
  }
  if (auto* x = dynamic_cast<P::IndexExprContext*>(c)) {
    auto e = make(ExprKind::Index, sp);
    e->children.push_back(expr(x->expr(0), d, sp));
    e->children.push_back(expr(x->expr(1), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::NegExprContext*>(c)) {
    // `-9223372036854775808` is the one int literal whose magnitude alone
    // does not fit: fold the sign into the literal.
    if (auto* pe = dynamic_cast<P::PrimaryExprContext*>(x->expr())) {
      if (auto* lit = dynamic_cast<P::IntLitContext*>(pe->primary())) {
        Span digits = span(lit->INT(), sp);
        std::string_view t = text(digits);
        std::string clean;
        for (char ch : t)
          if (ch != '_') clean += ch;
        if (clean == "9223372036854775808") return int_literal(lit->INT(), sp, true);
      }
    }
    auto e = make(ExprKind::Unary, sp);
    e->op = ast::Op::Neg;
    e->children.push_back(expr(x->expr(), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::NotExprContext*>(c)) {
    auto e = make(ExprKind::Unary, sp);
    e->op = ast::Op::Not;
    e->children.push_back(expr(x->expr(), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::OtherwiseExprContext*>(c)) {
    auto e = make(ExprKind::Otherwise, sp);
    e->children.push_back(expr(x->expr(0), d, sp));
    e->children.push_back(expr(x->expr(1), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::MulExprContext*>(c))
    return binary(x->op && x->op->getType() == P::SLASH ? ast::Op::Div : ast::Op::Mul, x->expr(0), x->expr(1),
                  sp, depth);
  if (auto* x = dynamic_cast<P::AddExprContext*>(c))
    return binary(x->op && x->op->getType() == P::MINUS ? ast::Op::Sub : ast::Op::Add, x->expr(0), x->expr(1),
                  sp, depth);
  if (auto* x = dynamic_cast<P::CmpExprContext*>(c)) {
    ast::Op op = ast::Op::Eq;
    switch (x->op ? x->op->getType() : 0) {
      case P::NE: op = ast::Op::Ne; break;
      case P::LT: op = ast::Op::Lt; break;
      case P::LE: op = ast::Op::Le; break;
      case P::GT: op = ast::Op::Gt; break;
      case P::GE: op = ast::Op::Ge; break;
      default: break;
    }
    return binary(op, x->expr(0), x->expr(1), sp, depth);
  }
  if (auto* x = dynamic_cast<P::AndExprContext*>(c))
    return binary(ast::Op::And, x->expr(0), x->expr(1), sp, depth);
  if (auto* x = dynamic_cast<P::OrExprContext*>(c))
    return binary(ast::Op::Or, x->expr(0), x->expr(1), sp, depth);
  if (auto* x = dynamic_cast<P::IsExprContext*>(c)) {
    if (!real(x->PRESENT()) && !real(x->ABSENT())) return error_expr(sp);
    auto e = make(ExprKind::Is, sp);
    e->present = real(x->PRESENT());
    e->children.push_back(expr(x->expr(), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::InExprContext*>(c)) {
    auto e = make(ExprKind::In, sp);
    e->negated = x->NOT() != nullptr;
    e->children.push_back(expr(x->expr(0), d, sp));
    e->children.push_back(expr(x->expr(1), d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::IfExprContext*>(c)) {
    auto e = make(ExprKind::If, sp);
    for (size_t i = 0; i < 3; ++i) e->children.push_back(expr(x->expr(i), d, sp));
    return e;
  }
  return error_expr(sp);  // a context left empty by error recovery
}

ExprPtr Builder::binary(ast::Op op, P::ExprContext* lhs, P::ExprContext* rhs, Span sp, unsigned depth) {
  auto e = make(ExprKind::Binary, sp);
  e->op = op;
  e->children.push_back(expr(lhs, depth + 1, sp));
  e->children.push_back(expr(rhs, depth + 1, sp));
  return e;
}

ExprPtr Builder::primary(P::PrimaryContext* c, unsigned depth, Span fallback) {
  if (!c) return error_expr(fallback);
  Span sp = span(c);
  const unsigned d = depth + 1;
  if (auto* x = dynamic_cast<P::IntLitContext*>(c)) return int_literal(x->INT(), sp, false);
  if (auto* x = dynamic_cast<P::NumberLitContext*>(c)) return number_literal(x->NUMBER(), sp);
  if (auto* x = dynamic_cast<P::StringLitContext*>(c)) {
    if (!real(x->STRING())) return error_expr(sp);
    auto e = make(ExprKind::String, sp);
    e->text = string_value(x->STRING(), nullptr);
    return e;
  }
  if (auto* x = dynamic_cast<P::BoolLitContext*>(c)) {
    auto e = make(ExprKind::Bool, sp);
    e->bool_value = x->TRUE() != nullptr;
    return e;
  }
  if (auto* x = dynamic_cast<P::DateLitContext*>(c)) return time_literal(ExprKind::Date, x->DATE(), sp);
  if (auto* x = dynamic_cast<P::TimeLitContext*>(c)) return time_literal(ExprKind::Time, x->DATETIME(), sp);
  if (auto* x = dynamic_cast<P::DurationLitContext*>(c))
    return time_literal(ExprKind::Duration, x->DURATION(), sp);
  if (dynamic_cast<P::EventRefContext*>(c)) return make(ExprKind::Event, sp);
  if (auto* x = dynamic_cast<P::NameRefContext*>(c)) {
    ast::Ident id = ident(x->name());
    if (id.name.empty()) return error_expr(sp);
    auto e = make(ExprKind::Name, id.span);
    e->text = std::move(id.name);
    return e;
  }
  if (auto* x = dynamic_cast<P::CallContext*>(c)) {
    ast::Ident id = ident(x->name());
    if (id.name.empty()) return error_expr(sp);
    auto e = make(ExprKind::Call, sp);
    e->text = std::move(id.name);
    e->name_span = id.span;
    if (x->args())
      for (P::ExprContext* a : x->args()->expr()) e->children.push_back(expr(a, d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::AggregateContext*>(c)) {
    ast::Ident id = ident(x->name());
    if (id.name.empty()) return error_expr(sp);
    auto e = make(ExprKind::Aggregate, sp);
    e->text = id.name;
    e->name_span = id.span;
    e->distinct = x->DISTINCT() != nullptr;
    if (x->args()) {
      std::vector<P::ExprContext*> args = x->args()->expr();
      if (args.size() > 1)
        s_.error(
              kAggregateArity, span(x->args()),
              "aggregate `" + id.name + "` takes at most one argument, found " + std::to_string(args.size()))
            .help = "aggregate an expression such as `sum(event.chip_count * event.hours)`";
      if (!args.empty()) {
        e->agg_arg = int(e->children.size());
        e->children.push_back(expr(args[0], d, sp));
      }
    }
    std::vector<P::AggOperandContext*> operands = x->aggOperand();
    size_t next_operand = 0;
    e->agg_window = int(e->children.size());
    if (P::CalendarWindowContext* cw = x->calendarWindow()) {
      e->children.push_back(calendar_window(cw, sp));
      e->calendar_year = true;
    } else {
      e->children.push_back(agg_operand(operands.empty() ? nullptr : operands[next_operand++], d, sp));
    }
    if (x->BY()) {
      e->agg_key = int(e->children.size());
      e->children.push_back(
          agg_operand(operands.size() > next_operand ? operands[next_operand] : nullptr, d, sp));
    }
    if (x->WHERE()) {
      e->agg_filter = int(e->children.size());
      e->children.push_back(expr(x->expr(), d, sp));
    }
    return e;
  }
  if (auto* x = dynamic_cast<P::ParensContext*>(c)) {
    if (!x->expr()) return error_expr(sp);
    ExprPtr inner = expr(x->expr(), depth, sp);
    inner->parenthesized = true;
    return inner;
  }
  if (auto* x = dynamic_cast<P::SetLitContext*>(c)) {
    auto e = make(ExprKind::SetLit, sp);
    for (P::ExprContext* el : x->expr()) e->children.push_back(expr(el, d, sp));
    return e;
  }
  if (auto* x = dynamic_cast<P::RecordLitExprContext*>(c)) return record(x->recordLit(), depth);
  return error_expr(sp);
}

// `event.customer_id`, `t[k]`: a primary and its postfix operators, folded
// left to right into the same Field and Index nodes `expr` builds.
// `over calendar year` stands for a window of 366 days (the longest calendar
// year, which bounds how long the window stage keeps an event) that the
// window stage starts at the event's UTC new year instead.
ExprPtr Builder::calendar_window(P::CalendarWindowContext* c, Span fallback) {
  Span sp = span(c);
  std::vector<P::NameContext*> names = c->name();
  std::string first = names.size() > 0 ? ident(names[0]).name : "";
  std::string second = names.size() > 1 ? ident(names[1]).name : "";
  if (first != "calendar" || second != "year") {
    s_.error(kMalformedWindow, sp, "unknown window `" + first + " " + second + "`").help =
        "write a duration like `30d`, or `calendar year`";
    return error_expr(fallback);
  }
  auto e = make(ExprKind::Duration, sp);
  e->int_value = int64_t{366} * 24 * 3600 * 1'000'000;
  e->text = "calendar year";
  return e;
}

ExprPtr Builder::agg_operand(P::AggOperandContext* c, unsigned depth, Span fallback) {
  if (!c) return error_expr(fallback);
  Span sp = span(c);
  size_t postfix = 0;
  for (antlr4::tree::ParseTree* child : c->children)
    if (antlr4::tree::TerminalNode* t = dynamic_cast<antlr4::tree::TerminalNode*>(child))
      if (t->getSymbol()->getType() == P::DOT || t->getSymbol()->getType() == P::LBRACK) ++postfix;
  if (depth + postfix > s_.limits.max_nesting) {
    s_.report_nesting(sp);
    return error_expr(sp);
  }
  ExprPtr e = primary(c->primary(), unsigned(depth + postfix), sp);
  unsigned level = unsigned(depth + postfix);
  for (size_t i = 0; i < c->children.size(); ++i) {
    auto* t = dynamic_cast<antlr4::tree::TerminalNode*>(c->children[i]);
    if (!t) continue;
    --level;
    if (t->getSymbol()->getType() == P::DOT) {
      auto* f = i + 1 < c->children.size() ? dynamic_cast<P::FieldNameContext*>(c->children[i + 1]) : nullptr;
      ast::Ident name = field_name(f);
      if (name.name.empty()) return error_expr(sp);
      auto field = make(ExprKind::Field, Span::cover(e->span, name.span));
      field->text = std::move(name.name);
      field->name_span = name.span;
      field->children.push_back(std::move(e));
      e = std::move(field);
    } else if (t->getSymbol()->getType() == P::LBRACK) {
      auto* k = i + 1 < c->children.size() ? dynamic_cast<P::ExprContext*>(c->children[i + 1]) : nullptr;
      Span close = i + 2 < c->children.size()
                       ? span(dynamic_cast<antlr4::tree::TerminalNode*>(c->children[i + 2]), sp)
                       : sp;
      auto index = make(ExprKind::Index, Span::cover(e->span, close));
      index->children.push_back(std::move(e));
      index->children.push_back(expr(k, level + 1, sp));
      e = std::move(index);
    }
  }
  return e;
}

ExprPtr Builder::record(P::RecordLitContext* c, unsigned depth) {
  if (!c) return nullptr;
  Span sp = span(c);
  if (depth > s_.limits.max_nesting) {
    s_.report_nesting(sp);
    return error_expr(sp);
  }
  auto e = make(ExprKind::RecordLit, sp);
  if (P::FieldInitsContext* inits = c->fieldInits()) {
    for (P::FieldInitContext* f : inits->fieldInit()) {
      ast::Ident name = field_name(f->fieldName());
      e->fields.push_back(ast::FieldInit{name.span, name.name});
      e->children.push_back(expr(f->expr(), depth + 1, span(f)));
    }
  }
  return e;
}

ExprPtr Builder::int_literal(antlr4::tree::TerminalNode* n, Span sp, bool negated) {
  if (!real(n)) return error_expr(sp);
  Span digits = span(n, sp);
  std::string_view t = text(digits);
  // Accumulate the magnitude as unsigned so that -2^63 is representable.
  uint64_t value = 0;
  const uint64_t limit = negated ? uint64_t(1) << 63 : uint64_t(std::numeric_limits<int64_t>::max());
  bool overflow = false;
  for (char ch : t) {
    if (ch == '_') continue;
    uint64_t digit = uint64_t(ch - '0');
    if (value > (limit - digit) / 10) {
      overflow = true;
      break;
    }
    value = value * 10 + digit;
  }
  if (overflow) {
    s_.error(kIntOutOfRange, digits, "integer literal " + quote_source(t, 40) + " is out of range").help =
        "an `int` holds values up to 9223372036854775807; write a `number` such as `1e20` for larger values";
    return error_expr(sp);
  }
  auto e = make(ExprKind::Int, sp);
  e->int_value = negated ? int64_t(-static_cast<int64_t>(value - 1) - 1) : int64_t(value);
  return e;
}

ExprPtr Builder::number_literal(antlr4::tree::TerminalNode* n, Span sp) {
  if (!real(n)) return error_expr(sp);
  std::string_view t = text(span(n, sp));
  std::string clean;
  for (char ch : t)
    if (ch != '_') clean += ch;
  double value = 0;
  auto [ptr, ec] = std::from_chars(clean.data(), clean.data() + clean.size(), value);
  if (ec == std::errc::result_out_of_range || ptr != clean.data() + clean.size()) {
    s_.error(kNumberOutOfRange, sp, "number literal " + quote_source(t, 40) + " is out of range").help =
        "a `number` is a 64-bit float: its magnitude lies between about 2.2e-308 and 1.8e308, or is 0";
    return error_expr(sp);
  }
  auto e = make(ExprKind::Number, sp);
  e->number_value = value;
  return e;
}

// `2025-03-01T00:00:00`: the lexer's DATETIME_NO_ZONE, passed on as a time.
static bool lacks_zone(std::string_view t) {
  size_t clock = t.find('T');
  return clock != std::string_view::npos && t.back() != 'Z' &&
         t.find_first_of("+-", clock) == std::string_view::npos;
}

ExprPtr Builder::time_literal(ExprKind kind, antlr4::tree::TerminalNode* n, Span sp) {
  if (!real(n)) return error_expr(sp);
  std::string_view t = text(span(n, sp));
  std::optional<int64_t> micros;
  if (kind == ExprKind::Date)
    micros = parse_date(t);
  else if (kind == ExprKind::Time)
    micros = parse_rfc3339(t);
  else
    micros = parse_duration(t);
  if (!micros) {
    if (kind == ExprKind::Duration) {
      s_.error(kBadDuration, sp, "duration " + quote_source(t, 40) + " is out of range").help =
          "durations are limited to about 292,000 years";
    } else {
      if (kind == ExprKind::Time && lacks_zone(t)) {
        s_.error(kBadDateTime, sp, "time " + quote_source(t, 40) + " has no time zone").help =
            "an Edict time is an instant: add `Z` for UTC (`" + std::string(t) + "Z`) or an offset (`" +
            std::string(t) + "+01:00`)";
        return error_expr(sp);
      }
      std::string why = explain_bad_time(t);
      s_.error(kBadDateTime, sp,
               std::string(kind == ExprKind::Date ? "invalid date " : "invalid time ") + quote_source(t, 40) +
                   (why.empty() ? "" : ": " + why));
    }
    return error_expr(sp);
  }
  auto e = make(kind, sp);
  e->text = std::string(t);
  e->int_value = *micros;
  return e;
}

// `"{event.chip_count} x {event.chip}"`: literal text and `{ expr }` pieces,
// each piece parsed on its own with spans pointing into the file.
ExprPtr Builder::message(antlr4::tree::TerminalNode* n, unsigned depth) {
  Span sp = span(n, Span{});
  if (!real(n)) return nullptr;
  auto e = make(ExprKind::Interpolation, sp);
  std::string_view raw = text(sp);
  const uint32_t q = quote_width(sp);
  bool closed = !s_.unterminated_strings.count(sp.begin) && raw.size() >= 2 * q;
  std::string_view body = raw.substr(q, raw.size() - (closed ? 2 * q : q));
  const uint32_t body_at = sp.begin + q;
  if (!closed) {
    // Already reported as unterminated: keep the text, skip the braces.
    e->parts.push_back(ast::MessagePart{decode_string(s_, body, body_at), -1});
    return e;
  }
  std::string pending;
  auto flush = [&] {
    if (!pending.empty()) e->parts.push_back(ast::MessagePart{std::move(pending), -1});
    pending.clear();
  };
  for (size_t i = 0; i < body.size() && !s_.cancelled;) {
    char c = body[i];
    if (c == '\\') {
      i += decode_escape(s_, body, i, body_at, pending);
      continue;
    }
    if (c == '}') {
      s_.error(kBadInterpolation, s_.span(body_at + uint32_t(i), body_at + uint32_t(i + 1)),
               "unmatched `}` in message")
          .help = "write `\\}` for a literal brace";
      ++i;
      continue;
    }
    if (c != '{') {
      pending += c;
      ++i;
      continue;
    }
    // Find the matching `}`; braces of set and record literals nest.
    size_t j = i + 1;
    for (int level = 1; j < body.size(); ++j) {
      if (body[j] == '{')
        ++level;
      else if (body[j] == '}' && --level == 0)
        break;
    }
    if (j >= body.size()) {
      s_.error(kBadInterpolation, s_.span(body_at + uint32_t(i), body_at + uint32_t(i + 1)),
               "unclosed `{` in message")
          .help = "close the expression with `}`, or write `\\{` for a literal brace";
      break;
    }
    std::string_view inner = body.substr(i + 1, j - i - 1);
    Span inner_span = s_.span(body_at + uint32_t(i + 1), body_at + uint32_t(j));
    if (inner.find_first_not_of(" \t") == std::string_view::npos) {
      s_.error(kBadInterpolation, s_.span(body_at + uint32_t(i), body_at + uint32_t(j + 1)),
               "empty `{}` in message")
          .help = "put an expression between the braces, or write `\\{\\}` for literal braces";
    } else {
      flush();
      e->parts.push_back(ast::MessagePart{"", int(e->children.size())});
      e->children.push_back(parse_embedded_expr(s_, inner, inner_span.begin, depth));
    }
    i = j + 1;
  }
  flush();
  return e;
}

// ---- types ------------------------------------------------------------------------

ast::TypeExpr Builder::type(P::TypeExprContext* c) {
  ast::TypeExpr t;
  if (!c) return t;
  t.span = span(c);
  if (auto* x = dynamic_cast<P::NamedTypeContext*>(c)) {
    if (x->SET())
      t.name = "set";
    else
      t.name = ident(x->name()).name;
    if (t.name.empty()) t.name = "?";  // damaged by a syntax error, already reported
    if (x->typeExpr()) t.args.push_back(type(x->typeExpr()));
    t.optional = x->QUESTION() != nullptr;
  } else if (auto* x = dynamic_cast<P::RecordTypeContext*>(c)) {
    t.fields = fields(x->fieldDecls());
    t.optional = x->QUESTION() != nullptr;
  }
  return t;
}

std::vector<ast::FieldDecl> Builder::fields(P::FieldDeclsContext* c) {
  std::vector<ast::FieldDecl> out;
  if (!c) return out;
  for (P::FieldDeclContext* f : c->fieldDecl()) {
    ast::FieldDecl fd;
    fd.span = span(f);
    ast::Ident name = field_name(f->fieldName());
    fd.name = std::move(name.name);
    fd.name_span = name.span;
    fd.type = type(f->typeExpr());
    out.push_back(std::move(fd));
  }
  return out;
}

// ---- declarations --------------------------------------------------------------

void Builder::duplicate(Span second, Span first, std::string_view what, std::string help) {
  Diagnostic& d = s_.error(kDuplicateClause, second, "duplicate " + std::string(what));
  d.labels.push_back(Label{first, "first " + std::string(what) + " here"});
  d.help = std::move(help);
}

void Builder::module(P::FileContext* file, ast::Module& out) {
  if (!file) return;
  std::vector<P::ItemContext*> items = file->item();
  for (size_t i = 0; i < items.size(); ++i) {
    if (s_.cancelled) return;
    std::unique_ptr<ast::Decl> d = decl(items[i]);
    if (!d) continue;
    // A declaration whose header is broken (`when a && b.c` leaves `event
    // .c` behind, read as a declaration of `c`) is kept without its name, so
    // later stages skip it instead of reporting on a name nobody declared.
    if (!d->name.empty() && d->kind != ast::DeclKind::Policy && d->kind != ast::DeclKind::Import &&
        d->kind != ast::DeclKind::Test && s_.syntax_error_between(d->span.begin, d->name_span.end))
      d->name.clear();
    uint32_t next_begin = i + 1 < items.size() ? span(items[i + 1]).begin : UINT32_MAX;
    d->damaged = s_.syntax_error_between(d->span.begin, next_begin);
    if (d->kind == ast::DeclKind::Rule) {
      // A syntax error inside the rule, or between it and the next
      // declaration (`when a and deny "x"` reads `deny` as an operand), is
      // the real problem; a missing effect would only be its echo.
      const auto& r = static_cast<const ast::RuleDecl&>(*d);
      uint32_t next = i + 1 < items.size() ? span(items[i + 1]).begin : UINT32_MAX;
      if (r.effect.name.empty() && !r.name.empty() && !s_.syntax_error_between(r.span.begin, next))
        s_.error(kRuleWithoutEffect, r.name_span, "rule `" + r.name + "` has no effect").help =
            "add an effect and its message, e.g. `deny \"...\"`";
    }
    out.decls.push_back(std::move(d));
  }
  out.has_syntax_errors = !s_.syntax_errors.empty();
}

std::unique_ptr<ast::Decl> Builder::decl(P::ItemContext* c) {
  if (auto* x = c->policyDecl()) return policy(x);
  if (auto* x = c->importDecl()) {
    auto d = start<ast::ImportDecl>(x);
    d->name = string_value(x->STRING(), &d->name_span);
    if (!d->name_span.valid()) d->name_span = d->span;
    return d;
  }
  if (auto* x = c->outcomesDecl()) {
    auto d = start<ast::OutcomesDecl>(x);
    for (P::NameContext* n : x->name()) d->order.push_back(ident(n));
    d->name_span = d->span;
    return d;
  }
  if (auto* x = c->defaultDecl()) {
    auto d = start<ast::DefaultDecl>(x);
    ast::Ident id = ident(x->name());
    d->name = std::move(id.name);
    d->name_span = id.span;
    return d;
  }
  if (auto* x = c->eventDecl()) {
    auto d = start<ast::EventDecl>(x);
    ast::Ident id = ident(x->name());
    d->name = std::move(id.name);
    d->name_span = id.span;
    d->fields = fields(x->fieldDecls());
    return d;
  }
  if (auto* x = c->constDecl()) {
    auto d = start<ast::ConstDecl>(x);
    ast::Ident id = ident(x->name());
    d->name = std::move(id.name);
    d->name_span = id.span;
    if (x->typeExpr()) d->type = std::make_unique<ast::TypeExpr>(type(x->typeExpr()));
    d->value = expr(x->expr(), 1, d->span);
    return d;
  }
  if (auto* x = c->setDecl()) {
    auto d = start<ast::SetDecl>(x);
    ast::Ident id = ident(x->name());
    d->name = std::move(id.name);
    d->name_span = id.span;
    d->element_type = type(x->typeExpr());
    d->value = expr(x->expr(), 1, d->span);
    return d;
  }
  if (auto* x = c->tableDecl()) return table(x);
  if (auto* x = c->dataDecl()) return data(x);
  if (auto* x = c->defDecl()) return def(x);
  if (auto* x = c->ruleDecl()) return rule(x);
  if (auto* x = c->exampleDecl()) return example(x);
  if (auto* x = c->testDecl()) return test(x);
  return nullptr;  // an item that error recovery left empty
}

std::unique_ptr<ast::Decl> Builder::policy(P::PolicyDeclContext* c) {
  auto d = start<ast::PolicyDecl>(c);
  d->name = string_value(c->STRING(), &d->name_span);
  if (!d->name_span.valid()) d->name_span = d->span;
  Span version_at, source_at, status_at;  // clause spans, for duplicates
  for (P::PolicyClauseContext* clause : c->policyClause()) {
    Span at = span(clause);
    if (auto* v = dynamic_cast<P::PolicyVersionContext*>(clause)) {
      if (version_at.valid()) {
        duplicate(at, version_at, "`version`", "a policy has one version");
        continue;
      }
      version_at = at;
      d->version = string_value(v->STRING(), &d->version_span);
    } else if (auto* src = dynamic_cast<P::PolicySourceContext*>(clause)) {
      if (source_at.valid()) {
        duplicate(at, source_at, "`source`", "a policy has one source");
        continue;
      }
      source_at = at;
      d->source = string_value(src->STRING(), &d->source_span);
    } else if (auto* st = dynamic_cast<P::PolicyStatusContext*>(clause)) {
      if (status_at.valid()) {
        duplicate(at, status_at, "`status`", "a policy has one status");
        continue;
      }
      status_at = at;
      ast::Ident id = ident(st->name());
      d->status = std::move(id.name);
      d->status_span = id.span;
    }
  }
  return d;
}

// A `table` or `data` declaration's name and key and value types.
template <typename Context>
std::unique_ptr<ast::TableDecl> Builder::table_head(Context* c) {
  auto d = start<ast::TableDecl>(c);
  ast::Ident id = ident(c->name());
  d->name = std::move(id.name);
  d->name_span = id.span;
  d->key_type = type(c->typeExpr(0));
  d->value_type = type(c->typeExpr(1));
  return d;
}

std::unique_ptr<ast::Decl> Builder::table(P::TableDeclContext* c) {
  auto d = table_head(c);
  if (P::TableRowsContext* rows = c->tableRows()) {
    for (P::TableRowContext* r : rows->tableRow()) {
      if (s_.cancelled) break;
      ast::TableRow row;
      row.span = span(r);
      row.key = expr(r->expr(0), 1, row.span);
      row.value = expr(r->expr(1), 1, row.span);
      d->rows.push_back(std::move(row));
    }
  }
  return d;
}

std::unique_ptr<ast::Decl> Builder::data(P::DataDeclContext* c) {
  auto d = table_head(c);
  d->data = std::make_unique<ast::DataSpec>();
  d->data->file = string_value(c->STRING(), &d->data->file_span);
  for (P::DataClauseContext* clause : c->dataClause()) data_clause(*d->data, clause);
  return d;
}

// `key "id"`, `columns { field: "header" }`, `in force from a until b`: the
// clause words are names in the grammar, so they are checked here.
void Builder::data_clause(ast::DataSpec& spec, P::DataClauseContext* clause) {
  Span at = span(clause);
  auto wrong_word = [&](const ast::Ident& word, const char* expected, const char* example) {
    Diagnostic& diag = s_.error("E0019", word.span,
                                "expected `" + std::string(expected) + "` here, found `" + word.name + "`");
    diag.help = example;
  };
  if (auto* k = dynamic_cast<P::DataKeyClauseContext*>(clause)) {
    ast::Ident word = ident(k->name());
    if (word.name == "ignoring") {
      if (spec.ignoring_span.valid())
        return duplicate(at, spec.ignoring_span, "`ignoring`", "list every word in one `ignoring`");
      spec.ignoring_span = at;
      for (auto* s : k->STRING()) spec.legal_forms.push_back(string_value(s, nullptr));
      return;
    }
    if (word.name != "key")
      return wrong_word(word, "key",
                        "name the file's key column: `key \"id\"` (or legal-form words: `ignoring \"ooo\"`)");
    if (spec.key_span.valid())
      return duplicate(at, spec.key_span, "`key`", "a data source has one key column");
    if (k->STRING().size() > 1) {
      Diagnostic& diag = s_.error("E0019", span(k->STRING(1), at), "a data source has one key column");
      diag.help = "screen several name columns with `screen name, aliases above 0.9`";
    }
    spec.key_span = at;
    spec.key_header = string_value(k->STRING(0), nullptr);
  } else if (auto* sc = dynamic_cast<P::DataScreenClauseContext*>(clause)) {
    ast::Ident word = ident(sc->name(0));
    ast::Ident above = ident(sc->name(1));
    if (word.name != "screen")
      return wrong_word(word, "screen", "screen names with a threshold: `screen name, aliases above 0.9`");
    if (above.name != "above")
      return wrong_word(above, "above", "give the threshold after `above`: `screen name, aliases above 0.9`");
    if (spec.screen_span.valid())
      return duplicate(at, spec.screen_span, "`screen`", "list every name field in one `screen`");
    spec.screen_span = at;
    for (P::FieldNameContext* f : sc->fieldName())
      spec.screen_fields.push_back(ast::Ident{span(f), f->getText()});
    antlr4::tree::TerminalNode* n = sc->NUMBER() ? sc->NUMBER() : sc->INT();
    spec.threshold_text = n->getText();
    spec.threshold_span = span(n, at);
    spec.threshold = std::strtod(spec.threshold_text.c_str(), nullptr);
  } else if (auto* m = dynamic_cast<P::DataColumnsClauseContext*>(clause)) {
    ast::Ident word = ident(m->name());
    if (word.name != "columns")
      return wrong_word(word, "columns",
                        "map fields to the file's columns: `columns { notice: \"fr_notice\" }`");
    if (spec.columns_span.valid())
      return duplicate(at, spec.columns_span, "`columns`", "write every column in one `columns { ... }`");
    spec.columns_span = at;
    if (P::DataColumnsContext* cols = m->dataColumns()) {
      for (P::DataColumnContext* col : cols->dataColumn()) {
        ast::DataSpec::ColumnName name;
        name.field = col->fieldName()->getText();
        name.field_span = span(col->fieldName());
        name.header = string_value(col->STRING(), &name.header_span);
        spec.columns.push_back(std::move(name));
      }
    }
  } else if (auto* f = dynamic_cast<P::DataInForceClauseContext*>(clause)) {
    ast::Ident word = ident(f->name());
    if (word.name != "force")
      return wrong_word(word, "force", "say which fields date a row: `in force from added until removed`");
    if (spec.in_force_span.valid())
      return duplicate(at, spec.in_force_span, "`in force`", "a data source has one `in force` clause");
    spec.in_force_span = at;
    spec.in_force_from = f->fieldName(0)->getText();
    spec.from_span = span(f->fieldName(0));
    if (f->fieldName().size() > 1) {
      spec.in_force_until = f->fieldName(1)->getText();
      spec.until_span = span(f->fieldName(1));
    }
  }
}

std::unique_ptr<ast::Decl> Builder::def(P::DefDeclContext* c) {
  auto d = start<ast::DefDecl>(c);
  ast::Ident id = ident(c->name());
  d->name = std::move(id.name);
  d->name_span = id.span;
  if (P::ParamsContext* params = c->params()) {
    for (P::ParamContext* p : params->param()) {
      ast::Param param;
      param.span = span(p);
      ast::Ident pid = ident(p->name());
      param.name = std::move(pid.name);
      param.name_span = pid.span;
      param.type = type(p->typeExpr());
      d->params.push_back(std::move(param));
    }
  }
  d->result = type(c->typeExpr());
  d->body = expr(c->expr(), 1, d->span);
  return d;
}

std::unique_ptr<ast::Decl> Builder::rule(P::RuleDeclContext* c) {
  using Clause = ast::RuleDecl::Clause;
  auto d = start<ast::RuleDecl>(c);
  ast::Ident id = ident(c->name());
  d->name = std::move(id.name);
  d->name_span = id.span;
  if (P::KindListContext* kinds = c->kindList()) {
    d->on_any = kinds->ANY() != nullptr;
    for (P::NameContext* n : kinds->name()) d->kinds.push_back(ident(n));
  }
  Span first[6];  // first clause of each kind
  const char* kClauseWord[6] = {"`effective`", "`until`", "`cite`", "effect", "`when`", "`unless`"};
  auto seen = [&](Clause::Kind k, Span at) {
    if (first[k].valid()) {
      std::string what = std::string(kClauseWord[k]) + " in rule `" + d->name + "`";
      std::string help;
      switch (k) {
        case Clause::When: help = "combine the conditions with `and`"; break;
        case Clause::Unless: help = "combine the exceptions with `or`"; break;
        case Clause::Effect: help = "a rule has one effect; write a second rule for the other"; break;
        default: help = "a rule has at most one " + std::string(kClauseWord[k]) + " clause"; break;
      }
      duplicate(at, first[k], what, std::move(help));
      return false;
    }
    first[k] = at;
    d->clauses.push_back(Clause{k, at});
    return true;
  };
  // A clause with a syntax error in it (or right at its end: a missing `)`)
  // is kept as an error: what survived of it would draw false type errors.
  auto clause_expr = [&](P::ExprContext* e, Span at) {
    return s_.syntax_error_between(at.begin, at.end + 1) ? error_expr(at) : expr(e, 1, at);
  };
  for (P::RuleClauseContext* clause : c->ruleClause()) {
    if (s_.cancelled) break;
    Span at = span(clause);
    if (auto* x = dynamic_cast<P::EffectiveClauseContext*>(clause)) {
      if (seen(Clause::Effective, at)) d->effective = clause_expr(x->expr(), at);
    } else if (auto* x = dynamic_cast<P::UntilClauseContext*>(clause)) {
      if (seen(Clause::Until, at)) d->until = clause_expr(x->expr(), at);
    } else if (auto* x = dynamic_cast<P::CiteClauseContext*>(clause)) {
      if (seen(Clause::Cite, at)) d->cite = string_value(x->STRING(), &d->cite_span);
    } else if (auto* x = dynamic_cast<P::EffectClauseContext*>(clause)) {
      if (seen(Clause::Effect, at)) {
        d->effect = ident(x->name());
        if (x->STRING()) d->message = message(x->STRING(), 1);
      }
    } else if (auto* x = dynamic_cast<P::WhenClauseContext*>(clause)) {
      if (seen(Clause::When, at)) d->when = clause_expr(x->expr(), at);
    } else if (auto* x = dynamic_cast<P::UnlessClauseContext*>(clause)) {
      if (seen(Clause::Unless, at)) d->unless = clause_expr(x->expr(), at);
    }
  }
  return d;
}

std::unique_ptr<ast::Decl> Builder::example(P::ExampleDeclContext* c) {
  auto d = start<ast::ExampleDecl>(c);
  ast::Ident id = ident(c->name(0));
  d->name = std::move(id.name);
  d->name_span = id.span;
  d->event_kind = ident(c->name(1));
  if (P::EventValueContext* v = c->eventValue()) {
    if (v->name()) d->base = ident(v->name());
    d->value = record(v->recordLit(), 1);
  }
  if (!d->value) d->value = error_expr(d->span);
  return d;
}

std::unique_ptr<ast::Decl> Builder::test(P::TestDeclContext* c) {
  auto d = start<ast::TestDecl>(c);
  d->name = string_value(c->STRING(), &d->name_span);
  if (!d->name_span.valid()) d->name_span = d->span;
  for (P::TestStepContext* st : c->testStep()) {
    if (s_.cancelled) break;
    ast::TestStep step;
    step.span = span(st);
    if (auto* g = dynamic_cast<P::GivenInlineContext*>(st->givenEvent())) {
      step.inline_kind = ident(g->name());
      step.overrides = record(g->recordLit(), 1);
    } else if (auto* g = dynamic_cast<P::GivenExampleContext*>(st->givenEvent())) {
      step.example = ident(g->name());
      step.overrides = record(g->recordLit(), 1);
    }
    for (P::ExpectClauseContext* ex : st->expectClause()) {
      ast::Expectation e;
      e.span = span(ex);
      std::vector<P::NameContext*> names = ex->name();
      if (!names.empty()) e.decision = ident(names[0]);
      for (size_t i = 1; i < names.size(); ++i) e.rules.push_back(ident(names[i]));
      e.only = ex->ONLY() != nullptr;
      step.expects.push_back(std::move(e));
    }
    d->steps.push_back(std::move(step));
  }
  return d;
}

}  // namespace

std::string decode_string(Session& session, std::string_view body, uint32_t base) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size();) {
    if (body[i] == '\\') {
      i += decode_escape(session, body, i, base, out);
    } else {
      out += body[i++];
    }
  }
  return out;
}

void build_module(Session& session, const OffsetMap& offsets, P::FileContext* file, ast::Module& out) {
  Builder(session, offsets, 0).module(file, out);
}

ast::ExprPtr build_embedded(Session& session, const OffsetMap& offsets, uint32_t base,
                            P::EmbeddedExprContext* ctx, unsigned depth) {
  return Builder(session, offsets, base).embedded(ctx, depth);
}

}  // namespace edict::parse::detail
