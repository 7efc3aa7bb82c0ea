// Keeps the language reference honest: every ```edict block of
// docs/language.md must parse and check without errors, every ```edict-error
// block must fail, and the shipped policies must check clean.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/check/check.h"
#include "compiler/parse/parse.h"
#include "compiler/support/diagnostics.h"
#include "compiler/support/source.h"

namespace {

const std::string kSourceDir = EDICT_SOURCE_DIR;

struct DocBlock {
  std::string fence;  // "edict" or "edict-error"
  int line = 0;       // 1-based line of the opening fence in docs/language.md
  std::string code;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Fences are recognised only at the start of a line, as in CommonMark; the
// info string must be exactly `edict` or `edict-error` so that other examples
// (shell, json) are left alone.
std::vector<DocBlock> extract_blocks(const std::string& markdown) {
  std::vector<DocBlock> blocks;
  std::istringstream lines(markdown);
  std::string line;
  int line_no = 0;
  DocBlock* open = nullptr;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (open) {
      if (line.rfind("```", 0) == 0) {
        open = nullptr;
      } else {
        open->code += line;
        open->code += '\n';
      }
      continue;
    }
    if (line == "```edict" || line == "```edict-error") {
      blocks.push_back(DocBlock{line.substr(3), line_no, {}});
      open = &blocks.back();
    }
  }
  return blocks;
}

struct CheckResult {
  size_t errors = 0;
  size_t warnings = 0;
  std::string rendered;  // every diagnostic, for the failure message
};

// Checks `code` as if it were a file inside docs/, so `import "../policies/..."`
// resolves exactly as it would for a reader who copies the block there. The
// block is served from memory; imports come from disk.
CheckResult check_as_docs_file(const std::string& code, int block_line) {
  const std::string virtual_path = kSourceDir + "/docs/language.md.block" + std::to_string(block_line) + ".edict";
  const edict::parse::FileReader disk = edict::parse::disk_reader();
  edict::parse::FileReader reader = [&](const std::string& path, std::string* error) -> std::optional<std::string> {
    if (path == virtual_path) return code;
    return disk(path, error);
  };
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::ast::Program program = edict::parse::load_program({virtual_path}, sources, sink, {}, reader);
  edict::check::check(program, sources, sink);
  return CheckResult{sink.error_count(), sink.warning_count(), edict::render_human(sources, sink.sorted())};
}

CheckResult check_file(const std::string& path) {
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::ast::Program program = edict::parse::load_program({path}, sources, sink);
  edict::check::check(program, sources, sink);
  return CheckResult{sink.error_count(), sink.warning_count(), edict::render_human(sources, sink.sorted())};
}

}  // namespace

TEST_CASE("the fence scanner finds edict and edict-error blocks only", "[docs]") {
  const auto blocks = extract_blocks(
      "text\n```edict\nconst a = 1\n```\n```sh\nedict check\n```\n```edict-error\nconst = \n```\n```edict\n```\n");
  REQUIRE(blocks.size() == 3);
  CHECK(blocks[0].fence == "edict");
  CHECK(blocks[0].line == 2);
  CHECK(blocks[0].code == "const a = 1\n");
  CHECK(blocks[1].fence == "edict-error");
  CHECK(blocks[1].code == "const = \n");
  CHECK(blocks[2].code.empty());
}

TEST_CASE("every edict block of the language reference checks without errors", "[docs]") {
  const std::string markdown = read_text(kSourceDir + "/docs/language.md");
  REQUIRE_FALSE(markdown.empty());
  const auto blocks = extract_blocks(markdown);
  size_t compiled = 0;
  for (const auto& block : blocks) {
    if (block.fence != "edict") continue;
    ++compiled;
    const CheckResult result = check_as_docs_file(block.code, block.line);
    INFO("docs/language.md block at line " << block.line << ":\n" << block.code << "\n" << result.rendered);
    CHECK(result.errors == 0);
  }
  // A broken fence pattern must not make this test pass on nothing.
  CHECK(compiled >= 25);
}

TEST_CASE("every edict-error block of the language reference is rejected", "[docs]") {
  const auto blocks = extract_blocks(read_text(kSourceDir + "/docs/language.md"));
  size_t rejected = 0;
  for (const auto& block : blocks) {
    if (block.fence != "edict-error") continue;
    ++rejected;
    const CheckResult result = check_as_docs_file(block.code, block.line);
    INFO("docs/language.md edict-error block at line " << block.line << " is accepted:\n" << block.code);
    CHECK(result.errors > 0);
  }
  CHECK(rejected >= 3);
}

TEST_CASE("the shipped policies check without errors or warnings", "[docs]") {
  for (const char* file : {"/policies/common/events.edict", "/policies/reference.edict"}) {
    const CheckResult result = check_file(kSourceDir + file);
    INFO(file << ":\n" << result.rendered);
    CHECK(result.errors == 0);
    CHECK(result.warnings == 0);
  }
}
