"""ASHEM (PAPER_SPEC 5.3), its fair baselines, and progressive layer training (5.1).

ASHEM in four stages, each a separate command so a workflow can cache and share them:
1. phase 1: a shallow model (ashem.phase1_layers, loss on its last layer) with early stopping;
2. mine: confidence of its last exit over every token of ashem.mine_split; threshold =
   torch.quantile(confidence, hard_ratio) (linear interpolation); hard = confidence < threshold
   (strict). Stored per hard token: its exit state h (the phase-1 model's last block output, computed
   with causal context inside its row), target, confidence and (row, position) in the split. With a
   separate report split (corrected protocol) the same threshold marks held-out hard tokens there;
3. phase 2: a deeper model (ashem.phase2_layers) copies embedding, blocks 1..phase1_layers and the
   shared head; the copied part is frozen (freeze=hard; head trainable or frozen) or trained with
   per-layer LR scales (freeze=soft). Trained on the hard tokens only, loss at the last layer: each
   hard token a length-1 sequence (phase2_context=token, the original) or its own row as causal
   context (full). Early stopping on the routed validation PPL at the mined threshold;
4. evaluate: two-stage routed evaluation on ashem.report_split (exit at phase1_layers when the
   confidence, recomputed with the current head, is >= threshold), Hard PPL, threshold calibration,
   and skip-mode inference (lash.early_exit) with its counted and measured speed-up.

Conventions: "Hard PPL" = exp(mean CE) of the deep path (deep layers in the phase-2 training context,
then the head) on the hard tokens; in `original` those are the mined validation tokens (= the phase-2
training tokens), in `corrected` the held-out hard tokens of the test split. Training compute counts
forward+backward as 3x forward FLOPs (heads included) of every training step and of the mining pass;
per-epoch evaluation is not counted.

Modules: common (config and data helpers), stage_files (signatures, stage checkpoint I/O), phase1,
mine, hard_inputs, phase2, evaluation (routed evaluation, calibration, timed inference), baselines,
progressive, payload (the results JSON).
"""

from .baselines import run_baseline
from .common import load_data, load_model
from .evaluation import run_evaluate
from .mine import exit_states, hard_mask, quantile_threshold, run_mine
from .payload import payload
from .phase1 import run_phase1
from .phase2 import configure_phase2, grow_model, run_phase2
from .progressive import run_progressive
from .stage_files import load_checkpoint, save_checkpoint

__all__ = ["configure_phase2", "exit_states", "grow_model", "hard_mask", "load_checkpoint", "load_data",
           "load_model", "payload", "quantile_threshold", "run_baseline", "run_evaluate", "run_mine",
           "run_phase1", "run_phase2", "run_progressive", "save_checkpoint"]
