// The canonical formatter. Layout runs in two passes: the printer turns each
// declaration into output lines, each tagged with the source range it prints;
// then every comment is placed by position against those ranges (trailing on
// the line it follows, or leading before the line it precedes or sits inside).
// format_source re-parses its own output and refuses to return text that
// parses to a different tree or loses a comment.
#include "compiler/fmt/format.h"

#include <algorithm>
#include <vector>

#include "compiler/fmt/printer.h"
#include "compiler/parse/parse.h"

namespace edict::fmt {
namespace {

using namespace detail;  // the printer and its helpers (printer.h)

// The code regions of a literate file: maximal runs of lines where the code
// view equals the markdown (a fence line, or prose, always differs, because
// the code view blanks it). Each holds one fenced block's contents.
struct Region {
  uint32_t begin, end;
  std::string margin;  // the opening fence's indentation
};

std::vector<Region> literate_regions(const SourceFile& f) {
  std::vector<Region> regions;
  const std::string& text = f.text;
  const std::string& code = f.code;
  size_t pos = 0;
  size_t run_begin = 0;
  std::string margin;
  bool in_run = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    bool differs = text.compare(pos, end - pos, code, pos, end - pos) != 0;
    if (differs) {
      if (in_run) regions.push_back({static_cast<uint32_t>(run_begin), static_cast<uint32_t>(pos), margin});
      in_run = false;
      size_t indent = 0;
      while (pos + indent < end && text[pos + indent] == ' ') ++indent;
      margin = text.substr(pos, std::min<size_t>(indent, 3));
    } else if (!in_run) {
      in_run = true;
      run_begin = pos;
    }
    if (nl == std::string::npos) break;
    pos = end;
  }
  if (in_run)
    regions.push_back({static_cast<uint32_t>(run_begin), static_cast<uint32_t>(text.size()), margin});
  return regions;
}

std::string format_parsed(const SourceManager& sources, const ast::Module& module, const Options& options) {
  const SourceFile& f = sources.file(module.file);
  Printer printer(sources, module, options);
  if (!f.literate) return printer.format_region(0, static_cast<uint32_t>(f.text.size()) + 1, "");
  std::string out;
  size_t copied = 0;
  for (const Region& r : literate_regions(f)) {
    auto [first_decl, last_decl] = printer.decls_in(r.begin, r.end);
    auto [first_comment, last_comment] = printer.comments_in(r.begin, r.end);
    if (first_decl == last_decl && first_comment == last_comment) continue;
    out.append(f.text, copied, r.begin - copied);
    out += printer.format_region(r.begin, r.end, r.margin);
    copied = r.end;
  }
  out.append(f.text, copied, std::string::npos);
  return out;
}

bool has_error_node(const ast::Module& m) {
  bool found = false;
  for (const auto& d : m.decls) {
    if (!d) return true;
    ast::for_each_expr(*d, [&](const Expr& e) {
      ast::walk(e, [&](const Expr& x) { found = found || x.kind == ExprKind::Error; });
    });
  }
  return found;
}

// A rule clause written twice: the tree keeps one, so formatting would drop
// the other; the checker reports it, the formatter refuses.
const ast::RuleDecl* rule_with_duplicate_clause(const ast::Module& m) {
  for (const auto& d : m.decls) {
    if (!d || d->kind != ast::DeclKind::Rule) continue;
    const auto& r = static_cast<const ast::RuleDecl&>(*d);
    unsigned seen = 0;
    for (const auto& c : r.clauses) {
      unsigned bit = 1u << c.kind;
      if (seen & bit) return &r;
      seen |= bit;
    }
  }
  return nullptr;
}

// What ast::dump leaves out but the formatter must also keep: the author's
// parentheses. One line per expression node, pre-order.
void fingerprint(const Expr& e, std::string& out) {
  ast::walk(e, [&](const Expr& x) {
    out += std::to_string(static_cast<int>(x.kind)) + " " + std::to_string(static_cast<int>(x.op)) +
           (x.parenthesized ? " (p)" : "") + (x.negated ? " not" : "") + " " +
           std::to_string(x.children.size()) + " " + x.text + "\n";
  });
}

std::string fingerprint(const ast::Module& m) {
  std::string out;
  for (const auto& d : m.decls)
    if (d) ast::for_each_expr(*d, [&](const Expr& e) { fingerprint(e, out); });
  return out;
}

std::vector<std::string> comment_texts(const SourceManager& sources, const ast::Module& m) {
  std::vector<std::string> texts;
  for (const ast::Comment& c : m.comments) {
    std::string_view t = sources.text(c.span);
    texts.emplace_back(c.block ? t : trim(t));
  }
  std::sort(texts.begin(), texts.end());
  return texts;
}

}  // namespace

std::string format_module(const SourceManager& sources, const ast::Module& module, const Options& options) {
  return format_parsed(sources, module, options);
}

std::optional<std::string> format_source(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                                         const Options& options) {
  size_t errors_before = sink.error_count();
  ast::Program program;
  std::unique_ptr<ast::Module> module = parse::parse_module(sources, file, program, sink);
  if (!module || sink.error_count() > errors_before) return std::nullopt;
  if (has_error_node(*module)) {
    sink.error("E0903", Span{file, 0, 0}, "file not formatted: it has a syntax error");
    return std::nullopt;
  }
  if (const ast::RuleDecl* r = rule_with_duplicate_clause(*module)) {
    sink.error("E0902", r->span, "rule `" + r->name + "` has a clause written twice; file not formatted")
        .help = "remove the duplicate clause, then format again";
    return std::nullopt;
  }
  std::string out = format_parsed(sources, *module, options);

  // Never hand back text that means something else: re-parse and compare.
  SourceManager check_sources;
  FileId check_file = check_sources.add(sources.file(file).path, out);
  DiagnosticSink check_sink;
  ast::Program check_program;
  std::unique_ptr<ast::Module> again =
      parse::parse_module(check_sources, check_file, check_program, check_sink);
  const char* problem = nullptr;
  if (!again || check_sink.has_errors())
    problem = "the formatted text does not parse";
  else if (ast::dump(*again, check_sources) != ast::dump(*module, sources) ||
           fingerprint(*again) != fingerprint(*module))
    problem = "the formatted text parses to a different program";
  else if (comment_texts(check_sources, *again) != comment_texts(sources, *module))
    problem = "the formatted text lost or duplicated a comment";
  if (problem) {
    sink.error("E0901", Span{file, 0, 0}, std::string("internal formatter error: ") + problem).help =
        "the file was left unchanged; please report this with the file attached";
    return std::nullopt;
  }
  return out;
}

}  // namespace edict::fmt
