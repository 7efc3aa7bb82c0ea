// IR-to-IR passes: the optimisations lowering runs after translating a
// function (passes.cpp) and the string-region collapse it runs after every
// function is lowered (collapse.cpp). Kept out of lower.cpp because they are
// optimisations rather than translation. Internal to compiler/ir: engines
// only ever see their result. Every pass keeps the IR well formed and never
// reorders an instruction that may fault (see SIMPLIFICATIONS in ir.h).
#pragma once

#include "compiler/ir/ir.h"

namespace edict::ir {

// What lowering runs on each function it builds, not tracing: the passes
// below in the order that lets each one feed the next (CFG cleanup, common
// subexpressions, proven checks, dead code, CFG cleanup again, compaction).
void optimise_function(const Module& m, Function& f);

// Threads jumps through blocks that only jump, folds branches whose targets
// agree, merges straight-line blocks, drops unreachable blocks and numbers the
// rest in reverse postorder (true sides first), so the text reads top-down.
// Keeps every register: the only pass a traced function gets.
void simplify_cfg(Function& f);

// Reuses a pure instruction's earlier, dominating twin: same opcode,
// immediates and operands, where every register involved is assigned once.
// Checked instructions qualify too: the twin that ran first either faulted
// (and the function ended) or produced the same value.
void eliminate_common_subexpressions(Function& f);

// Checked loads whose presence the dataflow (presence_facts) proves become
// plain loads.
void elide_proven_checks(const Module& m, Function& f);

// Drops instructions whose result nobody reads, unless they may fault.
void eliminate_dead_code(Function& f);

// Numbers registers densely in order of first definition.
void compact_registers(Function& f);

// Collapses every branch region of `f` whose values all derive from one
// string register and constants (table lookups, cells, arithmetic and
// comparisons over them; `advanced(event.chip)` is the typical case) into a
// single `set.contains` over a synthetic string set, computed by evaluating
// the region at compile time for every pool string and for one string
// outside the pool (all such strings behave alike: no key, member or
// constant equals them). Regions that could fault on some string, or that
// need the strings' bytes (builtins, ordering), are left alone. Both engines
// then run the same, smaller IR. Not for trace lowering: the region's
// registers disappear. Returns whether it changed `f`; the caller then
// removes the dead code and blocks left behind.
bool collapse_string_tests(Module& m, Function& f);

}  // namespace edict::ir
