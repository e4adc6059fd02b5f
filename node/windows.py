"""A round's windows as the node uses them: the margins its roles keep inside each window.

Kept apart from the roles (and free of torch, trio and web3) so that sizing a task's windows
(``loraswarm task create``) reads the same numbers the node waits by.
"""

from __future__ import annotations

# Calls are estimated against the latest block, whose timestamp lags the clock by up to one block
# interval: a time-windowed call waits this long past its window's opening.
WINDOW_MARGIN_S = 2.0
# Training stops this long before the commit window closes, to encode and send the commit in it.
TRAIN_MARGIN_S = 8.0
# Validators start judging a moment after the reveal window closes, so that reveals gossiped at its
# very end have arrived everywhere.
JUDGE_GRACE_S = 2.0
# How long past a round's reveal window a chain without a later block is taken to have none coming.
PIN_GRACE_S = 5.0
