// IR-to-IR passes that lowering runs on top of its own cleanups, kept out of
// lower.cpp because they are optimisations rather than translation. Internal
// to compiler/ir: engines only ever see their result.
#pragma once

#include "compiler/ir/ir.h"

namespace edict::ir {

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
