#!/usr/bin/env bash
# Edict's main job on the shipped policies: set up, build, check every policy,
# then screen a generated sample of 100,000 rental and provisioning events
# with the reference policy and with the shipped policy library (the law as
# enforced), show the decisions and the summaries, and what the hypothetical
# policies (Remote Access Security Act, headquarters test for rentals) would
# change with `edict diff`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
edict=./build/cli/edict
echo "== edict check policies/"
$edict check policies/
echo
sample=build/sample-events.jsonl
if [ ! -s "$sample" ]; then
  python3 bench/gen_events.py -n 100000 --seed 7 > "$sample"
fi
echo "== edict eval policies/reference.edict $sample -o build/decisions.jsonl"
$edict eval policies/reference.edict "$sample" -o build/decisions.jsonl
echo
echo "== the first decisions that are not \`allow\` (of build/decisions.jsonl):"
grep -m 3 -v '"decision":"allow"' build/decisions.jsonl
echo
echo "== the shipped policy library, the law as enforced at each event's time:"
echo "== edict eval policies/law_as_enforced.edict.md $sample -o build/library-decisions.jsonl"
$edict eval policies/law_as_enforced.edict.md "$sample" -o build/library-decisions.jsonl
echo
echo "== the first library decisions that require a license:"
grep -m 3 '"decision":"license' build/library-decisions.jsonl
echo
echo "== a customer name screened against the Entity List (policies/lists/entity_list.csv), with the entry and its notice:"
grep -m 1 '"name":"entity_list_customer_name"' build/library-decisions.jsonl
echo
echo "== what the hypothetical policies would change on the same sample (edict diff):"
for whatif in policies/whatif/remote_access_security_act.edict.md policies/whatif/hq_test_for_rentals.edict.md; do
  echo "== edict diff policies/law_as_enforced.edict.md $whatif $sample"
  # Exit 1 means "decisions change", which is the point here.
  $edict diff --examples 2 policies/law_as_enforced.edict.md "$whatif" "$sample" || [ $? -eq 1 ]
  echo
done
echo "== what the Remote Access Security Act could change on any rental, symbolically (edict diff --symbolic):"
# Every outcome transition with a witness event both engines confirm (exit 1: some exist).
$edict diff --symbolic --assume 'on rental' policies/law_as_enforced.edict.md \
  policies/whatif/remote_access_security_act.edict.md || [ $? -eq 1 ]
echo
