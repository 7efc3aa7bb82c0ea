// See keyword_typos.h. A single pass over the default-channel tokens that
// tracks just enough context (the declaration being read, bracket depth,
// line starts) to know where a keyword is legal and a name is not.
#include "compiler/parse/keyword_typos.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "EdictLexer.h"
#include "support/diagnostics.h"

namespace edict::parse::detail {
namespace {

using L = edict_antlr::EdictLexer;

struct Candidate {
  size_t type;
  const char* word;
};

bool one_of(size_t type, std::initializer_list<size_t> types) {
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool is_declaration_keyword(size_t t) {
  return one_of(t, {L::POLICY, L::IMPORT, L::OUTCOMES, L::DEFAULT, L::EVENT, L::CONST, L::SET, L::TABLE,
                    L::DATA, L::DEF, L::RULE, L::EXAMPLE, L::TEST});
}

bool is_clause_keyword(size_t t) {
  return one_of(t, {L::EFFECTIVE, L::UNTIL, L::CITE, L::WHEN, L::UNLESS});
}

bool ends_operand(size_t t) {
  return one_of(t, {L::IDENT, L::INT, L::NUMBER, L::STRING, L::DATE, L::DATETIME, L::DURATION, L::RPAREN,
                    L::RBRACK, L::RBRACE, L::TRUE, L::FALSE, L::PRESENT, L::ABSENT});
}

bool starts_operand(size_t t) {
  return one_of(t, {L::IDENT, L::INT, L::NUMBER, L::STRING, L::DATE, L::DATETIME, L::DURATION, L::EVENT,
                    L::LPAREN, L::LBRACE, L::NOT, L::MINUS, L::TRUE, L::FALSE, L::IF});
}

// The keyword among `candidates` that `word` is a plausible typo of.
size_t closest_keyword(const std::string& word, std::initializer_list<Candidate> candidates) {
  std::vector<std::string> words;
  for (const Candidate& c : candidates) words.emplace_back(c.word);
  std::string best = closest_match(word, words);
  if (best.empty() || word.size() < 2) return 0;
  for (const Candidate& c : candidates)
    if (best == c.word) return c.type;
  return 0;
}

class Scanner {
 public:
  explicit Scanner(std::vector<antlr4::Token*> tokens) : t_(std::move(tokens)) {}

  std::vector<KeywordTypo> run() {
    for (i_ = 0; i_ < t_.size(); ++i_) {
      antlr4::Token* tok = t_[i_];
      size_t type = tok->getType();
      if (type == L::IDENT) {
        if (size_t kw = classify()) {
          typos_.push_back({tok, kw});
          type = kw;
        }
      } else if (type == L::ASSIGN && in_condition_ && depth_ == 0) {
        typos_.push_back({tok, L::EQ});  // `when event.customer_hq = "RU"`
        type = L::EQ;
      }
      track(type);
    }
    return std::move(typos_);
  }

 private:
  bool first_on_line(size_t i) const { return i == 0 || t_[i - 1]->getLine() != t_[i]->getLine(); }
  size_t type_at(size_t i) const { return i < t_.size() ? t_[i]->getType() : size_t(antlr4::Token::EOF); }
  bool next_on_same_line() const {
    return i_ + 1 < t_.size() && t_[i_ + 1]->getType() != antlr4::Token::EOF &&
           t_[i_ + 1]->getLine() == t_[i_]->getLine();
  }
  size_t prev_type() const { return i_ > 0 ? t_[i_ - 1]->getType() : 0; }

  // The keyword the current IDENT stands for, or 0.
  size_t classify() const {
    const std::string word = t_[i_]->getText();
    const size_t next = type_at(i_ + 1);
    const bool line_start = first_on_line(i_);
    if (prev_type() == L::IS && (next == antlr4::Token::EOF || !starts_operand(next) || !next_on_same_line()))
      return closest_keyword(word, {{L::PRESENT, "present"}, {L::ABSENT, "absent"}});
    if (!next_on_same_line()) return 0;
    if (line_start && t_[i_]->getCharPositionInLine() == 0 && depth_ == 0) {
      if (next == L::IDENT)
        return closest_keyword(word, {{L::RULE, "rule"},
                                      {L::CONST, "const"},
                                      {L::SET, "set"},
                                      {L::EVENT, "event"},
                                      {L::TABLE, "table"},
                                      {L::DATA, "data"},
                                      {L::DEF, "def"},
                                      {L::EXAMPLE, "example"},
                                      {L::OUTCOMES, "outcomes"},
                                      {L::DEFAULT, "default"}});
      if (next == L::STRING)
        return closest_keyword(word, {{L::POLICY, "policy"}, {L::IMPORT, "import"}, {L::TEST, "test"}});
    }
    if (line_start && depth_ == 0 && decl_ == L::RULE && ends_operand(prev_type())) {
      if (next == L::STRING) return closest_keyword(word, {{L::CITE, "cite"}});
      if (!is_clause_keyword(next))
        return closest_keyword(
            word,
            {{L::EFFECTIVE, "effective"}, {L::UNTIL, "until"}, {L::WHEN, "when"}, {L::UNLESS, "unless"}});
    }
    if (line_start && depth_ == 0 && decl_ == L::POLICY)
      return next == L::STRING ? closest_keyword(word, {{L::VERSION, "version"}, {L::SOURCE, "source"}})
                               : closest_keyword(word, {{L::STATUS, "status"}});
    if (line_start && depth_ == 1 && decl_ == L::TEST &&
        !one_of(prev_type(), {L::COMMA, L::BY, L::ONLY, L::EXPECT, L::GIVEN, L::WITH}))
      return closest_keyword(word, {{L::GIVEN, "given"}, {L::EXPECT, "expect"}});
    return operator_typo(word, line_start);
  }

  // `a adn b`, `x ni S`, `base wiht { ... }`, `rule r no rental`.
  size_t operator_typo(const std::string& word, bool line_start) const {
    const size_t next = type_at(i_ + 1);
    if (line_start || decl_ == L::DATA || !ends_operand(prev_type()) || !starts_operand(next)) return 0;
    if (decl_ == L::RULE && i_ >= 2 && t_[i_ - 2]->getType() == L::RULE)
      return closest_keyword(word, {{L::ON, "on"}});
    if (next == L::LBRACE) return closest_keyword(word, {{L::WITH, "with"}});
    return closest_keyword(word, {{L::AND, "and"},
                                  {L::OR, "or"},
                                  {L::IN, "in"},
                                  {L::THEN, "then"},
                                  {L::ELSE, "else"},
                                  {L::OTHERWISE, "otherwise"}});
  }

  void track(size_t type) {
    if (type == L::WHEN || type == L::UNLESS) in_condition_ = decl_ == L::RULE;
    if (is_clause_keyword(type) && type != L::WHEN && type != L::UNLESS) in_condition_ = false;
    if (type == L::LPAREN || type == L::LBRACK || type == L::LBRACE) ++depth_;
    if ((type == L::RPAREN || type == L::RBRACK || type == L::RBRACE) && depth_ > 0) --depth_;
    bool starts_decl = is_declaration_keyword(type) && first_on_line(i_) && type_at(i_ + 1) != L::DOT &&
                       (t_[i_]->getCharPositionInLine() == 0 || depth_ == 0);
    if (starts_decl) {
      decl_ = type;
      depth_ = 0;
      in_condition_ = false;
    }
  }

  std::vector<antlr4::Token*> t_;
  size_t i_ = 0;
  size_t decl_ = 0;            // the keyword of the declaration being read
  int depth_ = 0;              // brackets open in it
  bool in_condition_ = false;  // in a rule's `when` or `unless`
  std::vector<KeywordTypo> typos_;
};

}  // namespace

std::vector<KeywordTypo> find_keyword_typos(const std::vector<antlr4::Token*>& tokens) {
  std::vector<antlr4::Token*> visible;
  visible.reserve(tokens.size());
  for (antlr4::Token* t : tokens)
    if (t->getChannel() == antlr4::Token::DEFAULT_CHANNEL) visible.push_back(t);
  return Scanner(std::move(visible)).run();
}

}  // namespace edict::parse::detail
